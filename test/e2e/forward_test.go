//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// forward is `kubectl port-forward svc/NAME`: it forwards a loopback port
// to the Service's target port on one ready pod behind it. Like kubectl,
// it stays bound to that pod; Reconnect moves it to the current one.
type forward struct {
	t         *testing.T
	namespace string
	service   string
	port      string // the Service port's name; "" for its first

	mu   sync.Mutex
	url  string
	pod  string
	stop chan struct{}

	// reconnectMu lets one of several failing clients reconnect.
	reconnectMu sync.Mutex
}

func forwardService(t *testing.T, namespace, service string) *forward {
	t.Helper()
	return forwardServicePort(t, namespace, service, "")
}

// forwardServicePort forwards the Service's port named port instead of
// its first, like `kubectl port-forward svc/NAME :metrics`.
func forwardServicePort(t *testing.T, namespace, service, port string) *forward {
	t.Helper()
	f := &forward{t: t, namespace: namespace, service: service, port: port}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := f.connect(ctx); err != nil {
		t.Fatalf("port-forward to svc/%s: %v", service, err)
	}
	t.Cleanup(f.close)
	return f
}

// URL is the base URL of the forwarded Service, like http://127.0.0.1:PORT.
func (f *forward) URL() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.url
}

// Reconnect forwards to a ready pod again, waiting up to ctx for one.
func (f *forward) Reconnect(ctx context.Context) error {
	f.close()
	for {
		err := f.connect(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("port-forward to svc/%s: %w (last: %v)", f.service, ctx.Err(), err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (f *forward) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stop != nil {
		close(f.stop)
		f.stop = nil
	}
}

func (f *forward) connect(ctx context.Context) error {
	svc, err := env.client.CoreV1().Services(f.namespace).Get(ctx, f.service, metav1.GetOptions{})
	if err != nil {
		return err
	}
	pod, err := readyPod(ctx, f.namespace, svc.Spec.Selector)
	if err != nil {
		return err
	}
	port, err := targetPort(svc, pod, f.port)
	if err != nil {
		return err
	}
	url, stop, err := forwardPod(ctx, f.namespace, pod.Name, port)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.url = url
	f.pod = pod.Name
	f.stop = stop
	f.mu.Unlock()
	step(f.t, "port-forward svc/%s -> pod %s:%d on %s", f.service, pod.Name, port, f.url)
	return nil
}

// forwardPod forwards a free loopback port to port of the pod, as
// `kubectl port-forward pod/NAME :PORT` does, until stop is closed.
func forwardPod(ctx context.Context, ns, pod string, port int) (url string, stop chan struct{}, err error) {
	transport, upgrader, err := spdy.RoundTripperFor(env.restConfig)
	if err != nil {
		return "", nil, err
	}
	req := env.client.CoreV1().RESTClient().Post().Resource("pods").
		Namespace(ns).Name(pod).SubResource("portforward")
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, req.URL())
	stop, ready := make(chan struct{}), make(chan struct{})
	pf, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", port)},
		stop, ready, io.Discard, io.Discard)
	if err != nil {
		return "", nil, err
	}
	failed := make(chan error, 1)
	go func() { failed <- pf.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-failed:
		return "", nil, fmt.Errorf("forward to pod %s: %w", pod, err)
	case <-ctx.Done():
		close(stop)
		return "", nil, ctx.Err()
	}
	ports, err := pf.GetPorts()
	if err != nil {
		close(stop)
		return "", nil, err
	}
	return fmt.Sprintf("http://127.0.0.1:%d", ports[0].Local), stop, nil
}

// targetPort resolves the (named) target port of the Service's port named
// name ("" for the first) on pod.
func targetPort(svc *corev1.Service, pod *corev1.Pod, name string) (int, error) {
	i := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return name == "" || p.Name == name })
	if i < 0 {
		return 0, fmt.Errorf("service %s has no port named %q", svc.Name, name)
	}
	tp := svc.Spec.Ports[i].TargetPort
	if tp.IntValue() != 0 {
		return tp.IntValue(), nil
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == tp.String() {
				return int(p.ContainerPort), nil
			}
		}
	}
	return 0, fmt.Errorf("pod %s has no port named %s", pod.Name, tp.String())
}

// kv is a minimal gokv client: a base URL and a token.
type kv struct {
	base  func() string
	token string
}

// client is shared so that connections are reused, with a timeout so that
// a request to a vanished pod fails instead of hanging.
var client = &http.Client{Timeout: 10 * time.Second}

// do sends one request; err is a transport error (no HTTP answer).
func (c kv) do(method, bucket, key, body string) (status int, respBody string, err error) {
	u := c.base() + "/" + url.PathEscape(bucket) + "/" + url.PathEscape(key)
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", err
	}
	return resp.StatusCode, string(b), nil
}

// must sends one request and fails the test unless it gets want.
func (c kv) must(t *testing.T, method, bucket, key, body string, want int) string {
	t.Helper()
	status, got, err := c.do(method, bucket, key, body)
	if err != nil {
		t.Fatalf("%s /%s/%s: %v", method, bucket, key, err)
	}
	if status != want {
		t.Fatalf("%s /%s/%s: status %d, want %d (body %q)", method, bucket, key, status, want, got)
	}
	return got
}

// scrape reads one series' value from a gokv's /metrics at base, in the
// text format: series is the name with its labels as gokv writes them
// (sorted by name), e.g. gokv_auth_refusals_total{reason="missing"}. An
// absent series is 0, as a counter that has not counted yet.
func scrape(t *testing.T, base, series string) float64 {
	t.Helper()
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s, %v", base, resp.Status, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("scrape %s: %q: %v", base, line, err)
			}
			return f
		}
	}
	return 0
}
