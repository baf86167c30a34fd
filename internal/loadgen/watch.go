package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The watch fan-out: Watchers watches of one bucket while one writer PUTs
// key-0, key-1, ... one at a time at a steady Rate. The writer waits for
// each answer, so the store commits the keys in that order and every
// watcher must see exactly them, in that order, with increasing ids.

// WatchResult is what a watch run measured.
type WatchResult struct {
	Workload  Workload `json:"workload"`
	Watchers  int      `json:"watchers"`
	Rate      float64  `json:"target_rate"`
	ValueSize int      `json:"value_size"`
	// ConnectSecs is how long the watches took to start, all of them
	// before the first write.
	ConnectSecs float64 `json:"connect_seconds"`

	// Writes is the PUTs acknowledged, in WriteSecs; WriteErrors the
	// ones that were not.
	Writes      int64   `json:"writes"`
	WriteErrors int64   `json:"write_errors"`
	WriteSecs   float64 `json:"write_seconds"`
	WriteRate   float64 `json:"writes_per_second"`

	// Delivered counts events received by all watchers together, in
	// Seconds: from the first write to the last event received.
	Delivered int64   `json:"events_delivered"`
	Seconds   float64 `json:"seconds"`
	EventRate float64 `json:"events_per_second"`
	// Latency is from sending a PUT to a watcher receiving its event.
	Latency Latency `json:"delivery_latency_ms"`

	// Complete counts watchers that received every acknowledged write's
	// event, in order; Missed those that did not (fewer events, another
	// key, an id not above the last), Reset those the server reset.
	// Problems describes the first few.
	Complete int      `json:"watchers_complete"`
	Missed   int      `json:"watchers_missed"`
	Reset    int      `json:"watchers_reset"`
	Problems []string `json:"problems,omitempty"`

	ClientCPU float64 `json:"client_cpu_percent"`
}

// Failed reports whether a write failed or a watcher did not receive
// every event.
func (r WatchResult) Failed() bool {
	return r.WriteErrors > 0 || r.Complete != r.Watchers
}

// maxProblems bounds WatchResult.Problems.
const maxProblems = 10

// maxLatencySamples bounds the writes whose delivery latency a run
// measures (8 bytes each).
const maxLatencySamples = 1 << 22

// drainTimeout is how long a run, once the last write is answered, waits
// for watchers that still lack events while none arrives.
const drainTimeout = 10 * time.Second

// RunWatch starts cfg.Watchers watches of cfg.Bucket, then PUTs at
// cfg.Rate until cfg.Duration or cfg.Requests, and waits for every
// watcher to receive every event. Missed events, resets and failed writes
// are counted in the result; an error means the run could not be made (a
// bad config, or a watch that could not start).
func RunWatch(ctx context.Context, cfg Config) (WatchResult, error) {
	if err := cfg.Validate(); err != nil {
		return WatchResult{}, err
	}
	if cfg.Workload != Watch {
		return WatchResult{}, fmt.Errorf("RunWatch runs the watch workload, not %q", cfg.Workload)
	}
	addr, _ := dialAddr(cfg.URL)
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	res := WatchResult{Workload: Watch, Watchers: cfg.Watchers, Rate: cfg.Rate, ValueSize: cfg.ValueSize}

	start := time.Now()
	watchers, err := startWatchers(ctx, cfg, addr)
	defer func() {
		for _, w := range watchers {
			w.nc.Close()
		}
	}()
	if err != nil {
		return WatchResult{}, err
	}
	res.ConnectSecs = time.Since(start).Seconds()

	// The writer fills sent[i] with the time key-i was sent, relative to
	// t0, for the watchers' latency; it stores only as many as the run
	// can write, at most maxLatencySamples, and watchers skip the latency
	// of later ones.
	capacity := int64(maxLatencySamples)
	if cfg.Duration > 0 {
		capacity = min(capacity, int64(cfg.Rate*cfg.Duration.Seconds())+1)
	}
	if cfg.Requests > 0 {
		capacity = min(capacity, cfg.Requests)
	}
	run := &watchRun{sent: make([]atomic.Int64, capacity), t0: time.Now(), finished: make(chan struct{})}
	cpuStart := cpuTime()
	var wg sync.WaitGroup
	for _, w := range watchers {
		wg.Go(func() { w.read(run) })
	}
	progressDone := run.progress(cfg, watchers)
	writeSecs := run.write(ctx, cfg, addr, &res)

	// Wait for every watcher to reach the last acknowledged write (or to
	// have failed already) while events keep coming, then end the reads
	// still blocked. A server far behind may deliver for a long time
	// after the last write was answered.
	written := run.acked.Load()
	deadline := time.Now().Add(drainTimeout)
	for last := int64(-1); ctx.Err() == nil && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		waiting, delivered := false, int64(0)
		for _, w := range watchers {
			n := w.events.Load()
			delivered += n
			waiting = waiting || n < written && !w.done.Load() && !w.failed.Load()
		}
		if !waiting {
			break
		}
		if delivered != last {
			last, deadline = delivered, time.Now().Add(drainTimeout)
		}
	}
	run.stopping.Store(true)
	for _, w := range watchers {
		w.nc.Close()
	}
	wg.Wait()
	close(run.finished)
	<-progressDone
	cpu := cpuTime() - cpuStart

	res.WriteSecs = writeSecs.Seconds()
	if res.WriteSecs > 0 {
		res.WriteRate = float64(res.Writes) / res.WriteSecs
	}
	var hist histogram
	var lastEvent int64
	for i, w := range watchers {
		hist.merge(&w.hist)
		res.Delivered += w.events.Load()
		lastEvent = max(lastEvent, w.lastAt)
		problem := w.problem
		switch {
		case w.reset:
			res.Reset++
			problem = "reset by the server"
		case problem == "" && w.events.Load() != written:
			problem = fmt.Sprintf("received %d events of %d", w.events.Load(), written)
		}
		if problem == "" {
			res.Complete++
			continue
		}
		if !w.reset {
			res.Missed++
		}
		if len(res.Problems) < maxProblems {
			res.Problems = append(res.Problems, fmt.Sprintf("watcher %d: %s", i, problem))
		}
	}
	res.Seconds = time.Duration(lastEvent).Seconds()
	if res.Seconds > 0 {
		res.EventRate = float64(res.Delivered) / res.Seconds
	}
	if elapsed := time.Since(run.t0); elapsed > 0 {
		res.ClientCPU = 100 * cpu.Seconds() / elapsed.Seconds()
	}
	res.Latency = Latency{
		P50:  ms(hist.quantile(0.50)),
		P90:  ms(hist.quantile(0.90)),
		P99:  ms(hist.quantile(0.99)),
		Max:  ms(hist.max),
		Mean: ms(hist.mean()),
	}
	return res, nil
}

// watchRun is what the writer and the watchers of a run share.
type watchRun struct {
	t0   time.Time
	sent []atomic.Int64 // nanoseconds after t0 that key-i was sent
	// acked counts the writes acknowledged so far.
	acked atomic.Int64
	// stopping is set before the run closes the watchers' connections,
	// so that they do not count the closing as a problem.
	stopping atomic.Bool
	// finished is closed when the watchers have stopped.
	finished chan struct{}
}

// watcher is one watch: its connection and what it received.
type watcher struct {
	nc net.Conn
	r  *bufio.Reader // the response body: the event stream
	// events is read by the run while the watcher runs.
	events atomic.Int64
	done   atomic.Bool // the watcher stopped reading
	lastID uint64
	lastAt int64 // when the last event came, nanoseconds after t0
	hist   histogram
	// problem is the first thing that was wrong (failed says there is
	// one, to the run); reset is the server's reset event.
	problem string
	failed  atomic.Bool
	reset   bool
}

func (w *watcher) fail(format string, args ...any) {
	if w.problem == "" {
		w.problem = fmt.Sprintf(format, args...)
		w.failed.Store(true)
	}
}

// dialsInFlight bounds the watches starting at once, so that the server's
// accept queue does not overflow.
const dialsInFlight = 64

// startWatchers starts every watch and returns once the server has
// answered each with the stream's header: it subscribes before it
// answers, so every write from then on reaches the watcher.
func startWatchers(ctx context.Context, cfg Config, addr string) ([]*watcher, error) {
	watchers := make([]*watcher, cfg.Watchers)
	errs := make([]error, cfg.Watchers)
	slots := make(chan struct{}, dialsInFlight)
	var wg sync.WaitGroup
	for i := range watchers {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			watchers[i], errs[i] = startWatcher(ctx, cfg, addr)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("watch %d: %w", i, errs[i])
			}
		})
	}
	wg.Wait()
	started := watchers[:0]
	for _, w := range watchers {
		if w != nil {
			started = append(started, w)
		}
	}
	return started, errors.Join(errs...)
}

func startWatcher(ctx context.Context, cfg Config, addr string) (*watcher, error) {
	d := net.Dialer{Timeout: cfg.Timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Now().Add(cfg.Timeout))
	req := "GET /" + cfg.Bucket + "/?watch=true HTTP/1.1\r\nHost: " + addr +
		"\r\nAuthorization: Bearer " + cfg.Token + "\r\nAccept: text/event-stream\r\n\r\n"
	br := bufio.NewReaderSize(nc, 16<<10)
	resp, err := func() (*http.Response, error) {
		if _, err := io.WriteString(nc, req); err != nil {
			return nil, err
		}
		return http.ReadResponse(br, nil)
	}()
	if err != nil {
		nc.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		nc.Close()
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		nc.Close()
		return nil, fmt.Errorf("answered %q, not an event stream", resp.Header.Get("Content-Type"))
	}
	// The stream lives as long as the run.
	nc.SetDeadline(time.Time{})
	return &watcher{nc: nc, r: bufio.NewReaderSize(resp.Body, 16<<10)}, nil
}

// read reads events until the connection closes, checking each: a put of
// the next key, with an id above the last.
func (w *watcher) read(run *watchRun) {
	defer w.done.Store(true)
	var typ, id, data []byte
	for {
		line, err := w.r.ReadSlice('\n')
		if err != nil {
			if !run.stopping.Load() {
				w.fail("stream ended: %v", err)
			}
			return
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(line) > 0 {
			field, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(field) {
			case "": // a comment: the heartbeat
			case "event":
				typ = append(typ[:0], value...)
			case "id":
				id = append(id[:0], value...)
			case "data":
				data = append(data[:0], value...)
			}
			continue
		}
		// A blank line ends the event.
		switch string(typ) {
		case "reset":
			w.reset = true
			return
		case "put", "delete":
			w.event(run, string(typ), id, data)
		}
		typ, id, data = typ[:0], id[:0], data[:0]
	}
}

// event checks and counts one event.
func (w *watcher) event(run *watchRun, typ string, id, data []byte) {
	now := time.Since(run.t0)
	n := w.events.Load()
	w.events.Store(n + 1)
	w.lastAt = int64(now)
	if w.problem != "" {
		return
	}
	var ev struct {
		Key string `json:"key"`
	}
	version, err := strconv.ParseUint(string(id), 10, 64)
	switch {
	case err != nil:
		w.fail("event %d: bad id %q", n, id)
	case version <= w.lastID:
		w.fail("event %d: id %d after %d", n, version, w.lastID)
	case json.Unmarshal(data, &ev) != nil:
		w.fail("event %d: bad data %q", n, data)
	case typ != "put" || ev.Key != KeyName(int(n)):
		w.fail("event %d: %s of %q, want a put of %q", n, typ, ev.Key, KeyName(int(n)))
	}
	w.lastID = version
	if n < int64(len(run.sent)) {
		w.hist.record(now - time.Duration(run.sent[n].Load()))
	}
}

// write PUTs key-0, key-1, ... at cfg.Rate until cfg.Duration or
// cfg.Requests or ctx ends it, and returns how long it wrote. The PUTs are
// pipelined on one connection: each goes at its time whether or not the
// ones before were answered, so a server that falls behind does not slow
// the load down, and the server handles a connection's requests in turn,
// so it commits the keys in order. Only a full connection (the server not
// reading) holds the writer back; WriteRate shows it. Writing stops at the
// first failed write: the watchers' check relies on every key being
// written in turn.
func (run *watchRun) write(ctx context.Context, cfg Config, addr string, res *WatchResult) time.Duration {
	g := &generator{cfg: cfg, addrs: []string{addr}, value: make([]byte, cfg.ValueSize)}
	c := newConn(addr, cfg.Timeout)
	if err := c.dial(); err != nil {
		res.WriteErrors++
		res.Problems = append(res.Problems, fmt.Sprintf("writer: %v", err))
		return 0
	}
	defer c.close()
	w := &worker{conn: c}
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	var end time.Time
	if cfg.Duration > 0 {
		end = run.t0.Add(cfg.Duration)
	}

	// The reader takes the answers, in order: one for each PUT the
	// sender passes it, until the sender closes pending or a PUT fails.
	pending := make(chan int64, 1<<16)
	failed := make(chan struct{})
	readerDone := make(chan error, 1)
	go func() {
		var err error
		for i := range pending {
			if err != nil {
				continue // let the sender finish
			}
			c.nc.SetReadDeadline(time.Now().Add(cfg.Timeout))
			var status int
			status, _, err = c.response()
			if err == nil && status != 201 && status != 204 {
				err = fmt.Errorf("status %d", status)
			}
			if err != nil {
				err = fmt.Errorf("PUT /%s/%s: %w", cfg.Bucket, KeyName(int(i)), err)
				close(failed)
				continue
			}
			run.acked.Add(1)
		}
		readerDone <- err
	}()

	for i := int64(0); cfg.Requests == 0 || i < cfg.Requests; i++ {
		// A steady rate: key-i goes at t0 + i×interval, or at once when
		// the writer is behind.
		at := run.t0.Add(time.Duration(i) * interval)
		if !end.IsZero() && !at.Before(end) {
			break
		}
		select {
		case <-ctx.Done():
		case <-failed:
		case <-time.After(time.Until(at)):
		}
		if ctx.Err() != nil || isClosed(failed) {
			break
		}
		g.request(w, true, int(i))
		if i < int64(len(run.sent)) {
			run.sent[i].Store(int64(time.Since(run.t0)))
		}
		c.nc.SetWriteDeadline(time.Now().Add(cfg.Timeout))
		if _, err := c.nc.Write(c.buf); err != nil {
			res.WriteErrors++
			res.Problems = append(res.Problems, fmt.Sprintf("writer: PUT /%s/%s: %v", cfg.Bucket, KeyName(int(i)), err))
			break
		}
		pending <- i
	}
	close(pending)
	if err := <-readerDone; err != nil {
		res.WriteErrors++
		res.Problems = append(res.Problems, fmt.Sprintf("writer: %v", err))
	}
	res.Writes = run.acked.Load()
	return time.Since(run.t0)
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// progress writes a line every interval until run.finished is closed;
// the returned channel closes when it has stopped.
func (run *watchRun) progress(cfg Config, watchers []*watcher) <-chan struct{} {
	done := make(chan struct{})
	if cfg.Progress == nil || cfg.ProgressInterval <= 0 {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		tick := time.NewTicker(cfg.ProgressInterval)
		defer tick.Stop()
		for {
			select {
			case <-run.finished:
				return
			case now := <-tick.C:
				var delivered, slowest int64 = 0, -1
				for _, w := range watchers {
					n := w.events.Load()
					delivered += n
					if slowest < 0 || n < slowest {
						slowest = n
					}
				}
				fmt.Fprintf(cfg.Progress, "%7.1fs %8d written %10d events delivered, slowest watcher at %d\n",
					now.Sub(run.t0).Seconds(), run.acked.Load(), delivered, slowest)
			}
		}
	}()
	return done
}
