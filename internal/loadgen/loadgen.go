// Package loadgen drives a running gokv with a fixed workload and measures
// what it gets back: throughput, the latency distribution and the answers
// by status. It is the engine of gokv-bench, in the spirit of
// redis-benchmark: every run is bounded by a request count, a duration or
// both.
package loadgen

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gokv-service/gokv/internal/kv"
)

// Workload says which requests a run sends.
type Workload string

// The workloads.
const (
	Get   Workload = "get"   // only GETs of preloaded keys
	Put   Workload = "put"   // only PUTs
	Mixed Workload = "mixed" // GETs with probability ReadRatio, else PUTs
	// Txn sends POST /_txn, each with TxnOps puts of keys picked like a
	// PUT's.
	Txn Workload = "txn"
	// Watch runs Watchers watches of the bucket while one connection
	// PUTs at Rate; see RunWatch.
	Watch Workload = "watch"
)

// Target says which HTTP API a run's requests speak.
type Target string

// The targets.
const (
	// TargetGokv is gokv's API: GET and PUT /bucket/key with a token.
	TargetGokv Target = "gokv"
	// TargetEtcdGateway is etcd's own JSON gateway, which gokv on etcd
	// stands in for: POST /v3/kv/range and /v3/kv/put with the key and
	// value in base64, no token. Keys are /bench/<bucket>/key-<i>, as
	// long as gokv's under its /gokv/ prefix. Get, Put and Mixed only.
	TargetEtcdGateway Target = "etcd-gateway"
)

// gatewayPrefix is where the etcd gateway's keys live.
const gatewayPrefix = "/bench/"

// Config describes one run.
type Config struct {
	// URL is the server's base URL, http://host:port, or several
	// separated by commas (replicas of one service): connection n talks
	// to the n-th modulo their number. The watch workload takes one.
	URL string
	// Target is the API the requests speak; empty means TargetGokv.
	Target Target
	// Token is sent as the bearer token of every request.
	Token string
	// Bucket holds the run's keys, named key-0 ... key-(Keys-1).
	Bucket   string
	Workload Workload
	// ReadRatio is the share of GETs in the Mixed workload, 0 to 1.
	ReadRatio float64
	// ValueSize is the size of every value written, in bytes.
	ValueSize int
	// Keys is how many distinct keys requests pick from, uniformly.
	Keys int
	// Concurrency is the number of connections, each with one request in
	// flight at a time.
	Concurrency int
	// Duration and Requests bound the measured phase; it ends at the
	// first reached. At least one must be set.
	Duration time.Duration
	Requests int64
	// Preload writes every key once before the measured phase, so that
	// GETs find their keys.
	Preload bool
	// Timeout bounds each request; 0 means 10 s.
	Timeout time.Duration
	// Progress, when not nil, gets a line every ProgressInterval while
	// the measured phase runs.
	Progress         io.Writer
	ProgressInterval time.Duration

	// TxnOps is the number of puts in each transaction of the Txn
	// workload, 1 to kv.MaxOps.
	TxnOps int
	// Watchers and Rate are the Watch workload's watches and its
	// writer's PUTs per second.
	Watchers int
	Rate     float64
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	addrs, err := dialAddrs(c.URL)
	if err != nil {
		return err
	}
	if len(addrs) > 1 && c.Workload == Watch {
		return errors.New("the watch workload takes one url")
	}
	switch c.Target {
	case "", TargetGokv:
	case TargetEtcdGateway:
		if c.Workload != Get && c.Workload != Put && c.Workload != Mixed {
			return fmt.Errorf("target %s takes the get, put and mixed workloads, not %q", c.Target, c.Workload)
		}
	default:
		return fmt.Errorf("target must be %s or %s, got %q", TargetGokv, TargetEtcdGateway, c.Target)
	}
	if err := kv.ValidateBucket(c.Bucket); err != nil {
		return fmt.Errorf("bucket %q: %w", c.Bucket, err)
	}
	switch c.Workload {
	case Get, Put, Mixed:
	case Txn:
		if c.TxnOps < 1 || c.TxnOps > kv.MaxOps {
			return fmt.Errorf("ops per transaction must be 1 to %d, got %d", kv.MaxOps, c.TxnOps)
		}
	case Watch:
		if c.Watchers < 1 {
			return fmt.Errorf("watchers must be at least 1, got %d", c.Watchers)
		}
		if c.Rate <= 0 {
			return fmt.Errorf("rate must be above 0 PUT/s, got %g", c.Rate)
		}
	default:
		return fmt.Errorf("workload must be get, put, mixed, txn or watch, got %q", c.Workload)
	}
	if c.ReadRatio < 0 || c.ReadRatio > 1 {
		return fmt.Errorf("read ratio must be between 0 and 1, got %g", c.ReadRatio)
	}
	if c.ValueSize < 0 {
		return fmt.Errorf("value size must not be negative, got %d", c.ValueSize)
	}
	if c.Keys < 1 {
		return fmt.Errorf("keys must be at least 1, got %d", c.Keys)
	}
	// A watch run's writer is one connection.
	if c.Concurrency < 1 && c.Workload != Watch {
		return fmt.Errorf("concurrency must be at least 1, got %d", c.Concurrency)
	}
	if c.Duration < 0 || c.Requests < 0 {
		return errors.New("duration and requests must not be negative")
	}
	if c.Duration == 0 && c.Requests == 0 {
		return errors.New("set a duration, a request count or both: a run must be bounded")
	}
	return nil
}

// dialAddrs returns host:port of each of the comma-separated base URLs.
func dialAddrs(urls string) ([]string, error) {
	var addrs []string
	for u := range strings.SplitSeq(urls, ",") {
		addr, err := dialAddr(u)
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, addr)
	}
	return addrs, nil
}

// dialAddr returns host:port of a plain-HTTP base URL.
func dialAddr(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("url: %w", err)
	}
	if u.Scheme != "http" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", fmt.Errorf("url must look like http://host:port, got %q", base)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "80"), nil
	}
	return u.Host, nil
}

// KeyName is the name of key i of a run.
func KeyName(i int) string {
	return "key-" + strconv.Itoa(i)
}

// Result is what a run measured.
type Result struct {
	Workload Workload `json:"workload"`
	Target   Target   `json:"target"`
	// Servers is how many base URLs the load was spread over.
	Servers     int     `json:"servers"`
	ReadRatio   float64 `json:"read_ratio,omitempty"`
	TxnOps      int     `json:"txn_ops,omitempty"`
	ValueSize   int     `json:"value_size"`
	Keys        int     `json:"keys"`
	Concurrency int     `json:"concurrency"`

	// Requests counts every request sent in the measured phase, answered
	// or not; Reads and Writes split it.
	Requests int64   `json:"requests"`
	Reads    int64   `json:"reads"`
	Writes   int64   `json:"writes"`
	Seconds  float64 `json:"seconds"`
	// Throughput is answered requests per second, errors included.
	Throughput float64 `json:"requests_per_second"`
	// OpsPerSecond is Throughput in keys written or read: TxnOps times
	// it for the Txn workload, the same for the others.
	OpsPerSecond float64 `json:"ops_per_second"`
	// Latency is of answered requests, in milliseconds.
	Latency Latency `json:"latency_ms"`
	// Statuses counts answers by HTTP status.
	Statuses map[string]int64 `json:"statuses"`
	// Errors counts requests that did not get the expected answer (200
	// for GET, 201 or 204 for PUT): by status, and as "transport" when no
	// answer came at all. FirstError describes the first transport error.
	Errors      int64            `json:"errors"`
	ErrorsBy    map[string]int64 `json:"errors_by_status,omitempty"`
	FirstError  string           `json:"first_error,omitempty"`
	PreloadSecs float64          `json:"preload_seconds,omitempty"`
	// ClientCPU is the CPU time this process used per second of the
	// measured phase, in percent of one core: near the generator's core
	// count it is the generator, not the server, that sets the pace.
	ClientCPU float64 `json:"client_cpu_percent"`
}

// Latency is a latency distribution in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Run preloads if asked, then runs the measured phase until its bound or
// until ctx is done, and returns what it measured. Failed requests are
// counted, not returned as errors; an error means the run itself could
// not be made (a bad config or a failed preload). The Watch workload has
// a run of its own, RunWatch.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	if cfg.Workload == Watch {
		return Result{}, errors.New("the watch workload is run by RunWatch")
	}
	addrs, _ := dialAddrs(cfg.URL)
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Target == "" {
		cfg.Target = TargetGokv
	}
	g := &generator{cfg: cfg, addrs: addrs, value: make([]byte, cfg.ValueSize)}
	for i := range g.value {
		g.value[i] = 'a' + byte(i%26)
	}
	res := Result{Workload: cfg.Workload, Target: cfg.Target, Servers: len(addrs), ValueSize: cfg.ValueSize, Keys: cfg.Keys, Concurrency: cfg.Concurrency}
	switch cfg.Workload {
	case Mixed:
		res.ReadRatio = cfg.ReadRatio
	case Txn:
		res.TxnOps = cfg.TxnOps
	}
	if cfg.Workload == Txn || cfg.Target == TargetEtcdGateway {
		g.value64 = base64.StdEncoding.EncodeToString(g.value)
	}
	if cfg.Preload {
		start := time.Now()
		if err := g.preload(ctx); err != nil {
			return Result{}, err
		}
		res.PreloadSecs = time.Since(start).Seconds()
	}
	g.measure(ctx, &res)
	return res, nil
}

type generator struct {
	cfg Config
	// addrs are the servers' host:port; connection n talks to
	// addrs[n%len(addrs)].
	addrs []string
	value []byte
	// value64 is value in base64, as the JSON of a transaction or of
	// the etcd gateway carries it.
	value64 string
}

// worker is one connection's share of a run.
type worker struct {
	conn     *conn
	rng      *rand.Rand
	hist     histogram
	statuses [600]int64
	bad      [600]int64 // answers other than the expected ones
	reads    int64
	writes   int64
	errors   int64
	notSent  int64 // transport errors
	firstErr error
	body     []byte // a transaction's or the gateway's JSON
	key      []byte // the gateway's key
}

// newWorker returns the worker of connection n.
func (g *generator) newWorker(n int, seed uint64) *worker {
	return &worker{conn: newConn(g.addrs[n%len(g.addrs)], g.cfg.Timeout), rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// request formats a read or a write of key i into w.conn.buf, in the
// target's API.
func (g *generator) request(w *worker, put bool, i int) {
	if g.cfg.Target == TargetEtcdGateway {
		g.gatewayRequest(w, put, i)
		return
	}
	b := w.conn.buf[:0]
	if put {
		b = append(b, "PUT /"...)
	} else {
		b = append(b, "GET /"...)
	}
	b = append(b, g.cfg.Bucket...)
	b = append(b, "/key-"...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, w.conn.addr...)
	b = append(b, "\r\nAuthorization: Bearer "...)
	b = append(b, g.cfg.Token...)
	if put {
		b = append(b, "\r\nContent-Type: application/octet-stream\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(g.value)), 10)
		b = append(b, "\r\n\r\n"...)
		b = append(b, g.value...)
	} else {
		b = append(b, "\r\n\r\n"...)
	}
	w.conn.buf = b
}

// gatewayRequest formats the etcd gateway's range (read) or put (write)
// of key i into w.conn.buf: JSON with the key and value in base64, as
// etcd's gRPC gateway takes them.
func (g *generator) gatewayRequest(w *worker, put bool, i int) {
	key := append(w.key[:0], gatewayPrefix...)
	key = append(key, g.cfg.Bucket...)
	key = append(key, "/key-"...)
	key = strconv.AppendInt(key, int64(i), 10)
	w.key = key
	body := append(w.body[:0], `{"key":"`...)
	body = base64.StdEncoding.AppendEncode(body, key)
	if put {
		body = append(body, `","value":"`...)
		body = append(body, g.value64...)
	}
	body = append(body, `"}`...)
	w.body = body
	b := w.conn.buf[:0]
	if put {
		b = append(b, "POST /v3/kv/put HTTP/1.1\r\nHost: "...)
	} else {
		b = append(b, "POST /v3/kv/range HTTP/1.1\r\nHost: "...)
	}
	b = append(b, w.conn.addr...)
	b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	w.conn.buf = append(b, body...)
}

// ok reports whether status is the answer expected of a transaction, a
// write (put) or a read in the target's API.
func (g *generator) ok(status int, put, txn bool) bool {
	if txn || !put || g.cfg.Target == TargetEtcdGateway {
		return status == 200
	}
	return status == 201 || status == 204
}

// txnRequest formats a POST /_txn of cfg.TxnOps puts of random keys into
// w.conn.buf.
func (g *generator) txnRequest(w *worker) {
	body := append(w.body[:0], `{"ops":[`...)
	for i := range g.cfg.TxnOps {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, `{"op":"put","bucket":"`...)
		body = append(body, g.cfg.Bucket...)
		body = append(body, `","key":"key-`...)
		body = strconv.AppendInt(body, int64(w.rng.IntN(g.cfg.Keys)), 10)
		body = append(body, `","value":"`...)
		body = append(body, g.value64...)
		body = append(body, `"}`...)
	}
	body = append(body, "]}"...)
	w.body = body
	b := append(w.conn.buf[:0], "POST /_txn HTTP/1.1\r\nHost: "...)
	b = append(b, w.conn.addr...)
	b = append(b, "\r\nAuthorization: Bearer "...)
	b = append(b, g.cfg.Token...)
	b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	w.conn.buf = append(b, body...)
}

func (g *generator) preload(ctx context.Context) error {
	errs := make([]error, g.cfg.Concurrency)
	var wg sync.WaitGroup
	for n := range g.cfg.Concurrency {
		wg.Go(func() {
			w := g.newWorker(n, uint64(n))
			defer w.conn.close()
			for i := n; i < g.cfg.Keys && ctx.Err() == nil; i += g.cfg.Concurrency {
				g.request(w, true, i)
				status, err := w.conn.do()
				if err == nil && !g.ok(status, true, false) {
					err = fmt.Errorf("status %d", status)
				}
				if err != nil {
					errs[n] = fmt.Errorf("preload PUT /%s/%s: %w", g.cfg.Bucket, KeyName(i), err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ctx.Err()
}

func (g *generator) measure(ctx context.Context, res *Result) {
	if g.cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.cfg.Duration)
		defer cancel()
	}
	// Workers poll an atomic flag rather than ctx.Err(), which takes a
	// lock, once per request.
	var stop atomic.Bool
	stopped := context.AfterFunc(ctx, func() { stop.Store(true) })
	defer stopped()

	var issued, answered, failed atomic.Int64
	workers := make([]*worker, g.cfg.Concurrency)
	cpuStart := cpuTime()
	start := time.Now()
	finished := make(chan struct{})
	progressDone := g.progress(finished, start, &answered, &failed)
	var wg sync.WaitGroup
	for n := range workers {
		w := g.newWorker(n, uint64(n)+1<<32)
		workers[n] = w
		wg.Go(func() {
			defer w.conn.close()
			for !stop.Load() {
				if g.cfg.Requests > 0 && issued.Add(1) > g.cfg.Requests {
					return
				}
				txn := g.cfg.Workload == Txn
				put := txn || g.cfg.Workload == Put || (g.cfg.Workload == Mixed && w.rng.Float64() >= g.cfg.ReadRatio)
				if txn {
					g.txnRequest(w)
				} else {
					g.request(w, put, w.rng.IntN(g.cfg.Keys))
				}
				t0 := time.Now()
				status, err := w.conn.do()
				lat := time.Since(t0)
				if put {
					w.writes++
				} else {
					w.reads++
				}
				if err != nil {
					w.notSent++
					w.errors++
					failed.Add(1)
					if w.firstErr == nil {
						w.firstErr = err
					}
					// Do not spin on a server that is down.
					time.Sleep(10 * time.Millisecond)
					continue
				}
				w.hist.record(lat)
				w.statuses[status]++
				if !g.ok(status, put, txn) {
					w.bad[status]++
					w.errors++
					failed.Add(1)
				}
				answered.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpuStart
	close(finished)
	<-progressDone

	var hist histogram
	res.Statuses = map[string]int64{}
	res.ErrorsBy = map[string]int64{}
	var statuses, bad [600]int64
	for _, w := range workers {
		hist.merge(&w.hist)
		res.Reads += w.reads
		res.Writes += w.writes
		res.Errors += w.errors
		if w.notSent > 0 {
			res.ErrorsBy["transport"] += w.notSent
			if res.FirstError == "" {
				res.FirstError = w.firstErr.Error()
			}
		}
		for s := range statuses {
			statuses[s] += w.statuses[s]
			bad[s] += w.bad[s]
		}
	}
	for s := range statuses {
		if statuses[s] > 0 {
			res.Statuses[strconv.Itoa(s)] = statuses[s]
		}
		if bad[s] > 0 {
			res.ErrorsBy[strconv.Itoa(s)] = bad[s]
		}
	}
	if len(res.ErrorsBy) == 0 {
		res.ErrorsBy = nil
	}
	res.Requests = res.Reads + res.Writes
	res.Seconds = elapsed.Seconds()
	if elapsed > 0 {
		res.Throughput = float64(hist.total) / elapsed.Seconds()
		res.OpsPerSecond = res.Throughput
		if g.cfg.Workload == Txn {
			res.OpsPerSecond *= float64(g.cfg.TxnOps)
		}
		res.ClientCPU = 100 * cpu.Seconds() / elapsed.Seconds()
	}
	res.Latency = Latency{
		P50:  ms(hist.quantile(0.50)),
		P90:  ms(hist.quantile(0.90)),
		P99:  ms(hist.quantile(0.99)),
		Max:  ms(hist.max),
		Mean: ms(hist.mean()),
	}
}

// progress writes a line every interval until finished is closed; the
// returned channel closes when it has stopped.
func (g *generator) progress(finished <-chan struct{}, start time.Time, answered, failed *atomic.Int64) <-chan struct{} {
	done := make(chan struct{})
	if g.cfg.Progress == nil || g.cfg.ProgressInterval <= 0 {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		tick := time.NewTicker(g.cfg.ProgressInterval)
		defer tick.Stop()
		var last int64
		lastT := start
		for {
			select {
			case <-finished:
				return
			case now := <-tick.C:
				n := answered.Load()
				rate := float64(n-last) / now.Sub(lastT).Seconds()
				fmt.Fprintf(g.cfg.Progress, "%7.1fs %10d answered %9.0f req/s %7d errors\n",
					now.Sub(start).Seconds(), n, rate, failed.Load())
				last, lastT = n, now
			}
		}
	}()
	return done
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
