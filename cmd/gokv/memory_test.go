package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// memoryBudget is the README's budget of anonymous memory (section
// "Memory budget"): what the kernel cannot reclaim, so what the container's
// memory limit must hold. Badger's memory-mapped file pages are not in it.
func memoryBudget(maxValue, maxInflight int64, conns int) int64 {
	const base, perConn = 72 << 20, 32 << 10
	return base + 2*maxInflight + 2*maxValue + int64(conns)*perConn
}

// defaultMaxInflight is the default of MAX_INFLIGHT_BYTES.
const defaultMaxInflight = 32 << 20

// TestMemoryStaysInBudget floods gokv with concurrent large uploads, then
// concurrent downloads of them, sampling the anonymous resident memory of
// the process: its peak must stay under the README's budget, and requests
// beyond the bound of bytes in flight must get 503 with Retry-After and
// store nothing.
func TestMemoryStaysInBudget(t *testing.T) {
	tests := []struct {
		name     string
		env      []string
		clients  int
		valueLen int
	}{
		{"150 x 1 MiB with the defaults", nil, 150, 1 << 20},
		{"64 x 16 MiB", []string{"MAX_VALUE_BYTES=16777216"}, 64, 16 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startBinary(t, plainBinary(t), env(t.TempDir(), tt.env...))
			stopSampling := peakAnon(t, p)
			value := bytes.Repeat([]byte{'v'}, tt.valueLen)
			stored := flood(t, tt.clients, func(i int) (*http.Response, error) {
				req := newRequest(t, http.MethodPut, fmt.Sprintf("%s/mem/k%d", p.URL, i), bytes.NewReader(value))
				// Lets gokv refuse an upload before the client sends it,
				// as curl does for large bodies.
				req.Header.Set("Expect", "100-continue")
				return uploadClient.Do(req)
			})
			putPeak := stopSampling()
			t.Logf("PUT: %d of %d stored; peak RssAnon %d MiB", len(stored), tt.clients, putPeak>>20)
			if len(stored) == 0 {
				t.Fatal("no upload was stored; the test proves nothing")
			}
			stopSampling = peakAnon(t, p)
			got := flood(t, tt.clients, func(i int) (*http.Response, error) {
				k := stored[i%len(stored)]
				return http.DefaultClient.Do(newRequest(t, http.MethodGet, fmt.Sprintf("%s/mem/k%d", p.URL, k), nil))
			})
			getPeak := stopSampling()
			t.Logf("GET: %d of %d served; peak RssAnon %d MiB; VmHWM %d MiB, RssFile now %d MiB",
				len(got), tt.clients, getPeak>>20, procStatus(t, p, "VmHWM")>>20, procStatus(t, p, "RssFile")>>20)
			peak := max(putPeak, getPeak)
			if budget := memoryBudget(int64(tt.valueLen), defaultMaxInflight, tt.clients); peak > budget {
				t.Errorf("peak anonymous RSS %d MiB, want under the budget of %d MiB", peak>>20, budget>>20)
			}
			for i := range tt.clients {
				if slices.Contains(stored, i) {
					continue
				}
				if status, _ := do(t, http.MethodHead, fmt.Sprintf("%s/mem/k%d", p.URL, i), nil); status != http.StatusNotFound {
					t.Errorf("k%d was refused with 503 but HEAD answers %d, want 404", i, status)
				}
			}
		})
	}
}

// uploadClient waits for gokv's 100 Continue before it sends a body.
var uploadClient = &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 10 * time.Second}}

// flood sends n requests at once and returns the indexes that succeeded
// (2xx). Every other answer must be 503 with Retry-After and a JSON error.
func flood(t *testing.T, n int, send func(i int) (*http.Response, error)) []int {
	t.Helper()
	var (
		mu sync.Mutex
		ok []int
		wg sync.WaitGroup
	)
	for i := range n {
		wg.Go(func() {
			resp, err := send(i)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Errorf("request %d: read body: %v", i, err)
				return
			}
			if resp.StatusCode/100 == 2 {
				mu.Lock()
				ok = append(ok, i)
				mu.Unlock()
				return
			}
			var e struct{ Error string }
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
				json.Unmarshal(body, &e) != nil || e.Error == "" {
				t.Errorf("request %d: %d Retry-After=%q %.100q, want 2xx or 503 with Retry-After and a JSON error",
					i, resp.StatusCode, resp.Header.Get("Retry-After"), body)
			}
		})
	}
	wg.Wait()
	return ok
}

func newRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token(t))
	return req
}

// procStatus returns a field of /proc/PID/status of p in bytes, such as
// "RssAnon" or "VmHWM".
func procStatus(t testing.TB, p *process, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s %q: %v", field, v, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/PID/status", field)
	return 0
}

// peakAnon samples the anonymous resident memory of p every few
// milliseconds until stop is called, which returns the peak seen. Only
// anonymous memory counts: Badger's memory-mapped file pages are page
// cache the kernel reclaims under the container's limit.
func peakAnon(t testing.TB, p *process) (stop func() int64) {
	t.Helper()
	done := make(chan struct{})
	peak := make(chan int64)
	go func() {
		var highest int64
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			highest = max(highest, procStatus(t, p, "RssAnon"))
			select {
			case <-done:
				peak <- highest
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		return <-peak
	}
}

var (
	plainOnce sync.Once
	plainPath string
	plainErr  error
)

// plainBinary builds gokv without -race, once. The race detector's shadow
// memory multiplies the RSS of large buffers several times over, so only
// a plain build shows what the pod would use.
func plainBinary(t *testing.T) string {
	t.Helper()
	plainOnce.Do(func() {
		plainPath = filepath.Join(filepath.Dir(binary), "gokv-plain")
		out, err := exec.Command("go", "build", "-o", plainPath, ".").CombinedOutput()
		if err != nil {
			plainErr = fmt.Errorf("build gokv without -race: %v\n%s", err, out)
		}
	})
	if plainErr != nil {
		t.Fatal(plainErr)
	}
	return plainPath
}
