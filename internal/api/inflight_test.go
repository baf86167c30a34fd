package api_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/apitest"
)

// TestBytesInFlightBounded fills the budget of bytes in flight with
// uploads of unknown length that have not finished: other uploads and
// downloads then get 503 with Retry-After and store nothing, and once the
// uploads finish, their unused reservations are refunded.
func TestBytesInFlightBounded(t *testing.T) {
	ts := newTestServer(t)
	ts.put(t, "/b/existing", "v", "text/plain").wantStatus(t, http.StatusCreated, "PUT before the flood")

	// Each upload of unknown length reserves the largest value.
	const held = apitest.DefaultMaxInflight / apitest.DefaultMaxValue
	uploads := make([]*io.PipeWriter, held)
	var (
		reserved sync.WaitGroup
		finished sync.WaitGroup
	)
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
	for i := range uploads {
		body, w := io.Pipe()
		uploads[i] = w
		// gokv asks for the body, answering 100 Continue, only once it
		// has reserved room for it.
		trace := &httptrace.ClientTrace{Got100Continue: reserved.Done}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace),
			http.MethodPut, fmt.Sprintf("%s/b/held%d", ts.URL, i), body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+ts.Token)
		req.Header.Set("Expect", "100-continue")
		reserved.Add(1)
		finished.Go(func() {
			resp, err := client.Do(req)
			if err != nil {
				t.Errorf("held upload %d: %v", i, err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Errorf("held upload %d: %d, want 201", i, resp.StatusCode)
			}
		})
	}
	reserved.Wait()

	for _, r := range []struct {
		method, path string
		body         io.Reader
	}{
		{http.MethodPut, "/b/refused", strings.NewReader("v")},
		{http.MethodGet, "/b/existing", nil},
	} {
		resp := ts.request(t, r.method, r.path, r.body, nil)
		resp.wantStatus(t, http.StatusServiceUnavailable, r.method+" with no room in flight")
		if got := resp.header.Get("Retry-After"); got != "1" {
			t.Errorf("%s: Retry-After %q, want 1", r.method, got)
		}
		resp.errorMessage(t)
	}

	for _, w := range uploads {
		io.WriteString(w, "x")
		w.Close()
	}
	finished.Wait()
	ts.request(t, http.MethodHead, "/b/refused", nil, nil).wantStatus(t, http.StatusNotFound, "HEAD of the refused upload")
	// Without the refunds of the finished uploads the budget would be
	// spent, and this would wait and get 503.
	ts.put(t, "/b/refused", strings.Repeat("v", apitest.DefaultMaxValue), "text/plain").
		wantStatus(t, http.StatusCreated, "PUT after the flood")
}
