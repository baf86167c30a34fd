package loadgen_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gokv-service/gokv/internal/apitest"
	"github.com/gokv-service/gokv/internal/loadgen"
)

// watchConfig returns a small watch run against url.
func watchConfig(url, token string) loadgen.Config {
	return loadgen.Config{
		URL:       url,
		Token:     token,
		Bucket:    "watched",
		Workload:  loadgen.Watch,
		ValueSize: 100,
		Keys:      1,
		Watchers:  20,
		Rate:      1000,
		Requests:  50,
	}
}

func TestWatchAgainstGokv(t *testing.T) {
	ts := apitest.Start(t)
	cfg := watchConfig(ts.URL, ts.Token)
	var progress bytes.Buffer
	cfg.Progress = &progress
	res, err := loadgen.RunWatch(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed() || res.Writes != 50 || res.Complete != 20 || res.Delivered != 20*50 {
		t.Fatalf("writes %d (%d failed), %d events, watchers %d complete, %d missed, %d reset, %v; want 50 writes and 1000 events to 20 complete watchers",
			res.Writes, res.WriteErrors, res.Delivered, res.Complete, res.Missed, res.Reset, res.Problems)
	}
	l := res.Latency
	if !(0 < l.P50 && l.P50 <= l.P99 && l.P99 <= l.Max) || res.EventRate <= 0 || res.WriteRate <= 0 {
		t.Errorf("latency %+v, %.0f events/s, %.0f writes/s: not plausible", l, res.EventRate, res.WriteRate)
	}
	var out bytes.Buffer
	if err := res.WriteText(&out); err != nil || !strings.Contains(out.String(), "20 complete, 0 missed events, 0 reset") {
		t.Errorf("text report:\n%s", out.String())
	}
}

func TestWatchRefusedIsAnError(t *testing.T) {
	ts := apitest.Start(t)
	cfg := watchConfig(ts.URL, "not-a-token")
	if _, err := loadgen.RunWatch(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "status 401") {
		t.Fatalf("RunWatch with watches that are refused: %v, want an error naming status 401", err)
	}
}

// TestWatchChecksEveryEvent runs the watch workload against a fake server
// that serves some watchers a wrong stream: each kind of fault must be
// counted against the watcher that got it, and only that one.
func TestWatchChecksEveryEvent(t *testing.T) {
	tests := []struct {
		name string
		// fault returns the text watcher w gets for key-n (version n+1)
		// instead of the event, and whether it replaces it.
		fault        func(w, n int) (string, bool)
		missed, rst  int
		wantProblems string
	}{
		{"none", func(w, n int) (string, bool) { return "", false }, 0, 0, ""},
		{"skipped event", func(w, n int) (string, bool) { return "", w == 3 && n == 7 }, 1, 0, "event 7: put of \"key-8\", want a put of \"key-7\""},
		{"stale id", func(w, n int) (string, bool) {
			return sseEvent("put", 1, n), w == 0 && n == 5
		}, 1, 0, "event 5: id 1 after 5"},
		{"delete", func(w, n int) (string, bool) {
			return sseEvent("delete", n+1, n), w == 1 && n == 2
		}, 1, 0, "event 2: delete of \"key-2\""},
		{"reset", func(w, n int) (string, bool) { return "event: reset\ndata: {}\n\n", w == 2 && n == 9 }, 0, 1, "reset by the server"},
		{"stream ends", func(w, n int) (string, bool) { return "end", w == 4 && n == 9 }, 1, 0, "stream ended"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeWatchServer(tt.fault)
			defer srv.Close()
			cfg := watchConfig(srv.URL, "t")
			cfg.Watchers = 5
			cfg.Requests = 20
			res, err := loadgen.RunWatch(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Writes != 20 || res.Missed != tt.missed || res.Reset != tt.rst || res.Complete != 5-tt.missed-tt.rst {
				t.Fatalf("writes %d, watchers %d complete, %d missed, %d reset (%v); want 20 writes, %d missed, %d reset",
					res.Writes, res.Complete, res.Missed, res.Reset, res.Problems, tt.missed, tt.rst)
			}
			if res.Failed() != (tt.wantProblems != "") || !strings.Contains(strings.Join(res.Problems, "\n"), tt.wantProblems) {
				t.Errorf("failed %v, problems %q, want %q", res.Failed(), res.Problems, tt.wantProblems)
			}
		})
	}
}

func sseEvent(typ string, id, n int) string {
	return fmt.Sprintf("event: %s\nid: %d\ndata: {\"key\":%q,\"etag\":\"\\\"%d\\\"\"}\n\n", typ, id, loadgen.KeyName(n), id)
}

// newFakeWatchServer serves watches of any bucket and PUTs of key-N,
// sending every watcher the event of each PUT unless fault replaces it.
func newFakeWatchServer(fault func(w, n int) (string, bool)) *httptest.Server {
	var mu sync.Mutex
	var streams []chan string
	return httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Query().Get("watch") == "true" {
			ch := make(chan string, 100)
			mu.Lock()
			streams = append(streams, ch)
			mu.Unlock()
			rw.Header().Set("Content-Type", "text/event-stream")
			rw.WriteHeader(http.StatusOK)
			rw.(http.Flusher).Flush()
			for {
				select {
				case text := <-ch:
					if text == "end" {
						return
					}
					rw.Write([]byte(text))
					rw.(http.Flusher).Flush()
				case <-r.Context().Done():
					return
				}
			}
		}
		n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path[strings.LastIndex(r.URL.Path, "/"):], "/key-"))
		if r.Method != http.MethodPut || err != nil {
			http.Error(rw, "unexpected request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for w, ch := range streams {
			text, replaced := fault(w, n)
			if !replaced {
				text = sseEvent("put", n+1, n)
			}
			if text != "" {
				ch <- text
			}
		}
		rw.WriteHeader(http.StatusCreated)
	}))
}
