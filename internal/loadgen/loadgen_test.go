package loadgen_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gokv-service/gokv/internal/apitest"
	"github.com/gokv-service/gokv/internal/etcdstore/etcdtest"
	"github.com/gokv-service/gokv/internal/loadgen"
)

// config returns a small valid run against ts.
func config(ts *apitest.Server) loadgen.Config {
	return loadgen.Config{
		URL:         ts.URL,
		Token:       ts.Token,
		Bucket:      "bench",
		Workload:    loadgen.Get,
		ReadRatio:   0.9,
		ValueSize:   100,
		Keys:        50,
		Concurrency: 4,
		Requests:    400,
		Preload:     true,
		TxnOps:      8,
	}
}

func TestRunAgainstGokv(t *testing.T) {
	ts := apitest.Start(t)
	tests := []struct {
		name       string
		workload   loadgen.Workload
		valueSize  int
		wantReads  func(n int64) bool
		wantStatus []string
	}{
		{"get", loadgen.Get, 100, func(n int64) bool { return n == 400 }, []string{"200"}},
		{"put", loadgen.Put, 4096, func(n int64) bool { return n == 0 }, []string{"204"}},
		// 90% of 400 is 360; allow for chance (±5 sigma is about ±30).
		{"mixed", loadgen.Mixed, 100, func(n int64) bool { return n > 330 && n < 390 }, []string{"200", "204"}},
		{"txn", loadgen.Txn, 100, func(n int64) bool { return n == 0 }, []string{"200"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config(ts)
			cfg.Bucket = tt.name
			cfg.Workload = tt.workload
			cfg.ValueSize = tt.valueSize
			res, err := loadgen.Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests != 400 || res.Reads+res.Writes != 400 || res.Errors != 0 {
				t.Fatalf("requests %d (reads %d, writes %d), errors %d %v; want 400 without errors",
					res.Requests, res.Reads, res.Writes, res.Errors, res.ErrorsBy)
			}
			if !tt.wantReads(res.Reads) {
				t.Errorf("%d reads of 400", res.Reads)
			}
			var answered int64
			for _, s := range tt.wantStatus {
				answered += res.Statuses[s]
			}
			if answered != 400 || len(res.Statuses) != len(tt.wantStatus) {
				t.Errorf("statuses %v, want only %v", res.Statuses, tt.wantStatus)
			}
			perRequest := 1.0
			if tt.workload == loadgen.Txn {
				perRequest = float64(cfg.TxnOps)
			}
			if res.OpsPerSecond != perRequest*res.Throughput {
				t.Errorf("%.0f ops/s at %.0f requests/s, want %g ops a request", res.OpsPerSecond, res.Throughput, perRequest)
			}
			l := res.Latency
			if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) || res.Throughput <= 0 {
				t.Errorf("latency %+v, throughput %f: not a plausible distribution", l, res.Throughput)
			}
			// The values really are in the store, at the size asked for.
			for _, i := range []int{0, cfg.Keys - 1} {
				e, err := ts.Store.Get(context.Background(), cfg.Bucket, loadgen.KeyName(i), nil)
				if err != nil || len(e.Value) != tt.valueSize {
					t.Errorf("stored %s: %d bytes, %v; want %d bytes", loadgen.KeyName(i), len(e.Value), err, tt.valueSize)
				}
			}
		})
	}
}

func TestErrorsAreCountedByStatus(t *testing.T) {
	ts := apitest.Start(t)
	cfg := config(ts)
	cfg.Preload = false
	cfg.Requests = 100
	res, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 100 || res.ErrorsBy["404"] != 100 {
		t.Errorf("GETs of keys never written: errors %d %v, want 100 404s", res.Errors, res.ErrorsBy)
	}

	cfg.Token = apitest.MintToken(t, time.Hour) + "x"
	res, err = loadgen.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.ErrorsBy["401"] != 100 {
		t.Errorf("bad token: errors %v, want 100 401s", res.ErrorsBy)
	}
	var out bytes.Buffer
	if err := res.WriteText(&out); err != nil || !strings.Contains(out.String(), "errors      100: 401: 100") {
		t.Errorf("text report does not show the errors by status:\n%s", out.String())
	}
}

func TestPreloadFailureIsAnError(t *testing.T) {
	ts := apitest.Start(t)
	cfg := config(ts)
	cfg.Token = "not-a-token"
	if _, err := loadgen.Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "status 401") {
		t.Fatalf("Run with a preload that is refused: %v, want an error naming status 401", err)
	}
}

func TestDurationBoundsTheRun(t *testing.T) {
	ts := apitest.Start(t)
	cfg := config(ts)
	cfg.Requests = 0
	cfg.Duration = 300 * time.Millisecond
	var progress bytes.Buffer
	cfg.Progress = &progress
	cfg.ProgressInterval = 100 * time.Millisecond
	start := time.Now()
	res, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a 300 ms run took %s", took)
	}
	if res.Seconds < 0.3 || res.Seconds > 2 || res.Requests == 0 {
		t.Errorf("ran %.2f s, %d requests; want about 0.3 s and some requests", res.Seconds, res.Requests)
	}
	if n := strings.Count(progress.String(), "req/s"); n < 1 {
		t.Errorf("no progress line in %q", progress.String())
	}
}

// TestRunSpreadsOverURLs: with two servers, connection n talks to the
// n-th modulo two. The preload writes key i on connection i%4, so each
// server holds half the keys, and the GETs that follow find about half
// of theirs.
func TestRunSpreadsOverURLs(t *testing.T) {
	a, b := apitest.Start(t), apitest.Start(t)
	cfg := config(a)
	cfg.URL = a.URL + "," + b.URL
	res, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Servers != 2 || res.Statuses["200"] == 0 || res.Statuses["404"] == 0 {
		t.Errorf("servers %d, statuses %v; want 2 servers, 200s and 404s", res.Servers, res.Statuses)
	}
	for i, srv := range []*apitest.Server{a, b} {
		for k := range cfg.Keys {
			_, err := srv.Store.Get(context.Background(), cfg.Bucket, loadgen.KeyName(k), nil)
			if want := k%2 == i; (err == nil) != want {
				t.Errorf("server %d, %s: %v; want it there: %v", i, loadgen.KeyName(k), err, want)
			}
		}
	}
}

func TestServerDownIsTransportErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	cfg := loadgen.Config{URL: url, Token: "t", Bucket: "b", Workload: loadgen.Put, Keys: 1, Concurrency: 2,
		Duration: 200 * time.Millisecond, Timeout: time.Second}
	res, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors == 0 || res.ErrorsBy["transport"] != res.Errors || res.FirstError == "" {
		t.Errorf("errors %d %v (%q), want only transport errors", res.Errors, res.ErrorsBy, res.FirstError)
	}
}

// TestResponseFraming checks the small HTTP client on answers gokv does
// not send but a proxy in front of it might: chunked bodies, bodies up to
// the end of the connection, Connection: close.
func TestResponseFraming(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"chunked", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("first"))
			w.(http.Flusher).Flush()
			w.Write([]byte(strings.Repeat("x", 10000)))
		}},
		{"connection close", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			w.Write([]byte("bye"))
		}},
		{"no content", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			cfg := loadgen.Config{URL: srv.URL, Token: "t", Bucket: "b", Workload: loadgen.Get, Keys: 3, Concurrency: 2, Requests: 50}
			res, err := loadgen.Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := res.Statuses["200"] + res.Statuses["204"]
			if got != 50 || res.ErrorsBy["transport"] != 0 {
				t.Errorf("statuses %v, errors %v (%s); want 50 answers", res.Statuses, res.ErrorsBy, res.FirstError)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	valid := loadgen.Config{URL: "http://127.0.0.1:8080", Bucket: "b", Workload: loadgen.Mixed, ReadRatio: 0.5,
		Keys: 1, Concurrency: 1, Duration: time.Second}
	if err := valid.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := []struct {
		name   string
		change func(*loadgen.Config)
		want   string
	}{
		{"https", func(c *loadgen.Config) { c.URL = "https://gokv" }, "url must look like"},
		{"path", func(c *loadgen.Config) { c.URL = "http://gokv/api" }, "url must look like"},
		{"bucket", func(c *loadgen.Config) { c.Bucket = "a:b" }, "invalid bucket"},
		{"workload", func(c *loadgen.Config) { c.Workload = "scan" }, "workload must be"},
		{"txn ops", func(c *loadgen.Config) { c.Workload, c.TxnOps = loadgen.Txn, 129 }, "ops per transaction must be 1 to 128"},
		{"watchers", func(c *loadgen.Config) { c.Workload, c.Rate = loadgen.Watch, 10 }, "watchers must be at least 1"},
		{"rate", func(c *loadgen.Config) { c.Workload, c.Watchers = loadgen.Watch, 10 }, "rate must be above 0"},
		{"ratio", func(c *loadgen.Config) { c.ReadRatio = 1.5 }, "read ratio"},
		{"keys", func(c *loadgen.Config) { c.Keys = 0 }, "keys must be"},
		{"concurrency", func(c *loadgen.Config) { c.Concurrency = 0 }, "concurrency must be"},
		{"unbounded", func(c *loadgen.Config) { c.Duration = 0 }, "must be bounded"},
		{"one of several urls", func(c *loadgen.Config) { c.URL = "http://a:1,https://b" }, "url must look like"},
		{"watch of several urls", func(c *loadgen.Config) {
			c.URL, c.Workload, c.Watchers, c.Rate = "http://a:1,http://b:1", loadgen.Watch, 1, 1
		}, "the watch workload takes one url"},
		{"target", func(c *loadgen.Config) { c.Target = "redis" }, "target must be"},
		{"txn through the gateway", func(c *loadgen.Config) {
			c.Target, c.Workload, c.TxnOps = loadgen.TargetEtcdGateway, loadgen.Txn, 1
		}, "takes the get, put and mixed workloads"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			tt.change(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func ExampleKeyName() {
	fmt.Println(loadgen.KeyName(42))
	// Output: key-42
}

// TestRunAgainstEtcdGateway sends the gateway target's reads and writes
// to a real etcd member: every answer is 200, and the preload left each
// key with the run's value under /bench/<bucket>/.
func TestRunAgainstEtcdGateway(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	cfg := loadgen.Config{URL: cluster.Endpoint(0), Target: loadgen.TargetEtcdGateway, Bucket: "gw",
		Workload: loadgen.Mixed, ReadRatio: 0.5, ValueSize: 100, Keys: 20, Concurrency: 4, Requests: 200, Preload: true}
	res, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Statuses["200"] != 200 || res.Reads == 0 || res.Writes == 0 {
		t.Fatalf("statuses %v, errors %v (%s), %d reads, %d writes; want 200 answers 200 of both kinds",
			res.Statuses, res.ErrorsBy, res.FirstError, res.Reads, res.Writes)
	}
	resp, err := cluster.Client(t).Get(context.Background(), "/bench/gw/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != cfg.Keys {
		t.Fatalf("%d keys under /bench/gw/, want %d", len(resp.Kvs), cfg.Keys)
	}
	for _, kv := range resp.Kvs {
		if len(kv.Value) != cfg.ValueSize || !bytes.HasPrefix(kv.Value, []byte("abc")) {
			t.Errorf("%s = %q, want the run's %d-byte value", kv.Key, kv.Value, cfg.ValueSize)
		}
	}
}
