package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/apitest"
)

// TestRequestID: a sane X-Request-ID comes back in the response header and
// the error body; anything else is replaced by a generated id.
func TestRequestID(t *testing.T) {
	ts := newTestServer(t)
	generated := regexp.MustCompile(`^[0-9a-f]{16}$`)
	tests := []struct {
		name, sent string
		kept       bool
	}{
		{"sane", "req-42_a.B", true},
		{"64 characters", strings.Repeat("a", 64), true},
		{"65 characters", strings.Repeat("a", 65), false},
		{"space", "a b", false},
		{"slash", "a/b", false},
		{"quote", `a"b`, false},
		{"non-ASCII", "é", false},
		{"absent", "", false},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.request(t, http.MethodGet, "/b/missing", nil, map[string]string{"X-Request-ID": tt.sent})
			r.wantStatus(t, http.StatusNotFound, "GET")
			r.errorMessage(t) // checks the body's request_id against the header
			got := r.header.Get("X-Request-ID")
			switch {
			case tt.kept && got != tt.sent:
				t.Errorf("X-Request-ID %q came back as %q", tt.sent, got)
			case !tt.kept && !generated.MatchString(got):
				t.Errorf("X-Request-ID %q came back as %q, want 16 generated hex digits", tt.sent, got)
			case !tt.kept && seen[got]:
				t.Errorf("generated id %q twice", got)
			}
			seen[got] = true
		})
	}
	// Successful answers carry it too.
	ts.put(t, "/b/k", "v", "text/plain").wantStatus(t, http.StatusCreated, "PUT")
	if r := ts.request(t, http.MethodGet, "/b/k", nil, map[string]string{"X-Request-ID": "ok-1"}); r.header.Get("X-Request-ID") != "ok-1" {
		t.Errorf("GET 200: X-Request-ID %q, want ok-1", r.header.Get("X-Request-ID"))
	}
}

// syncBuffer is a log destination the server's goroutines write while the
// test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the JSON log lines written so far.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	for sc.Scan() {
		var l map[string]any
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitForLine returns the first log line with msg and request_id id. The
// line is written once the response is, so it may come just after the
// client has its answer.
func waitForLine(t *testing.T, logs *syncBuffer, msg, id string) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, l := range logs.lines(t) {
			if l["msg"] == msg && l["request_id"] == id {
				return l
			}
		}
	}
	t.Fatalf("no %q log line with request_id %q in:\n%s", msg, id, logs)
	return nil
}

// TestRequestLog: one info line per request, with the fields an operator
// searches by, and never the token, the key or the value.
func TestRequestLog(t *testing.T) {
	logs := &syncBuffer{}
	ts := &testServer{apitest.StartWith(t, apitest.Config{Logger: slog.New(slog.NewJSONHandler(logs, nil))})}
	const value = "secret-value-0123"
	ts.put(t, "/b/secret-key", value, "text/plain").wantStatus(t, http.StatusCreated, "PUT")
	r := ts.request(t, http.MethodGet, "/b/secret-key", nil, map[string]string{"X-Request-ID": "log-1"})
	r.wantStatus(t, http.StatusOK, "GET")
	line := waitForLine(t, logs, "request", "log-1")
	want := map[string]any{
		"level":   "INFO",
		"method":  "GET",
		"route":   "/:bucket/*key",
		"status":  float64(200),
		"bytes":   float64(len(value)),
		"client":  "127.0.0.1",
		"subject": "test",
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("log line %s = %v, want %v", k, line[k], v)
		}
	}
	for _, k := range []string{"time", "duration"} {
		if _, ok := line[k]; !ok {
			t.Errorf("log line has no %s: %v", k, line)
		}
	}
	// A refused request is logged too, without a subject.
	ts.request(t, http.MethodGet, "/b/secret-key", nil, map[string]string{"Authorization": "", "X-Request-ID": "log-2"}).
		wantStatus(t, http.StatusUnauthorized, "GET without a token")
	if l := waitForLine(t, logs, "request", "log-2"); l["status"] != float64(401) || l["subject"] != "" {
		t.Errorf("refused request logged as %v", l)
	}
	for _, secret := range []string{ts.Token, value, "secret-key"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log contains %q:\n%s", secret, logs)
		}
	}
}

// TestErrorLogsCarryTheRequestID: a server fault's error line names the
// request, as its response and request line do.
func TestErrorLogsCarryTheRequestID(t *testing.T) {
	logs := &syncBuffer{}
	ts := &testServer{apitest.StartWith(t, apitest.Config{Logger: slog.New(slog.NewJSONHandler(logs, nil))})}
	ts.Store.Close()
	r := ts.request(t, http.MethodGet, "/b/k", nil, map[string]string{"X-Request-ID": "fault-1"})
	r.wantStatus(t, http.StatusServiceUnavailable, "GET on a closed store")
	r.errorMessage(t)
	if l := waitForLine(t, logs, "request failed", "fault-1"); l["level"] != "ERROR" {
		t.Errorf("fault logged as %v", l)
	}
	waitForLine(t, logs, "request", "fault-1")
}
