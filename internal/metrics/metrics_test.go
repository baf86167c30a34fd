package metrics_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gokv-service/gokv/internal/apitest"
	"github.com/gokv-service/gokv/internal/auth"
	"github.com/gokv-service/gokv/internal/metrics"
)

// scrape reads url in Prometheus' text format, as a scraper does.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET %s: Content-Type %q, want the text format", url, ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return families
}

// series is one sample of a family: a counter's or gauge's value, or a
// histogram's count or sum.
type series struct {
	family string
	labels map[string]string
	sum    bool // a histogram's sum rather than its count
}

// value is s's value in families; 0 when it is absent, as a counter
// that has not counted yet is.
func (s series) value(families map[string]*dto.MetricFamily) float64 {
	f := families[s.family]
	if f == nil {
		return 0
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range s.labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil && s.sum:
			return m.Histogram.GetSampleSum()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return 0
}

const dataRoute = "/:bucket/*key"

// do sends a request to the test server and returns its status.
func do(t *testing.T, method, url, token, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestSeriesMove checks, for each family, that the event it counts moves
// it by the amount expected, through the real router and a real Badger.
func TestSeriesMove(t *testing.T) {
	s := apitest.Start(t)
	value := strings.Repeat("v", 100)
	if code := do(t, http.MethodPut, s.URL+"/b/existing", s.Token, value); code != http.StatusCreated {
		t.Fatalf("PUT: %d", code)
	}
	expired, err := auth.Mint(apitest.Secret, auth.Claims{ExpiresIn: time.Minute}, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := auth.Mint([]byte("another-secret-of-at-least-32-bytes!"), auth.Claims{ExpiresIn: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	get := func(token string, want int) func(t *testing.T) {
		return func(t *testing.T) {
			if code := do(t, http.MethodGet, s.URL+"/b/existing", token, ""); code != want {
				t.Fatalf("GET: %d, want %d", code, want)
			}
		}
	}
	put := func(t *testing.T) {
		if code := do(t, http.MethodPut, s.URL+"/b/k", s.Token, value); code != http.StatusCreated && code != http.StatusNoContent {
			t.Fatalf("PUT: %d", code)
		}
	}
	refusal := func(reason string) series {
		return series{family: "gokv_auth_refusals_total", labels: map[string]string{"reason": reason}}
	}
	dataGet := map[string]string{"method": "GET", "route": dataRoute}
	dataPut := map[string]string{"method": "PUT", "route": dataRoute}

	tests := []struct {
		name  string
		event func(t *testing.T)
		s     series
		delta float64
	}{
		{"a GET counts", get(s.Token, 200), series{family: "gokv_http_requests_total", labels: map[string]string{"method": "GET", "route": dataRoute, "code": "200"}}, 1},
		{"a GET is timed", get(s.Token, 200), series{family: "gokv_http_request_duration_seconds", labels: dataGet}, 1},
		{"a GET's response is sized", get(s.Token, 200), series{family: "gokv_http_response_size_bytes", labels: dataGet, sum: true}, 100},
		{"a PUT's request is sized", put, series{family: "gokv_http_request_size_bytes", labels: dataPut, sum: true}, 100},
		{"an unknown path is one route", func(t *testing.T) { do(t, http.MethodGet, s.URL+"/", "", "") },
			series{family: "gokv_http_requests_total", labels: map[string]string{"method": "GET", "route": "unmatched", "code": "404"}}, 1},
		{"an odd method is one label", func(t *testing.T) { do(t, "BREW", s.URL+"/b/k", s.Token, "") },
			series{family: "gokv_http_requests_total", labels: map[string]string{"method": "other", "route": "unmatched", "code": "405"}}, 1},
		{"no token", get("", 401), refusal(metrics.ReasonMissing), 1},
		{"no token is a 401", get("", 401), series{family: "gokv_http_requests_total", labels: map[string]string{"method": "GET", "route": dataRoute, "code": "401"}}, 1},
		{"garbage token", get("not-a-jwt", 401), refusal(metrics.ReasonMalformed), 1},
		{"expired token", get(expired, 401), refusal(metrics.ReasonExpired), 1},
		{"forged token", get(forged, 401), refusal(metrics.ReasonBadSignature), 1},
		{"a token without the scope", func(t *testing.T) {
			readOnly := apitest.Mint(t, auth.Claims{ExpiresIn: time.Hour, Scope: auth.ScopeRead})
			if code := do(t, http.MethodPut, s.URL+"/b/k", readOnly, "v"); code != http.StatusForbidden {
				t.Fatalf("PUT with a read-only token: %d, want 403", code)
			}
		}, refusal(metrics.ReasonForbidden), 1},
		{"a PUT writes a key", put, series{family: "gokv_store_keys_written_total"}, 1},
		{"a PUT is a commit", put, series{family: "gokv_store_commit_batch_applies"}, 1},
		{"a PUT's commit is timed", put, series{family: "gokv_store_commit_duration_seconds"}, 1},
		{"a DELETE deletes a key", func(t *testing.T) {
			put(t)
			if code := do(t, http.MethodDelete, s.URL+"/b/k", s.Token, ""); code != http.StatusNoContent {
				t.Fatalf("DELETE: %d", code)
			}
		}, series{family: "gokv_store_keys_deleted_total"}, 1},
		{"a GC round", func(t *testing.T) {
			if err := s.Store.CollectGarbage(); err != nil {
				t.Fatal(err)
			}
		}, series{family: "gokv_store_value_log_gc_runs_total"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.s.value(scrape(t, s.MetricsURL))
			tt.event(t)
			after := tt.s.value(scrape(t, s.MetricsURL))
			if after-before != tt.delta {
				t.Errorf("%s%v moved from %v to %v, want by %v", tt.s.family, tt.s.labels, before, after, tt.delta)
			}
		})
	}
}

// TestEveryFamilyIsExported lists what a scrape must show once each
// family has had its event, the Go and process collectors' included.
func TestEveryFamilyIsExported(t *testing.T) {
	s := apitest.Start(t)
	do(t, http.MethodPut, s.URL+"/b/k", s.Token, "v")
	do(t, http.MethodGet, s.URL+"/b/k", "", "")
	if err := s.Store.CollectGarbage(); err != nil {
		t.Fatal(err)
	}
	families := scrape(t, s.MetricsURL)
	for _, name := range []string{
		"gokv_http_requests_total", "gokv_http_request_duration_seconds",
		"gokv_http_request_size_bytes", "gokv_http_response_size_bytes", "gokv_auth_refusals_total",
		"gokv_store_keys_written_total", "gokv_store_keys_deleted_total",
		"gokv_store_commit_batch_applies", "gokv_store_commit_duration_seconds",
		"gokv_store_value_log_gc_runs_total", "gokv_store_value_log_gc_reclaimed_bytes_total",
		"gokv_store_lsm_bytes", "gokv_store_value_log_bytes", "gokv_store_filesystem_free_bytes",
		"gokv_store_refusing_writes", "gokv_watchers",
		"gokv_backup_last_success_timestamp_seconds", "gokv_backup_last_size_bytes",
		"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes",
	} {
		if families[name] == nil {
			t.Errorf("no %s in the scrape", name)
		}
	}
	if free := (series{family: "gokv_store_filesystem_free_bytes"}).value(families); free <= 0 {
		t.Errorf("gokv_store_filesystem_free_bytes = %v, want the free space", free)
	}
}

// TestValueLogBytesGrow writes values big enough for the value log
// (over 1 KiB) and sees its disk space grow.
func TestValueLogBytesGrow(t *testing.T) {
	s := apitest.Start(t)
	vlog := series{family: "gokv_store_value_log_bytes"}
	before := vlog.value(scrape(t, s.MetricsURL))
	value := strings.Repeat("x", apitest.DefaultMaxValue)
	for i := range 16 {
		if code := do(t, http.MethodPut, s.URL+"/b/k"+string(rune('a'+i)), s.Token, value); code != http.StatusCreated {
			t.Fatalf("PUT: %d", code)
		}
	}
	after := vlog.value(scrape(t, s.MetricsURL))
	if after-before < 16*apitest.DefaultMaxValue {
		t.Errorf("gokv_store_value_log_bytes went from %v to %v after 1 MiB of values", before, after)
	}
}

// TestDiskFullFlipsTheGuard: a store whose filesystem has less free than
// MIN_FREE_BYTES answers writes 507, and the gauge says it refuses them.
func TestDiskFullFlipsTheGuard(t *testing.T) {
	tests := []struct {
		name         string
		minFreeBytes int64
		code         int
		refusing     float64
	}{
		{"room", 1 << 20, http.StatusCreated, 0},
		{"full", 1 << 62, http.StatusInsufficientStorage, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := apitest.StartWith(t, apitest.Config{MinFreeBytes: tt.minFreeBytes})
			if code := do(t, http.MethodPut, s.URL+"/b/k", s.Token, "v"); code != tt.code {
				t.Fatalf("PUT: %d, want %d", code, tt.code)
			}
			families := scrape(t, s.MetricsURL)
			if got := (series{family: "gokv_store_refusing_writes"}).value(families); got != tt.refusing {
				t.Errorf("gokv_store_refusing_writes = %v, want %v", got, tt.refusing)
			}
			refused := series{family: "gokv_http_requests_total", labels: map[string]string{"method": "PUT", "code": "507"}}
			if got := refused.value(families); got != tt.refusing {
				t.Errorf("507s counted: %v, want %v", got, tt.refusing)
			}
		})
	}
}

// TestWatchers counts a watch stream while it is open, and leaves it out
// of the duration histogram even once it has ended.
func TestWatchers(t *testing.T) {
	s := apitest.Start(t)
	watchers := series{family: "gokv_watchers"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/b/?watch=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := watchers.value(scrape(t, s.MetricsURL)); got != 1 {
		t.Errorf("gokv_watchers = %v with one watch open, want 1", got)
	}
	cancel()
	resp.Body.Close()
	waitFor(t, func() bool { return watchers.value(scrape(t, s.MetricsURL)) == 0 }, "gokv_watchers to drop to 0")
	families := scrape(t, s.MetricsURL)
	ended := series{family: "gokv_http_requests_total", labels: map[string]string{"method": "GET", "route": dataRoute, "code": "200"}}
	waitFor(t, func() bool { families = scrape(t, s.MetricsURL); return ended.value(families) == 1 }, "the stream to be counted")
	if got := (series{family: "gokv_http_request_duration_seconds", labels: map[string]string{"method": "GET", "route": dataRoute}}).value(families); got != 0 {
		t.Errorf("the watch stream was timed: %v observations", got)
	}
}

// waitFor polls cond until it holds; what it waits for happens in other
// goroutines, after the client has seen its end of the stream.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBackupMovesTheBackupGauges: a backup taken over the API sets the
// time and size of the last successful backup.
func TestBackupMovesTheBackupGauges(t *testing.T) {
	s := apitest.Start(t)
	if code := do(t, http.MethodPut, s.URL+"/b/k", s.Token, "v"); code != http.StatusCreated {
		t.Fatalf("PUT: %d", code)
	}
	before := time.Now()
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/_admin/backup", nil)
	req.Header.Set("Authorization", "Bearer "+s.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("backup: %d, %v", resp.StatusCode, err)
	}
	families := scrape(t, s.MetricsURL)
	at := series{family: "gokv_backup_last_success_timestamp_seconds"}.value(families)
	size := series{family: "gokv_backup_last_size_bytes"}.value(families)
	if at < float64(before.Unix()) || size != float64(len(body)) {
		t.Errorf("after a backup of %d bytes at %s: timestamp %v, size %v", len(body), before, at, size)
	}
}

func TestBackupSucceeded(t *testing.T) {
	m := metrics.New()
	at := time.Unix(1_800_000_000, 500_000_000)
	m.BackupSucceeded(at, 12345)
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			if metric.Gauge != nil {
				got[f.GetName()] = metric.Gauge.GetValue()
			}
		}
	}
	if got["gokv_backup_last_success_timestamp_seconds"] != 1_800_000_000.5 || got["gokv_backup_last_size_bytes"] != 12345 {
		t.Errorf("after BackupSucceeded: timestamp %v, size %v; want 1800000000.5 and 12345",
			got["gokv_backup_last_success_timestamp_seconds"], got["gokv_backup_last_size_bytes"])
	}
}

// TestNilRecordsNothing: with metrics off the server passes a nil
// *Metrics around; every method must be safe to call on it.
func TestNilRecordsNothing(t *testing.T) {
	var m *metrics.Metrics
	m.AuthRefused(metrics.ReasonMissing)
	m.Committed(1, 1, 0, time.Millisecond)
	m.GarbageCollected(1)
	m.BackupSucceeded(time.Now(), 1)
	if m.Middleware() == nil {
		t.Error("nil Middleware")
	}
}
