//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Two secrets for a rotation, each long enough for HS256.
const (
	oldJWTSecret = "e2e-old-secret-that-is-long-enough-for-hs256"
	newJWTSecret = "e2e-new-secret-that-is-long-enough-for-hs256"
)

// 11. Scoped tokens and a secret rotation, on one install to spare CI an
// install. The jwt-gen Job mints a token for reading bucket cfg: it
// reads cfg and gets 403 on a write and on another bucket. Then the
// secret is rotated as the README says: a token of the old secret keeps
// working through the first upgrade's rollout, with no request answered
// by anything but success, a token of the new secret works, and once the
// previous secret is dropped the old token gets 401.
func TestScopedTokensAndRotation(t *testing.T) {
	scoped := map[string]any{"scope": "read", "buckets": []any{"cfg"}}
	d := deploy(t, "rotation", map[string]any{
		"auth":   map[string]any{"jwtSecret": oldJWTSecret},
		"jwtGen": scoped,
	})
	old := kv{base: d.fwd.URL, token: mintLocally(t, oldJWTSecret)}
	old.must(t, http.MethodPut, "cfg", "k", "v1", http.StatusCreated)
	old.must(t, http.MethodPut, "other", "k", "v2", http.StatusCreated)

	step(t, "the Job's token, scope read on bucket cfg")
	if got := d.api.must(t, http.MethodGet, "cfg", "k", "", http.StatusOK); got != "v1" {
		t.Errorf("GET cfg/k with the scoped token = %q", got)
	}
	d.api.must(t, http.MethodPut, "cfg", "k", "x", http.StatusForbidden)
	d.api.must(t, http.MethodDelete, "cfg", "k", "", http.StatusForbidden)
	d.api.must(t, http.MethodGet, "other", "k", "", http.StatusForbidden)

	step(t, "rotation: the new secret signs, the old one still verifies")
	ctx := context.Background()
	pod, err := env.client.CoreV1().Pods(d.ns).Get(ctx, "gokv-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		failed   []string
		ok       atomic.Int64
		connErrs atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	deadline := time.Now().Add(6 * time.Minute) // bounds the loop whatever happens
	wg.Go(func() {
		for i := 0; time.Now().Before(deadline); i++ {
			select {
			case <-stop:
				return
			default:
			}
			method, body := http.MethodGet, ""
			if i%2 == 1 {
				method, body = http.MethodPut, fmt.Sprint("v-", i)
			}
			status, resp, err := old.do(method, "cfg", "k", body)
			switch {
			case err != nil:
				// No pod is ready for a moment while the only one rolls:
				// no HTTP answer, so no answer that the token was refused.
				connErrs.Add(1)
				rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				d.fwd.reconnectFrom(rctx, d.fwd.URL())
				cancel()
			case status/100 != 2:
				mu.Lock()
				failed = append(failed, fmt.Sprintf("%s cfg/k: %d %s", method, status, resp))
				mu.Unlock()
			default:
				ok.Add(1)
			}
		}
	})
	if _, err := d.helm.upgrade(map[string]any{
		"auth":   map[string]any{"jwtSecret": newJWTSecret, "previousJwtSecret": oldJWTSecret},
		"jwtGen": scoped,
	}); err != nil {
		close(stop)
		wg.Wait()
		t.Fatalf("helm upgrade: %v", err)
	}
	waitNewPodReady(t, d.ns, "gokv-0", pod.UID)
	waitStatefulSetReady(t, d.ns, releaseName)
	before := ok.Load()
	waitFor(t, "requests with the old token after the rollout", 2*time.Minute, func(context.Context) (bool, error) {
		return ok.Load() >= before+20, nil
	})
	close(stop)
	wg.Wait()
	step(t, "old token during the rollout: %d answered with success, %d refused or failed, %d connection errors",
		ok.Load(), len(failed), connErrs.Load())
	for _, f := range failed {
		t.Errorf("request with the old token during the rotation: %s", f)
	}

	reconnect(t, d.fwd)
	fresh := kv{base: d.fwd.URL, token: tokenFromJob(t, d.ns, jobName(releaseName, 2))}
	fresh.must(t, http.MethodGet, "cfg", "k", "", http.StatusOK)
	fresh.must(t, http.MethodGet, "other", "k", "", http.StatusForbidden)
	current := kv{base: d.fwd.URL, token: mintLocally(t, newJWTSecret)}
	current.must(t, http.MethodPut, "cfg", "k", "new", http.StatusNoContent)
	old.must(t, http.MethodGet, "cfg", "k", "", http.StatusOK)

	step(t, "rotation done: the previous secret is dropped")
	pod, err = env.client.CoreV1().Pods(d.ns).Get(ctx, "gokv-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.helm.upgrade(map[string]any{
		"auth":   map[string]any{"jwtSecret": newJWTSecret},
		"jwtGen": scoped,
	}); err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
	waitNewPodReady(t, d.ns, "gokv-0", pod.UID)
	waitStatefulSetReady(t, d.ns, releaseName)
	reconnect(t, d.fwd)
	old.must(t, http.MethodGet, "cfg", "k", "", http.StatusUnauthorized)
	if got := current.must(t, http.MethodGet, "cfg", "k", "", http.StatusOK); got != "new" {
		t.Errorf("GET cfg/k after the rotation = %q, want new", got)
	}
	fresh.must(t, http.MethodGet, "cfg", "k", "", http.StatusOK)
}
