//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// releaseName is the release every test installs (each in its own
// namespace), so the objects are gokv, gokv-0, data-gokv-0 as users see.
const releaseName = "gokv"

// jwtPattern matches one compact JWS: three base64url parts.
var jwtPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`)

// deployment is a release installed for one test.
type deployment struct {
	ns    string
	helm  *helm
	fwd   *forward
	token string
	api   kv
}

// deploy installs the chart in a new namespace with values and waits for
// it, the jwt-gen Job (when enabled) and a port-forward to the Service.
func deploy(t *testing.T, prefix string, values map[string]any) *deployment {
	t.Helper()
	d := &deployment{ns: newNamespace(t, prefix)}
	d.helm = newHelm(t, d.ns, releaseName)
	d.helm.install(values)
	waitStatefulSetReady(t, d.ns, releaseName)
	if jwtGenEnabled(values) {
		d.token = tokenFromJob(t, d.ns, jobName(releaseName, 1))
	}
	d.fwd = forwardService(t, d.ns, releaseName)
	d.api = kv{base: d.fwd.URL, token: d.token}
	return d
}

func jwtGenEnabled(values map[string]any) bool {
	j, ok := values["jwtGen"].(map[string]any)
	return !ok || j["enabled"] != false
}

// tokenFromJob waits for the jwt-gen Job and returns the one token its log
// must hold.
func tokenFromJob(t *testing.T, ns, job string) string {
	t.Helper()
	log := waitJobComplete(t, ns, job)
	token, ok := strings.CutSuffix(log, "\n")
	if !ok || !jwtPattern.MatchString(token) {
		t.Fatalf("Job %s's log is not one token and a newline: %q", job, log)
	}
	step(t, "token from Job %s", job)
	return token
}

// mintLocally runs this repository's jwt-gen with the secret in its
// environment, as a user does after reading the Secret.
func mintLocally(t *testing.T, secret string) string {
	t.Helper()
	cmd := exec.Command(env.jwtGen, "--expires-in", "10m", "--subject", "e2e")
	cmd.Env = append(os.Environ(), "JWT_SECRET="+secret)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("jwt-gen: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// writeKeys writes n keys concurrently and returns key → value.
func writeKeys(t *testing.T, api kv, bucket string, n int) map[string]string {
	t.Helper()
	written := make(map[string]string, n)
	for i := range n {
		written[fmt.Sprintf("key-%04d", i)] = fmt.Sprintf("value-%04d-%d", i, time.Now().UnixNano())
	}
	var wg sync.WaitGroup
	keys := make(chan string)
	for range 8 {
		wg.Go(func() {
			for k := range keys {
				if status, body, err := api.do(http.MethodPut, bucket, k, written[k]); err != nil || status != http.StatusCreated {
					t.Errorf("PUT %s: %d %q %v", k, status, body, err)
				}
			}
		})
	}
	for k := range written {
		keys <- k
	}
	close(keys)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	step(t, "wrote %d keys", n)
	return written
}

// readKeys checks that every key holds its value.
func readKeys(t *testing.T, api kv, bucket string, want map[string]string) {
	t.Helper()
	var missing int
	for k, v := range want {
		status, got, err := api.do(http.MethodGet, bucket, k, "")
		if err != nil || status != http.StatusOK || got != v {
			missing++
			if missing <= 5 {
				t.Errorf("GET %s: %d %q %v, want %q", k, status, got, err, v)
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d keys are missing or wrong", missing, len(want))
	}
	step(t, "read back all %d keys", len(want))
}

// 1. helm install with default values becomes Ready: StatefulSet ready,
// PVC bound through the default StorageClass, probes passing.
func TestInstallWithDefaults(t *testing.T) {
	t.Parallel()
	d := deploy(t, "install", nil)
	ctx := context.Background()

	pvc, err := env.client.CoreV1().PersistentVolumeClaims(d.ns).Get(ctx, "data-gokv-0", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("PVC data-gokv-0: %v", err)
	}
	if pvc.Status.Phase != corev1.ClaimBound {
		t.Errorf("PVC data-gokv-0 is %s, want Bound", pvc.Status.Phase)
	}
	if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != defaultStorageClass(t) {
		t.Errorf("PVC data-gokv-0 has StorageClass %v, want the default %s", pvc.Spec.StorageClassName, defaultStorageClass(t))
	}

	pod, err := env.client.CoreV1().Pods(d.ns).Get(ctx, "gokv-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !isReady(pod) {
		t.Error("pod gokv-0 is not Ready")
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.RestartCount != 0 || cs.Started == nil || !*cs.Started {
			t.Errorf("container %s: restarts %d, started %v; the probes should pass first time", cs.Name, cs.RestartCount, cs.Started)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := client.Get(d.fwd.URL() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
	}
}

func defaultStorageClass(t *testing.T) string {
	t.Helper()
	classes, err := env.client.StorageV1().StorageClasses().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range classes.Items {
		if isDefaultClass(sc) {
			return sc.Name
		}
	}
	t.Fatal("the cluster has no default StorageClass")
	return ""
}

func isDefaultClass(sc storagev1.StorageClass) bool {
	return sc.Annotations["storageclass.kubernetes.io/is-default-class"] == "true"
}

// 2. The jwt-gen Job's token works through a port-forward to the Service;
// no token gets 401; a token minted locally from the Secret works too.
//
// Metrics, scraped through a port-forward to the Service's metrics port
// without a token, count those requests and refusals.
func TestTokensThroughPortForward(t *testing.T) {
	t.Parallel()
	d := deploy(t, "tokens", nil)
	metrics := forwardServicePort(t, d.ns, releaseName, "metrics")
	series := []string{
		`gokv_http_requests_total{code="200",method="GET",route="/:bucket/*key"}`,
		`gokv_auth_refusals_total{reason="missing"}`,
		`gokv_auth_refusals_total{reason="bad_signature"}`,
		`gokv_store_keys_written_total`,
	}
	before := map[string]float64{}
	for _, s := range series {
		before[s] = scrape(t, metrics.URL(), s)
	}

	d.api.must(t, http.MethodPost, "cfg", "app/db/url", "postgres://db:5432/app", http.StatusCreated)
	if got := d.api.must(t, http.MethodGet, "cfg", "app/db/url", "", http.StatusOK); got != "postgres://db:5432/app" {
		t.Errorf("GET = %q", got)
	}
	d.api.must(t, http.MethodDelete, "cfg", "app/db/url", "", http.StatusNoContent)
	d.api.must(t, http.MethodGet, "cfg", "app/db/url", "", http.StatusNotFound)

	anonymous := kv{base: d.fwd.URL}
	anonymous.must(t, http.MethodPut, "cfg", "k", "v", http.StatusUnauthorized)

	secret := secretValue(t, d.ns, releaseName, "jwt-secret")
	local := kv{base: d.fwd.URL, token: mintLocally(t, secret)}
	local.must(t, http.MethodPut, "cfg", "local", "minted here", http.StatusCreated)
	if got := d.api.must(t, http.MethodGet, "cfg", "local", "", http.StatusOK); got != "minted here" {
		t.Errorf("GET with the Job's token of a value written with the local token = %q", got)
	}

	forged := kv{base: d.fwd.URL, token: mintLocally(t, "a-different-secret-of-at-least-32-bytes")}
	forged.must(t, http.MethodGet, "cfg", "local", "", http.StatusUnauthorized)

	// At least: two GETs of 200, one request without a token, one
	// forged, two keys written (the probes add GETs of other routes).
	for s, want := range map[string]float64{series[0]: 2, series[1]: 1, series[2]: 1, series[3]: 2} {
		if got := scrape(t, metrics.URL(), s) - before[s]; got < want {
			t.Errorf("%s moved by %v after the requests, want at least %v", s, got, want)
		}
	}
}

// 3. 1,000 keys survive the deletion of pod gokv-0.
func TestDataSurvivesPodDeletion(t *testing.T) {
	t.Parallel()
	d := deploy(t, "persist", nil)
	written := writeKeys(t, d.api, "persist", 1000)

	ctx := context.Background()
	old, err := env.client.CoreV1().Pods(d.ns).Get(ctx, "gokv-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	step(t, "deleting pod gokv-0")
	if err := env.client.CoreV1().Pods(d.ns).Delete(ctx, "gokv-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitNewPodReady(t, d.ns, "gokv-0", old.UID)
	reconnect(t, d.fwd)
	readKeys(t, d.api, "persist", written)
}

// waitNewPodReady waits for a pod of that name other than oldUID to be
// ready.
func waitNewPodReady(t *testing.T, ns, name string, oldUID types.UID) {
	t.Helper()
	waitFor(t, "a new "+name+" to be ready", 5*time.Minute, func(ctx context.Context) (bool, error) {
		p, err := env.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return p.UID != oldUID && isReady(p), nil
	})
	step(t, "new pod %s ready", name)
}

func reconnect(t *testing.T, f *forward) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := f.Reconnect(ctx); err != nil {
		t.Fatal(err)
	}
}

// 4. A rollout under continuous writes: every acknowledged write is there
// afterwards and no request gets a 5xx. Connection errors while no pod is
// ready are expected; they are counted and reported.
func TestGracefulRollout(t *testing.T) {
	d := deploy(t, "rollout", nil)
	ctx := context.Background()
	old, err := env.client.CoreV1().Pods(d.ns).Get(ctx, "gokv-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu       sync.Mutex
		acked    = map[string]string{}
		fivexx   []string
		connErrs atomic.Int64
		seq      atomic.Int64
		stop     = make(chan struct{})
		// rolledOver is closed once the new pod is ready; writes acked
		// after it prove the writers came back.
		rolledOver  = make(chan struct{})
		ackedBefore atomic.Int64
		ackedAfter  atomic.Int64
		wg          sync.WaitGroup
	)
	deadline := time.Now().Add(4 * time.Minute) // bounds the writers whatever happens
	for w := range 2 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d-%06d", w, seq.Add(1))
				value := "v-" + key
				status, body, err := d.api.do(http.MethodPut, "rollout", key, value)
				switch {
				case err != nil:
					connErrs.Add(1)
					rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					d.fwd.reconnectFrom(rctx, d.fwd.URL())
					cancel()
				case status >= 500:
					mu.Lock()
					fivexx = append(fivexx, fmt.Sprintf("PUT %s: %d %s", key, status, body))
					mu.Unlock()
				case status/100 == 2:
					mu.Lock()
					acked[key] = value
					mu.Unlock()
					select {
					case <-rolledOver:
						ackedAfter.Add(1)
					default:
						ackedBefore.Add(1)
					}
				}
			}
		})
	}

	waitFor(t, "writes before the rollout", time.Minute, func(context.Context) (bool, error) {
		return ackedBefore.Load() >= 50, nil
	})
	step(t, "rollout restart of statefulset/gokv under load")
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`,
		time.Now().Format(time.RFC3339))
	if _, err := env.client.AppsV1().StatefulSets(d.ns).Patch(ctx, releaseName, types.StrategicMergePatchType,
		[]byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitNewPodReady(t, d.ns, "gokv-0", old.UID)
	waitStatefulSetReady(t, d.ns, releaseName)
	close(rolledOver)
	waitFor(t, "writes after the rollout", 2*time.Minute, func(context.Context) (bool, error) {
		return ackedAfter.Load() >= 50, nil
	})
	close(stop)
	wg.Wait()

	step(t, "writes: %d acknowledged before the new pod was ready, %d after, %d connection errors, %d 5xx",
		ackedBefore.Load(), ackedAfter.Load(), connErrs.Load(), len(fivexx))
	for _, f := range fivexx {
		t.Errorf("server error during the rollout: %s", f)
	}
	reconnect(t, d.fwd)
	readKeys(t, d.api, "rollout", acked)
}

// reconnectFrom reconnects unless another writer already has: seen is the
// URL that failed.
func (f *forward) reconnectFrom(ctx context.Context, seen string) {
	f.reconnectMu.Lock()
	defer f.reconnectMu.Unlock()
	if f.URL() != seen {
		return
	}
	if err := f.Reconnect(ctx); err != nil {
		step(f.t, "port-forward not back yet: %v", err)
	}
}

// 5. helm upgrade with changed values and helm rollback succeed, the
// jwt-gen Job is replaced per revision, and the data and the secret stay.
func TestUpgradeAndRollback(t *testing.T) {
	t.Parallel()
	d := deploy(t, "upgrade", nil)
	written := writeKeys(t, d.api, "upgrade", 50)
	secret := secretValue(t, d.ns, releaseName, "jwt-secret")
	ctx := context.Background()
	old, err := env.client.CoreV1().Pods(d.ns).Get(ctx, "gokv-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	if _, err := d.helm.upgrade(map[string]any{
		"config":    map[string]any{"logLevel": "debug"},
		"jwtGen":    map[string]any{"expiresIn": "2h"},
		"resources": map[string]any{"limits": map[string]any{"memory": "300Mi"}},
	}); err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
	waitNewPodReady(t, d.ns, "gokv-0", old.UID)
	waitStatefulSetReady(t, d.ns, releaseName)
	if got := podEnv(t, d.ns, "LOG_LEVEL"); got != "debug" {
		t.Errorf("after upgrade LOG_LEVEL = %q, want debug", got)
	}
	if got := secretValue(t, d.ns, releaseName, "jwt-secret"); got != secret {
		t.Error("helm upgrade changed the generated JWT secret; every issued token is now invalid")
	}
	tokenFromJob(t, d.ns, jobName(releaseName, 2))
	waitGone(t, "Job "+jobName(releaseName, 1), func(ctx context.Context) error {
		_, err := env.client.BatchV1().Jobs(d.ns).Get(ctx, jobName(releaseName, 1), metav1.GetOptions{})
		return err
	})
	reconnect(t, d.fwd)
	readKeys(t, d.api, "upgrade", written) // with the token of revision 1

	upgraded, err := env.client.CoreV1().Pods(d.ns).Get(ctx, "gokv-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.helm.rollback(1); err != nil {
		t.Fatalf("helm rollback: %v", err)
	}
	waitNewPodReady(t, d.ns, "gokv-0", upgraded.UID)
	waitStatefulSetReady(t, d.ns, releaseName)
	if rev := d.helm.revision(); rev != 3 {
		t.Errorf("revision after rollback = %d, want 3", rev)
	}
	if got := podEnv(t, d.ns, "LOG_LEVEL"); got != "info" {
		t.Errorf("after rollback LOG_LEVEL = %q, want info", got)
	}
	reconnect(t, d.fwd)
	readKeys(t, d.api, "upgrade", written)
}

func podEnv(t *testing.T, ns, name string) string {
	t.Helper()
	pod, err := env.client.CoreV1().Pods(ns).Get(context.Background(), "gokv-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range pod.Spec.Containers[0].Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func waitGone(t *testing.T, what string, get func(context.Context) error) {
	t.Helper()
	waitFor(t, what+" to be deleted", 2*time.Minute, func(ctx context.Context) (bool, error) {
		err := get(ctx)
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

// 6. helm test passes, and fails when the deployment is broken.
func TestHelmTest(t *testing.T) {
	t.Parallel()
	d := deploy(t, "helmtest", map[string]any{"jwtGen": map[string]any{"enabled": false}})
	phases, err := d.helm.test()
	if err != nil {
		t.Fatalf("helm test: %v", err)
	}
	if len(phases) == 0 {
		t.Fatal("helm test ran no test")
	}
	for name, phase := range phases {
		if phase != release.HookPhaseSucceeded {
			t.Errorf("test %s: %s", name, phase)
		}
	}

	// Change the Secret under the running pod: the test mints with the new
	// secret, the server still verifies with the old one, so it must fail.
	step(t, "breaking the deployment: new secret, old pod")
	s, err := env.client.CoreV1().Secrets(d.ns).Get(context.Background(), releaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Data["jwt-secret"] = []byte("a-secret-the-running-server-does-not-know")
	if _, err := env.client.CoreV1().Secrets(d.ns).Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.helm.test(); err == nil {
		t.Error("helm test passed against a server that refuses its tokens")
	}
}

// 7. Security as deployed: the runtime runs the container as non-root
// with a read-only root filesystem and no capabilities; JWT_SECRET reaches
// the pod only through the Secret; existingSecret works.
func TestSecurityAsDeployed(t *testing.T) {
	t.Parallel()
	d := deploy(t, "security", nil)
	ctx := context.Background()
	pod, err := env.client.CoreV1().Pods(d.ns).Get(ctx, "gokv-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("runtime", func(t *testing.T) {
		info := inspectContainer(t, pod.Status.ContainerStatuses[0].ContainerID)
		spec := info.Info.RuntimeSpec
		if spec.Process.User.UID != 65532 || spec.Process.User.GID != 65532 {
			t.Errorf("runs as %d:%d, want 65532:65532", spec.Process.User.UID, spec.Process.User.GID)
		}
		if !spec.Root.Readonly {
			t.Error("root filesystem is writable")
		}
		if !spec.Process.NoNewPrivileges {
			t.Error("no_new_privs is not set")
		}
		caps := spec.Process.Capabilities
		for name, set := range map[string][]string{"bounding": caps.Bounding, "effective": caps.Effective,
			"permitted": caps.Permitted, "inheritable": caps.Inheritable, "ambient": caps.Ambient} {
			if len(set) != 0 {
				t.Errorf("%s capabilities: %v, want none", name, set)
			}
		}
		status := string(nodeExec(t, "cat", fmt.Sprintf("/proc/%d/status", info.Info.Pid)))
		for _, want := range []string{"Uid:\t65532\t65532\t65532\t65532", "CapEff:\t0000000000000000", "NoNewPrivs:\t1"} {
			if !strings.Contains(status, want) {
				t.Errorf("/proc/%d/status of the gokv process lacks %q", info.Info.Pid, want)
			}
		}
	})

	t.Run("secret only through the Secret", func(t *testing.T) {
		secret := secretValue(t, d.ns, releaseName, "jwt-secret")
		if len(secret) < 32 {
			t.Errorf("generated secret is %d bytes", len(secret))
		}
		spec, err := json.Marshal(pod.Spec)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(spec), secret) {
			t.Error("the secret's value appears in the pod spec")
		}
		c := pod.Spec.Containers[0]
		var byRef bool
		for _, e := range c.Env {
			if e.Name == "JWT_SECRET" {
				byRef = e.Value == "" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil &&
					e.ValueFrom.SecretKeyRef.Name == releaseName
			}
		}
		if !byRef {
			t.Error("JWT_SECRET is not taken from the Secret by reference")
		}
	})

	t.Run("existingSecret", func(t *testing.T) {
		ns := newNamespace(t, "existing")
		const secret = "a-secret-managed-outside-the-chart-0123456789"
		_, err := env.client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "team-jwt"},
			StringData: map[string]string{"token-key": secret},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		h := newHelm(t, ns, releaseName)
		h.install(map[string]any{
			"auth":   map[string]any{"existingSecret": "team-jwt", "secretKey": "token-key"},
			"jwtGen": map[string]any{"enabled": false},
		})
		waitStatefulSetReady(t, ns, releaseName)
		if _, err := env.client.CoreV1().Secrets(ns).Get(ctx, releaseName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the chart made its own Secret despite existingSecret: %v", err)
		}
		api := kv{base: forwardService(t, ns, releaseName).URL, token: mintLocally(t, secret)}
		api.must(t, http.MethodPut, "b", "k", "v", http.StatusCreated)
		api.must(t, http.MethodGet, "b", "k", "", http.StatusOK)
	})
}

// 8. The plain manifests in k8s/, applied without Helm, give a working
// gokv the same way.
func TestPlainManifests(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "manifests")
	ctx := context.Background()
	secret := "plain-manifests-secret-" + fmt.Sprint(time.Now().UnixNano())
	_, err := env.client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "gokv-jwt"},
		StringData: map[string]string{"jwt-secret": secret},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	applyFile(t, ns, filepath.Join(repoRoot, "k8s", "gokv.yaml"))
	applyFile(t, ns, filepath.Join(repoRoot, "k8s", "jwt-gen-job.yaml"))
	waitStatefulSetReady(t, ns, "gokv")
	token := tokenFromJob(t, ns, jobName("gokv", 1))

	fwd := forwardService(t, ns, "gokv")
	api := kv{base: fwd.URL, token: token}
	api.must(t, http.MethodPut, "plain", "k", "from plain manifests", http.StatusCreated)
	if got := api.must(t, http.MethodGet, "plain", "k", "", http.StatusOK); got != "from plain manifests" {
		t.Errorf("GET = %q", got)
	}
	api.must(t, http.MethodDelete, "plain", "k", "", http.StatusNoContent)
	kv{base: fwd.URL}.must(t, http.MethodGet, "plain", "k", "", http.StatusUnauthorized)
}

// 9. helm uninstall removes everything but the PVC, and a reinstall over
// the kept PVC sees the old data.
func TestUninstallKeepsClaimForReinstall(t *testing.T) {
	t.Parallel()
	d := deploy(t, "reinstall", nil)
	written := writeKeys(t, d.api, "reinstall", 100)
	ctx := context.Background()
	claim, err := env.client.CoreV1().PersistentVolumeClaims(d.ns).Get(ctx, "data-gokv-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	d.fwd.close()
	d.helm.uninstall()
	instance := metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + releaseName}
	waitFor(t, "the release's pods to go", 2*time.Minute, func(ctx context.Context) (bool, error) {
		pods, err := env.client.CoreV1().Pods(d.ns).List(ctx, instance)
		return err == nil && len(pods.Items) == 0, err
	})
	left := map[string]int{}
	count := func(kind string, n int, err error) {
		if err != nil {
			t.Fatalf("list %s: %v", kind, err)
		}
		left[kind] = n
	}
	sts, err := env.client.AppsV1().StatefulSets(d.ns).List(ctx, instance)
	count("StatefulSets", len(sts.Items), err)
	svcs, err := env.client.CoreV1().Services(d.ns).List(ctx, instance)
	count("Services", len(svcs.Items), err)
	secrets, err := env.client.CoreV1().Secrets(d.ns).List(ctx, metav1.ListOptions{})
	count("Secrets", len(secrets.Items), err)
	sas, err := env.client.CoreV1().ServiceAccounts(d.ns).List(ctx, instance)
	count("ServiceAccounts", len(sas.Items), err)
	jobs, err := env.client.BatchV1().Jobs(d.ns).List(ctx, instance)
	count("Jobs", len(jobs.Items), err)
	for kind, n := range left {
		if n != 0 {
			t.Errorf("%d %s left after helm uninstall", n, kind)
		}
	}
	kept, err := env.client.CoreV1().PersistentVolumeClaims(d.ns).Get(ctx, "data-gokv-0", metav1.GetOptions{})
	if err != nil || kept.UID != claim.UID {
		t.Fatalf("PVC data-gokv-0 was not kept: %v", err)
	}

	d.helm.install(nil)
	waitStatefulSetReady(t, d.ns, releaseName)
	if got, _ := env.client.CoreV1().PersistentVolumeClaims(d.ns).Get(ctx, "data-gokv-0", metav1.GetOptions{}); got.UID != claim.UID {
		t.Fatal("the reinstall made a new claim instead of using the kept one")
	}
	// The reinstall generated a new secret: a new Job mints with it.
	api := kv{base: forwardService(t, d.ns, releaseName).URL, token: tokenFromJob(t, d.ns, jobName(releaseName, 1))}
	readKeys(t, api, "reinstall", written)
}

// The chart's scenarios pass the real API server's validation and
// admission, which know more than the chart tests' strict decoding, in a
// namespace that enforces the "restricted" Pod Security Standard.
func TestChartScenariosPassServerSideDryRun(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "dryrun")
	ctx := context.Background()
	nsObj, err := env.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nsObj.Labels["pod-security.kubernetes.io/enforce"] = "restricted"
	nsObj.Labels["pod-security.kubernetes.io/warn"] = "restricted"
	if _, err := env.client.CoreV1().Namespaces().Update(ctx, nsObj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(repoRoot, "charts", "gokv", "ci", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("scenario values: %v", err)
	}
	for _, f := range append([]string{""}, files...) {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		if f == "" {
			name = "defaults"
		}
		t.Run(name, func(t *testing.T) {
			values := map[string]any{}
			if f != "" {
				if values, err = chartutil.ReadValuesFile(f); err != nil {
					t.Fatal(err)
				}
			}
			manifest, err := newHelm(t, ns, releaseName).render(values)
			if err != nil {
				t.Fatal(err)
			}
			warns, err := apply(t, ns, manifest, true)
			if err != nil {
				t.Fatalf("the API server refuses the %s scenario: %v", name, err)
			}
			for _, w := range warns {
				if strings.Contains(w, "PodSecurity") {
					t.Errorf("%s: %s", name, w)
				}
			}
		})
	}
}
