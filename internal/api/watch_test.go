package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/kv"
)

// sseEvent is one server-sent event as it came over the wire.
type sseEvent struct {
	event, id, data string
}

// watchStream is an open watch.
type watchStream struct {
	resp   *http.Response
	lines  *bufio.Scanner
	cancel context.CancelFunc
}

// openWatch starts GET base+path with Accept: text/event-stream.
func openWatch(t *testing.T, base, token, path string, headers map[string]string) *watchStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	w := &watchStream{resp: resp, lines: bufio.NewScanner(resp.Body), cancel: cancel}
	t.Cleanup(w.close)
	return w
}

func (w *watchStream) close() {
	w.cancel()
	w.resp.Body.Close()
}

// next reads the next event, skipping comments, within 10 s.
func (w *watchStream) next(t *testing.T) sseEvent {
	t.Helper()
	got := make(chan sseEvent, 1)
	go func() {
		var ev sseEvent
		for w.lines.Scan() {
			line := w.lines.Text()
			switch {
			case line == "":
				if ev.event != "" {
					got <- ev
					return
				}
			case strings.HasPrefix(line, ":"):
			case strings.HasPrefix(line, "event: "):
				ev.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
		close(got)
	}()
	select {
	case ev, ok := <-got:
		if !ok {
			t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return sseEvent{}
}

func TestWatchOverHTTP(t *testing.T) {
	ts := newTestServer(t)
	w := openWatch(t, ts.URL, ts.Token, "/w/?watch=true&prefix=x/", nil)
	values := openWatch(t, ts.URL, ts.Token, "/w/?watch=true&values=true", nil)

	put := ts.put(t, "/w/x/1", "one", "text/plain")
	ts.put(t, "/w/y", "not under x/", "text/plain")
	ts.put(t, "/other/x/1", "another bucket", "text/plain")
	ts.request(t, http.MethodDelete, "/w/x/1", nil, nil).wantStatus(t, http.StatusNoContent, "DELETE")

	ev := w.next(t)
	if ev.event != "put" || `"`+ev.id+`"` != put.header.Get("ETag") || ev.data != fmt.Sprintf(`{"key":"x/1","etag":%q,"size":3,"content_type":"text/plain"}`, put.header.Get("ETag")) {
		t.Fatalf("first event %+v, PUT ETag %s", ev, put.header.Get("ETag"))
	}
	del := w.next(t)
	if del.event != "delete" || del.data != fmt.Sprintf(`{"key":"x/1","etag":"\"%s\""}`, del.id) || del.id <= ev.id && len(del.id) <= len(ev.id) {
		t.Fatalf("second event %+v", del)
	}
	for i, want := range []string{"one", "not under x/"} {
		ev := values.next(t)
		var data struct{ Value []byte }
		if err := json.Unmarshal([]byte(ev.data), &data); err != nil || string(data.Value) != want {
			t.Errorf("values=true event %d: %s, want value %q", i, ev.data, want)
		}
	}

	// Resuming after the first event replays the second.
	resumed := openWatch(t, ts.URL, ts.Token, "/w/?watch=true&prefix=x/", map[string]string{"Last-Event-ID": ev.id})
	if got := resumed.next(t); got != del {
		t.Errorf("resumed with Last-Event-ID: %+v, want %+v", got, del)
	}
	resumed = openWatch(t, ts.URL, ts.Token, "/w/?watch=true&prefix=x/&since="+ev.id, nil)
	if got := resumed.next(t); got != del {
		t.Errorf("resumed with since: %+v, want %+v", got, del)
	}

	r := ts.request(t, http.MethodGet, "/w/?watch=true", nil, nil)
	r.wantStatus(t, http.StatusNotAcceptable, "watch without Accept: text/event-stream")
	r.errorMessage(t)
	r = ts.request(t, http.MethodGet, "/w/?watch=true&since=abc", nil, map[string]string{"Accept": "text/event-stream"})
	r.wantStatus(t, http.StatusBadRequest, "watch since=abc")
	ts.request(t, http.MethodGet, "/w/?watch=true", nil, map[string]string{"Accept": "text/event-stream", "Authorization": ""}).
		wantStatus(t, http.StatusUnauthorized, "watch without a token")
}

// TestWatchReset: a resume from a version the history no longer reaches
// gets "reset", the client's cue to list again.
func TestWatchReset(t *testing.T) {
	ts := newTestServer(t)
	first := ts.MustPut(t, "r", "k", []byte("v")).Version
	// More changes than the history keeps (10,000 events).
	ops := make([]kv.Op, kv.MaxOps)
	for i := range 80 {
		for j := range ops {
			ops[j] = kv.Op{Kind: kv.OpPut, Bucket: "r", Key: fmt.Sprint("k", i, "-", j)}
		}
		if _, err := ts.Store.Apply(context.Background(), ops); err != nil {
			t.Fatal(err)
		}
	}
	w := openWatch(t, ts.URL, ts.Token, fmt.Sprint("/r/?watch=true&since=", first), nil)
	if ev := w.next(t); ev.event != "reset" || ev.data != "{}" {
		t.Fatalf("watch from an evicted version: %+v, want reset", ev)
	}
}

// TestWatchOutlivesServerTimeouts: a stream stays open past the server's
// read and write timeouts, which would otherwise end it.
func TestWatchOutlivesServerTimeouts(t *testing.T) {
	ts := newTestServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: ts.Handler, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	w := openWatch(t, "http://"+ln.Addr().String(), ts.Token, "/s/?watch=true", nil)
	time.Sleep(time.Second)
	ts.put(t, "/s/k", "v", "text/plain").wantStatus(t, http.StatusCreated, "PUT")
	if ev := w.next(t); ev.event != "put" {
		t.Fatalf("event after the timeouts: %+v", ev)
	}
}
