package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/auth"
	"github.com/gokv-service/gokv/internal/badgerstore"
	"github.com/gokv-service/gokv/internal/config"
)

const testSecret = "0123456789abcdef0123456789abcdef"

func testConfig(t testing.TB) config.Config {
	return config.Config{
		JWTSecret:        testSecret,
		DBPath:           t.TempDir(),
		Port:             0,
		GinMode:          "test",
		MaxValueBytes:    1 << 20,
		MaxInflightBytes: 32 << 20,
		MaxConns:         16,
		GCInterval:       time.Minute,
		ShutdownTimeout:  5 * time.Second,
		LogFormat:        "json",
	}
}

// runServer starts a server with cfg on a loopback port and returns its
// base URL, a function that stops it, and the channel Serve's result
// arrives on.
func runServer(t testing.TB, cfg config.Config) (url string, stop context.CancelFunc, result chan error) {
	t.Helper()
	srv, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	result = make(chan error, 1)
	done := make(chan struct{})
	go func() {
		result <- srv.Serve(ctx, ln)
		close(done)
	}()
	t.Cleanup(func() {
		stop()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("Serve did not return")
		}
	})
	for srv.Addr() == nil {
		time.Sleep(time.Millisecond)
	}
	return "http://" + srv.Addr().String(), stop, result
}

func status(t *testing.T, method, url, token string, body io.Reader) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestShutdownSequence(t *testing.T) {
	cfg := testConfig(t)
	cfg.ShutdownDelay = time.Second
	url, stop, result := runServer(t, cfg)
	token, err := auth.Mint([]byte(testSecret), auth.Claims{ExpiresIn: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := status(t, http.MethodPut, url+"/b/k", token, strings.NewReader("v")); got != http.StatusCreated {
		t.Fatalf("PUT: %d", got)
	}
	if got := status(t, http.MethodGet, url+"/readyz", "", nil); got != http.StatusOK {
		t.Fatalf("/readyz before shutdown: %d", got)
	}

	stop()
	// During the delay the server is not ready but still serves.
	deadline := time.Now().Add(cfg.ShutdownDelay / 2)
	for status(t, http.MethodGet, url+"/readyz", "", nil) != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not turn 503 at once after shutdown began")
		}
		time.Sleep(time.Millisecond)
	}
	if got := status(t, http.MethodGet, url+"/b/k", token, nil); got != http.StatusOK {
		t.Errorf("GET during the shutdown delay: %d, want 200", got)
	}
	select {
	case err := <-result:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the shutdown delay")
	}

	// The listener is closed and the store is closed: it opens again.
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("the server still accepts connections after Run returned")
	}
	s, err := badgerstore.Open(cfg.DBPath, badgerstore.Options{})
	if err != nil {
		t.Fatalf("reopen after Run: %v", err)
	}
	defer s.Close()
	if e, err := s.Get(context.Background(), "b", "k", nil); err != nil || string(e.Value) != "v" {
		t.Errorf("after Run: %q, %v", e.Value, err)
	}
}

func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := testConfig(t)
	cfg.Port = ln.Addr().(*net.TCPAddr).Port
	err = Run(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "listen on port "+strconv.Itoa(cfg.Port)) {
		t.Fatalf("Run on a busy port: %v", err)
	}
	// The store was closed on the way out, so it opens again.
	s, err := badgerstore.Open(cfg.DBPath, badgerstore.Options{})
	if err != nil {
		t.Fatalf("reopen after failed Run: %v", err)
	}
	s.Close()
}

func TestDatabaseInUse(t *testing.T) {
	cfg := testConfig(t)
	s, err := badgerstore.Open(cfg.DBPath, badgerstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := Run(context.Background(), cfg, slog.New(slog.DiscardHandler)); !errors.Is(err, badgerstore.ErrLocked) {
		t.Fatalf("Run on a database in use: %v, want ErrLocked", err)
	}
}

// TestDebugEndpoints: with DEBUG_ADDR set, the profiling endpoints answer
// there (and only there); without it they are nowhere.
func TestDebugEndpoints(t *testing.T) {
	cfg := testConfig(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.DebugAddr = ln.Addr().String()
	ln.Close()
	url, _, _ := runServer(t, cfg)
	resp, err := http.Get("http://" + cfg.DebugAddr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatalf("debug endpoint: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "goroutine profile: total ") {
		t.Errorf("goroutine profile: %d %.60q", resp.StatusCode, body)
	}
	if got := status(t, http.MethodGet, url+"/debug/pprof/", "", nil); got != http.StatusUnauthorized && got != http.StatusNotFound {
		t.Errorf("the API port serves /debug/pprof/: %d", got)
	}
}

// TestMaxConns: with MAX_CONNS connections open, even idle ones, another
// connection is not served until one of them closes.
func TestMaxConns(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxConns = 2
	url, _, _ := runServer(t, cfg)
	addr := strings.TrimPrefix(url, "http://")
	const request = "GET /healthz HTTP/1.1\r\nHost: gokv\r\n\r\n"

	var held []net.Conn
	for range cfg.MaxConns {
		c := dial(t, addr)
		if _, err := io.WriteString(c, request); err != nil {
			t.Fatal(err)
		}
		if got := readStatus(t, c, 10*time.Second); got != http.StatusOK {
			t.Fatalf("connection within the limit: %d", got)
		}
		held = append(held, c) // now idle, kept alive
	}

	extra := dial(t, addr)
	if _, err := io.WriteString(extra, request); err != nil {
		t.Fatal(err)
	}
	extra.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := extra.Read(make([]byte, 1)); err == nil {
		t.Fatalf("connection %d was served while %d were open", cfg.MaxConns+1, cfg.MaxConns)
	}
	held[0].Close()
	if got := readStatus(t, extra, 10*time.Second); got != http.StatusOK {
		t.Errorf("after one connection closed, the waiting one got %d", got)
	}
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readStatus reads one HTTP response from c within limit.
func readStatus(t *testing.T, c net.Conn, limit time.Duration) int {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(limit))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestWatchEndsOnShutdown: an open watch stream, which is never idle, ends
// when the shutdown starts draining instead of holding the drain until
// its timeout.
func TestWatchEndsOnShutdown(t *testing.T) {
	cfg := testConfig(t)
	cfg.ShutdownTimeout = time.Minute
	url, stop, result := runServer(t, cfg)
	token, err := auth.Mint([]byte(testSecret), auth.Claims{ExpiresIn: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, url+"/b/?watch=true", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("watch: %v %v", resp, err)
	}
	defer resp.Body.Close()
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, resp.Body)
		ended <- err
	}()

	stop()
	select {
	case err := <-result:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(cfg.ShutdownTimeout / 2):
		t.Fatal("an open watch held up the shutdown")
	}
	if err := <-ended; err != nil {
		t.Errorf("the stream ended with %v, want a clean end", err)
	}
}

// TestMetricsListener: /metrics is served without a token on a listener
// of its own, not on the API's, and stops with the server.
func TestMetricsListener(t *testing.T) {
	tests := []struct {
		name        string
		metricsPort int
	}{
		{"on", 9090}, // served on the listener below, not on 9090
		{"off", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.MetricsPort = tt.metricsPort
			srv, err := New(cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			mln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv.ServeMetricsOn(mln)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, stop := context.WithCancel(context.Background())
			result := make(chan error, 1)
			go func() { result <- srv.Serve(ctx, ln) }()
			defer func() {
				stop()
				if err := <-result; err != nil {
					t.Errorf("Serve: %v", err)
				}
			}()
			for srv.Addr() == nil {
				time.Sleep(time.Millisecond)
			}
			api := "http://" + srv.Addr().String()
			if got := status(t, http.MethodGet, api+"/readyz", "", nil); got != http.StatusOK {
				t.Fatalf("readyz: %d", got)
			}
			if got := status(t, http.MethodGet, api+"/metrics", "", nil); got == http.StatusOK {
				t.Errorf("the API port answers /metrics")
			}
			if tt.metricsPort == 0 {
				if srv.MetricsAddr() != nil {
					t.Errorf("METRICS_PORT=0, MetricsAddr = %v", srv.MetricsAddr())
				}
				if _, err := http.Get("http://" + mln.Addr().String() + "/metrics"); err == nil {
					t.Errorf("METRICS_PORT=0, yet the listener answers")
				}
				return
			}
			if srv.MetricsAddr() == nil || srv.MetricsAddr().String() != mln.Addr().String() {
				t.Fatalf("MetricsAddr = %v, want %v", srv.MetricsAddr(), mln.Addr())
			}
			resp, err := http.Get("http://" + srv.MetricsAddr().String() + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := `gokv_http_requests_total{code="200",method="GET",route="/readyz"} 1`
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
				t.Errorf("GET /metrics without a token: %s, want 200 with %s in\n%s", resp.Status, want, body)
			}
		})
	}
}
