//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The replicated mode: 3 gokv pods on a bundled 3-member etcd, under a
// load of writes and compare-and-swap increments sent through the
// Service, while a gokv pod is deleted, the etcd leader's pod is deleted,
// the etcd leader is killed (SIGKILL, a crash: no leadership transfer),
// and a helm upgrade rolls gokv. Afterwards every acknowledged write reads
// back and the counter holds every acknowledged increment. Each phase's
// failed requests are logged by status.
//
// The load goes to the Service's NodePort on the node's address, from
// fresh connections: kube-proxy picks a ready pod for each request, as it
// does for clients in the cluster, so the load follows pods as they come
// and go (a port-forward would pin one pod).
func TestReplicatedMode(t *testing.T) {
	ns := newNamespace(t, "replicated")
	h := newHelm(t, ns, releaseName)
	values := map[string]any{
		"storage":      map[string]any{"backend": "etcd"},
		"replicaCount": 3,
		"etcd":         map[string]any{"enabled": true},
		"service":      map[string]any{"type": "NodePort"},
		"jwtGen":       map[string]any{"enabled": false},
	}
	h.install(values)
	t.Cleanup(func() {
		// helm uninstall, then the namespace goes; a failed test keeps
		// the release for the namespace's dump.
		if !t.Failed() {
			h.uninstall()
		}
	})
	etcdName := releaseName + "-etcd"
	waitDeploymentReady(t, ns, releaseName)
	waitStatefulSetReady(t, ns, etcdName)

	token := mintLocally(t, secretValue(t, ns, releaseName, "jwt-secret"))
	l := newLoad(t, nodePortURL(t, ns, releaseName), token)
	l.start()
	defer l.stop()

	l.phase(t, "steady")
	time.Sleep(5 * time.Second)

	l.phase(t, "gokv pod deleted")
	victim := podsOf(t, ns, "app.kubernetes.io/name=gokv,app.kubernetes.io/instance="+releaseName)[0]
	step(t, "deleting gokv pod %s", victim.Name)
	deletePod(t, ns, victim.Name)
	waitGone(t, "pod "+victim.Name, func(ctx context.Context) error {
		_, err := env.client.CoreV1().Pods(ns).Get(ctx, victim.Name, metav1.GetOptions{})
		return err
	})
	waitDeploymentReady(t, ns, releaseName)
	time.Sleep(3 * time.Second)

	l.phase(t, "etcd leader pod deleted")
	leader := etcdLeader(t, ns, etcdName)
	old, err := env.client.CoreV1().Pods(ns).Get(context.Background(), leader, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	step(t, "deleting the etcd leader's pod %s", leader)
	deletePod(t, ns, leader)
	waitNewPodReady(t, ns, leader, old.UID)
	waitStatefulSetReady(t, ns, etcdName)
	step(t, "etcd leader now %s", etcdLeader(t, ns, etcdName))
	time.Sleep(3 * time.Second)

	if len(env.nodes) > 0 {
		l.phase(t, "etcd leader killed")
		killEtcdLeader(t, ns, etcdName)
		time.Sleep(3 * time.Second)
	}

	l.phase(t, "helm upgrade rolls gokv")
	values["podAnnotations"] = map[string]any{"gokv-e2e/rollout": "2"}
	before := podsOf(t, ns, "app.kubernetes.io/name=gokv,app.kubernetes.io/instance="+releaseName)
	if _, err := h.upgrade(values); err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
	waitDeploymentReady(t, ns, releaseName)
	for _, p := range before {
		waitGone(t, "pod "+p.Name, func(ctx context.Context) error {
			_, err := env.client.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
			return err
		})
	}
	time.Sleep(3 * time.Second)
	l.stop()

	l.report(t)
	l.verify(t)
}

// deletePod deletes a pod gracefully, as a node drain or a rollout would.
func deletePod(t *testing.T, ns, name string) {
	t.Helper()
	if err := env.client.CoreV1().Pods(ns).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete pod %s: %v", name, err)
	}
}

// killEtcdLeader SIGKILLs the etcd process of the current leader on its
// node, then waits for the kubelet to restart it and for every member to
// be ready.
func killEtcdLeader(t *testing.T, ns, etcdName string) {
	t.Helper()
	leader := etcdLeader(t, ns, etcdName)
	pod, err := env.client.CoreV1().Pods(ns).Get(context.Background(), leader, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	restarts := pod.Status.ContainerStatuses[0].RestartCount
	info := inspectContainer(t, pod.Status.ContainerStatuses[0].ContainerID)
	step(t, "SIGKILL of the etcd leader %s (pid %d on the node)", leader, info.Info.Pid)
	nodeExec(t, "kill", "-9", strconv.Itoa(info.Info.Pid))
	waitFor(t, "etcd "+leader+" to restart and be ready", 3*time.Minute, func(ctx context.Context) (bool, error) {
		p, err := env.client.CoreV1().Pods(ns).Get(ctx, leader, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return p.Status.ContainerStatuses[0].RestartCount > restarts && isReady(p), nil
	})
	waitStatefulSetReady(t, ns, etcdName)
	step(t, "etcd leader now %s", etcdLeader(t, ns, etcdName))
}

// etcdLeader asks each member's metrics (etcd_server_is_leader) which one
// leads: the image is distroless, so there is no etcdctl to exec.
func etcdLeader(t *testing.T, ns, etcdName string) string {
	t.Helper()
	var leader string
	waitFor(t, "an etcd leader", time.Minute, func(ctx context.Context) (bool, error) {
		for _, p := range podsOf(t, ns, "app.kubernetes.io/name=gokv-etcd,app.kubernetes.io/instance="+releaseName) {
			if !isReady(&p) {
				continue
			}
			u, stop, err := forwardPod(ctx, ns, p.Name, 2381)
			if err != nil {
				return false, err
			}
			v := scrape(t, u, "etcd_server_is_leader")
			close(stop)
			if v == 1 {
				leader = p.Name
				return true, nil
			}
		}
		return false, nil
	})
	return leader
}

func podsOf(t *testing.T, ns, selector string) []corev1.Pod {
	t.Helper()
	pods, err := env.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var live []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	slices.SortFunc(live, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	if len(live) == 0 {
		t.Fatalf("no pods with %s", selector)
	}
	return live
}

// waitDeploymentReady waits until every replica of the Deployment runs
// its current template and is available, and no old pod is left.
func waitDeploymentReady(t *testing.T, ns, name string) {
	t.Helper()
	waitFor(t, "Deployment "+name+" to be ready", 5*time.Minute, func(ctx context.Context) (bool, error) {
		d, err := env.client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s, want := d.Status, *d.Spec.Replicas
		return s.ObservedGeneration >= d.Generation && s.Replicas == want && s.UpdatedReplicas == want &&
			s.ReadyReplicas == want && s.AvailableReplicas == want, nil
	})
}

// nodePortURL is the Service's http NodePort on the first node's internal
// address, which the machine running the tests reaches (kind's network).
func nodePortURL(t *testing.T, ns, service string) string {
	t.Helper()
	ctx := context.Background()
	svc, err := env.client.CoreV1().Services(ns).Get(ctx, service, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "http" })
	if i < 0 || svc.Spec.Ports[i].NodePort == 0 {
		t.Fatalf("Service %s has no http NodePort: %+v", service, svc.Spec.Ports)
	}
	nodes, err := env.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) == 0 {
		t.Fatalf("nodes: %v", err)
	}
	for _, a := range nodes.Items[0].Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			u := "http://" + net.JoinHostPort(a.Address, strconv.Itoa(int(svc.Spec.Ports[i].NodePort)))
			step(t, "load goes to the Service through NodePort %s", u)
			return u
		}
	}
	t.Fatalf("node %s has no internal IP", nodes.Items[0].Name)
	return ""
}

// load sends unique-key writes and If-Match increments of one counter
// until stopped, each request on a new connection, and records what was
// acknowledged and how each request ended, by phase.
type load struct {
	base, token string
	client      *http.Client
	phaseName   atomic.Pointer[string]
	phases      []string
	stopOnce    sync.Once
	done        chan struct{}
	wg          sync.WaitGroup
	seq         atomic.Int64

	mu sync.Mutex
	// outcomes[phase]["PUT 201"] counts requests by how they ended.
	outcomes map[string]map[string]int
	// noRetryAfter lists 503s without Retry-After.
	noRetryAfter []string
	acked        map[string]string // key → value, acknowledged writes
	ackedIncr    int               // acknowledged increments
	// ambiguousIncr counts increments whose outcome is unknown (a 5xx or
	// a lost connection after the request was sent): each may or may
	// not have been applied.
	ambiguousIncr int
}

const (
	loadBucket   = "ha"
	counterKey   = "counter"
	counterBkt   = "ha-counter"
	writers      = 3
	incrementers = 2
	// pause between one worker's requests: enough load to see every
	// failure, little enough to share two cores with the cluster.
	pause = 15 * time.Millisecond
)

func newLoad(t *testing.T, base, token string) *load {
	return &load{
		base: base, token: token,
		client: &http.Client{
			Timeout:   10 * time.Second,
			Transport: &http.Transport{DisableKeepAlives: true},
		},
		done:     make(chan struct{}),
		outcomes: map[string]map[string]int{},
		acked:    map[string]string{},
	}
}

func (l *load) phase(t *testing.T, name string) {
	t.Helper()
	l.mu.Lock()
	l.phases = append(l.phases, name)
	l.outcomes[name] = map[string]int{}
	l.mu.Unlock()
	l.phaseName.Store(&name)
	step(t, "phase: %s", name)
}

func (l *load) start() {
	for w := range writers {
		l.wg.Go(func() { l.write(w) })
	}
	for range incrementers {
		l.wg.Go(l.increment)
	}
}

func (l *load) stop() {
	l.stopOnce.Do(func() { close(l.done) })
	l.wg.Wait()
}

func (l *load) running() bool {
	select {
	case <-l.done:
		return false
	case <-time.After(pause):
		return true
	}
}

// result is how one request ended: a status, or a transport error.
type result struct {
	status     int
	body       string
	etag       string
	retryAfter bool
	err        error
}

func (r result) failed() bool { return r.err != nil || r.status >= 500 }

func (l *load) do(method, bucket, key, body string, header map[string]string) result {
	req, err := http.NewRequest(method, l.base+"/"+bucket+"/"+url.PathEscape(key), strings.NewReader(body))
	if err != nil {
		return result{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+l.token)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{err: err}
	}
	return result{status: resp.StatusCode, body: string(b), etag: resp.Header.Get("ETag"),
		retryAfter: resp.Header.Get("Retry-After") != ""}
}

// record counts r under the phase its request started in.
func (l *load) record(phase, method string, r result) {
	what := fmt.Sprintf("%s %d", method, r.status)
	if r.err != nil {
		what = method + " connection error"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.outcomes[phase][what]++
	if r.status == http.StatusServiceUnavailable && !r.retryAfter {
		l.noRetryAfter = append(l.noRetryAfter, fmt.Sprintf("%s in %s: %s", method, phase, r.body))
	}
}

func (l *load) write(w int) {
	for l.running() {
		phase := *l.phaseName.Load()
		key := fmt.Sprintf("w%d-%06d", w, l.seq.Add(1))
		value := "v-" + key
		r := l.do(http.MethodPut, loadBucket, key, value, map[string]string{"If-None-Match": "*"})
		l.record(phase, "PUT", r)
		if r.status == http.StatusCreated {
			l.mu.Lock()
			l.acked[key] = value
			l.mu.Unlock()
		}
	}
}

// increment reads the counter and writes it plus one with If-Match,
// again on 412: the classic read-modify-write that must never lose an
// update.
func (l *load) increment() {
	for l.running() {
		phase := *l.phaseName.Load()
		get := l.do(http.MethodGet, counterBkt, counterKey, "", nil)
		l.record(phase, "GET", get)
		var put result
		switch get.status {
		case http.StatusNotFound:
			put = l.do(http.MethodPut, counterBkt, counterKey, "1", map[string]string{"If-None-Match": "*"})
		case http.StatusOK:
			n, err := strconv.Atoi(get.body)
			if err != nil {
				continue
			}
			put = l.do(http.MethodPut, counterBkt, counterKey, strconv.Itoa(n+1), map[string]string{"If-Match": get.etag})
		default:
			continue
		}
		l.record(phase, "PUT If-Match", put)
		l.mu.Lock()
		switch {
		case put.status == http.StatusCreated || put.status == http.StatusNoContent:
			l.ackedIncr++
		case put.failed():
			l.ambiguousIncr++
		}
		l.mu.Unlock()
	}
}

// report logs each phase's requests by outcome, and fails on the goals:
// never a 500 (or any 5xx but 503), a 503 always with Retry-After, no
// failed request while a gokv pod goes or gokv rolls, and only 503s while
// etcd's leader changes.
func (l *load) report(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, phase := range l.phases {
		counts := l.outcomes[phase]
		var parts, failures []string
		var total, failed, ackedWrites int
		for _, what := range slices.Sorted(maps.Keys(counts)) {
			n := counts[what]
			parts = append(parts, fmt.Sprintf("%s: %d", what, n))
			total += n
			if what == "PUT 201" {
				ackedWrites = n
			}
			if isFailure(what) {
				failed += n
				failures = append(failures, fmt.Sprintf("%s: %d", what, n))
			}
		}
		step(t, "phase %-24q %5d requests, %3d failed; %s", phase, total, failed, strings.Join(parts, ", "))
		if ackedWrites < 20 {
			t.Errorf("phase %q acknowledged only %d writes: the load did not run through it", phase, ackedWrites)
		}
		for what := range counts {
			if isFailure(what) && !strings.HasSuffix(what, " 503") && !strings.HasSuffix(what, "connection error") {
				t.Errorf("phase %q: %s: %d (only 503 with Retry-After may answer a failure)", phase, what, counts[what])
			}
		}
		switch {
		case strings.HasPrefix(phase, "etcd"):
			for what := range counts {
				if strings.HasSuffix(what, "connection error") {
					t.Errorf("phase %q: %s: %d; while etcd elects a leader gokv must answer 503, not drop connections", phase, what, counts[what])
				}
			}
		case failed > 0:
			t.Errorf("phase %q: %d failed requests (%s), want none", phase, failed, strings.Join(failures, ", "))
		}
	}
	for _, m := range l.noRetryAfter {
		t.Errorf("503 without Retry-After: %s", m)
	}
}

func isFailure(what string) bool {
	if strings.HasSuffix(what, "connection error") {
		return true
	}
	code, err := strconv.Atoi(what[strings.LastIndex(what, " ")+1:])
	return err == nil && code >= 500
}

// verify reads back every acknowledged write, concurrently, and checks
// that the counter holds every acknowledged increment (and no more than
// those plus the ones whose outcome was unknown).
func (l *load) verify(t *testing.T) {
	t.Helper()
	reader := kv{base: func() string { return l.base }, token: l.token}
	keys := make(chan string)
	var missing atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for k := range keys {
				status, got, err := reader.do(http.MethodGet, loadBucket, k, "")
				if err != nil || status != http.StatusOK || got != l.acked[k] {
					if missing.Add(1) <= 5 {
						t.Errorf("acknowledged write %s: GET %d %q %v, want %q", k, status, got, err, l.acked[k])
					}
				}
			}
		})
	}
	for k := range l.acked {
		keys <- k
	}
	close(keys)
	wg.Wait()
	if n := missing.Load(); n > 0 {
		t.Errorf("%d of %d acknowledged writes are lost", n, len(l.acked))
	} else {
		step(t, "all %d acknowledged writes read back", len(l.acked))
	}

	status, body, err := reader.do(http.MethodGet, counterBkt, counterKey, "")
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET the counter: %d %v", status, err)
	}
	got, err := strconv.Atoi(body)
	if err != nil {
		t.Fatalf("counter %q: %v", body, err)
	}
	step(t, "counter %d: %d acknowledged increments, %d of unknown outcome", got, l.ackedIncr, l.ambiguousIncr)
	if got < l.ackedIncr || got > l.ackedIncr+l.ambiguousIncr {
		t.Errorf("counter = %d, want %d acknowledged increments (+ up to %d of unknown outcome): an increment was lost or invented",
			got, l.ackedIncr, l.ambiguousIncr)
	}
}
