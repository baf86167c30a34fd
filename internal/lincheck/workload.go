package lincheck

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gokv-service/gokv/internal/client"
)

// Workload is the load of a fault test: clients that write new keys with
// unconditional PUTs, increment a few shared counters with If-Match
// read-modify-writes, and read the counters, each recording what it
// did in one History.
type Workload struct {
	// Targets are gokv base URLs; client i talks to Targets[i%len].
	Targets []string
	Token   string
	Bucket  string
	Clients int
	// Counters is how many counters the clients contend on: few, so
	// that increments race and some are refused with 412.
	Counters int
	// Timeout bounds each request; one that takes longer has an unknown
	// outcome.
	Timeout time.Duration
	// VisualizeDir is where Verify leaves porcupine's picture of a
	// history that is not linearizable; "" for the system's temporary
	// directory, which outlives the test that failed.
	VisualizeDir string
}

// Shares of the operations a client picks, out of ten.
const (
	putShare       = 4
	incrementShare = 4
)

// backoff is how long a client waits after a request failed, so that
// clients of a server that is down do not spin.
const backoff = 20 * time.Millisecond

// Run is a running Workload.
type Run struct {
	w       Workload
	history *History
	obs     *observer
	stop    context.CancelFunc
	done    sync.WaitGroup

	mu sync.Mutex
	// written and doubtful are the values of the new keys whose PUT was
	// acknowledged, and of those whose PUT's outcome is unknown.
	written, doubtful map[string]string
	// acked and unsure count each counter's increments acknowledged and
	// of unknown outcome.
	acked, unsure map[string]int
	byOutcome     map[string]int
}

// Start starts the clients; they run until Stop or until ctx is done.
func (w Workload) Start(ctx context.Context) *Run {
	ctx, cancel := context.WithCancel(ctx)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = w.Clients
	r := &Run{
		w:         w,
		history:   NewHistory(),
		obs:       &observer{next: transport, statuses: map[string]int{}},
		stop:      cancel,
		written:   map[string]string{},
		doubtful:  map[string]string{},
		acked:     map[string]int{},
		unsure:    map[string]int{},
		byOutcome: map[string]int{},
	}
	httpClient := &http.Client{Transport: r.obs}
	for id := range w.Clients {
		c := client.New(w.Targets[id%len(w.Targets)], w.Token, httpClient)
		r.done.Go(func() { r.client(ctx, id, c) })
	}
	return r
}

// Stop stops the clients and waits for them. Requests in flight are
// cancelled: their outcome is unknown.
func (r *Run) Stop() {
	r.stop()
	r.done.Wait()
}

// Answers returns the load's answers so far, counted as
// Report.Statuses counts them: a test takes them before and after a
// fault to see what the fault did.
func (r *Run) Answers() map[string]int {
	r.obs.mu.Lock()
	defer r.obs.mu.Unlock()
	return maps.Clone(r.obs.statuses)
}

// CounterKey is the key of counter i.
func CounterKey(i int) string { return "counter-" + strconv.Itoa(i) }

func (r *Run) client(ctx context.Context, id int, c *client.Client) {
	rng := rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))
	for seq := 0; ctx.Err() == nil; seq++ {
		var ok bool
		switch n := rng.IntN(10); {
		case n < putShare:
			ok = r.put(ctx, c, id, fmt.Sprintf("w-%d-%d", id, seq), fmt.Sprintf("c%d-s%d", id, seq))
		case n < putShare+incrementShare:
			ok = r.increment(ctx, c, id, CounterKey(rng.IntN(r.w.Counters)))
		default:
			_, ok = r.get(ctx, c, id, CounterKey(rng.IntN(r.w.Counters)))
		}
		if !ok {
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
		}
	}
}

// put writes a new key and reports whether it was acknowledged.
func (r *Run) put(ctx context.Context, c *client.Client, id int, key, value string) bool {
	ctx, cancel := context.WithTimeout(ctx, r.w.Timeout)
	defer cancel()
	call := r.history.Now()
	_, err := c.PutWith(ctx, r.w.Bucket, key, []byte(value), client.PutOptions{})
	ret := r.history.Now()
	out, sent := outcomeOf(err)
	r.count("put", out, sent)
	if !sent {
		return false
	}
	r.history.Add(id, Input{Kind: Put, Key: key, Value: value}, call, Output{Outcome: out}, ret)
	r.mu.Lock()
	defer r.mu.Unlock()
	if out == OK {
		r.written[key] = value
	} else {
		r.doubtful[key] = value
	}
	return out == OK
}

// increment reads a counter and writes it plus one if it has not changed
// since: If-Match with the version read, or If-None-Match: * when it was
// absent. It reports whether both requests got an answer.
func (r *Run) increment(ctx context.Context, c *client.Client, id int, key string) bool {
	from, ok := r.get(ctx, c, id, key)
	if !ok {
		return false
	}
	n := 0
	if from.Value != nil {
		var err error
		if n, err = strconv.Atoi(string(from.Value)); err != nil {
			// No client wrote that: the read is in the history, where
			// the check will reject it.
			return true
		}
	}
	to := strconv.Itoa(n + 1)
	opts := client.PutOptions{IfMatch: from.ETag}
	if from.Value == nil {
		opts = client.PutOptions{IfNoneMatch: "*"}
	}
	ctx, cancel := context.WithTimeout(ctx, r.w.Timeout)
	defer cancel()
	call := r.history.Now()
	_, err := c.PutWith(ctx, r.w.Bucket, key, []byte(to), opts)
	ret := r.history.Now()
	out, sent := outcomeOf(err)
	r.count("cas", out, sent)
	if !sent {
		return false
	}
	r.history.Add(id, Input{Kind: CAS, Key: key, From: string(from.Value), Value: to}, call, Output{Outcome: out}, ret)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch out {
	case OK:
		r.acked[key]++
	case Unknown:
		r.unsure[key]++
	}
	return out != Unknown
}

// get reads a key, records the read when it got an answer and reports
// whether it did. An absent key is an entry with a nil Value (a present
// one's is never nil).
func (r *Run) get(ctx context.Context, c *client.Client, id int, key string) (client.Entry, bool) {
	ctx, cancel := context.WithTimeout(ctx, r.w.Timeout)
	defer cancel()
	call := r.history.Now()
	e, err := c.GetEntry(ctx, r.w.Bucket, key)
	ret := r.history.Now()
	if client.IsStatus(err, http.StatusNotFound) {
		e, err = client.Entry{}, nil
	}
	if err != nil {
		// A read that failed changed nothing: it is left out.
		r.count("get", Unknown, true)
		return client.Entry{}, false
	}
	r.count("get", OK, true)
	r.history.Add(id, Input{Kind: Get, Key: key}, call, Output{Outcome: OK, Value: string(e.Value)}, ret)
	return e, true
}

// outcomeOf classifies a write's error. A connection that was refused
// carried no request (sent is false): the write certainly did not
// happen. Anything else without a 2xx or a 412, including a 503, may
// have been applied: a backend may commit a write after it gave up
// waiting for it.
func outcomeOf(err error) (out Outcome, sent bool) {
	switch {
	case err == nil:
		return OK, true
	case client.IsStatus(err, http.StatusPreconditionFailed):
		return Refused, true
	case errors.Is(err, syscall.ECONNREFUSED):
		return Unknown, false
	}
	return Unknown, true
}

func (r *Run) count(kind string, out Outcome, sent bool) {
	label := kind + " " + out.String()
	if !sent {
		label = kind + " not sent"
	}
	r.mu.Lock()
	r.byOutcome[label]++
	r.mu.Unlock()
}

// Report is what a run did and what its check found.
type Report struct {
	// Operations is the number of operations in the history, final
	// reads included.
	Operations int
	// ByOutcome counts the load's operations as "put ok", "cas 412",
	// "get unknown" (a read that failed), "put not sent" (connection
	// refused)...
	ByOutcome map[string]int
	// Statuses counts the load's answers as "PUT 201", "GET 503"..., and
	// requests with no answer as "PUT refused", "PUT timeout" or "PUT
	// broken" (the connection broke or the client gave up).
	Statuses map[string]int
	// MissingRetryAfter counts 503 answers that had no Retry-After.
	MissingRetryAfter int
	// AckedWrites is how many writes were acknowledged: new keys and
	// increments. Lost describes each one that did not read back.
	AckedWrites int
	Lost        []string
}

func (rep Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d operations checked; %d acknowledged writes, %d lost; outcomes: %s; answers: %s",
		rep.Operations, rep.AckedWrites, len(rep.Lost), counts(rep.ByOutcome), counts(rep.Statuses))
	if rep.MissingRetryAfter > 0 {
		fmt.Fprintf(&b, "; %d 503s without Retry-After", rep.MissingRetryAfter)
	}
	return b.String()
}

func counts(m map[string]int) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// maxLostShown is how many lost writes Verify's error names; Report.Lost
// has them all.
const maxLostShown = 10

// finalReaders is how many reads Verify has in flight.
const finalReaders = 8

// Verify reads back every key the run wrote from target, retrying each
// until it is answered or ctx is done, adds those reads to the history,
// and checks that every acknowledged write is there (a new key holds its
// value; a counter holds at least its acknowledged increments and at
// most those plus the ones of unknown outcome) and that the history is
// linearizable within checkTimeout. Call it after Stop.
func (r *Run) Verify(ctx context.Context, target string, checkTimeout time.Duration) (Report, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.obs.mu.Lock()
	rep := Report{ByOutcome: r.byOutcome, Statuses: r.obs.statuses, MissingRetryAfter: r.obs.missingRetryAfter}
	r.obs.mu.Unlock()
	keys := slices.Concat(slices.Collect(maps.Keys(r.written)), slices.Collect(maps.Keys(r.doubtful)))
	for i := range r.w.Counters {
		keys = append(keys, CounterKey(i))
	}
	values, err := r.readAll(ctx, target, keys)
	if err != nil {
		return rep, err
	}
	for key, want := range r.written {
		if got := values[key]; got != want {
			rep.Lost = append(rep.Lost, fmt.Sprintf("%s: acknowledged %q, read %q", key, want, got))
		}
	}
	rep.AckedWrites = len(r.written)
	for i := range r.w.Counters {
		key := CounterKey(i)
		rep.AckedWrites += r.acked[key]
		n := 0
		if v := values[key]; v != "" {
			if n, err = strconv.Atoi(v); err != nil {
				return rep, fmt.Errorf("counter %s holds %q", key, v)
			}
		}
		if n < r.acked[key] || n > r.acked[key]+r.unsure[key] {
			rep.Lost = append(rep.Lost, fmt.Sprintf("%s: %d increments acknowledged, %d of unknown outcome, read %d",
				key, r.acked[key], r.unsure[key], n))
		}
	}
	slices.Sort(rep.Lost)
	rep.Operations = r.history.Len()
	var errs []error
	if len(rep.Lost) > 0 {
		shown := rep.Lost[:min(len(rep.Lost), maxLostShown)]
		errs = append(errs, fmt.Errorf("%d of %d acknowledged writes lost, such as %s", len(rep.Lost), rep.AckedWrites, strings.Join(shown, "; ")))
	}
	if err := r.history.Check(checkTimeout, r.w.VisualizeDir); err != nil {
		errs = append(errs, err)
	}
	return rep, errors.Join(errs...)
}

// readAll reads keys from target with finalReaders in parallel and
// returns their values ("" for absent), recording each read.
func (r *Run) readAll(ctx context.Context, target string, keys []string) (map[string]string, error) {
	c := client.New(target, r.w.Token, nil)
	values := make(map[string]string, len(keys))
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, finalReaders)
	for n := range finalReaders {
		wg.Go(func() {
			// Client ids after the load's: the visualization shows the
			// final reads apart.
			id := r.w.Clients + n
			for i := n; i < len(keys); i += finalReaders {
				v, err := r.readBack(ctx, c, id, keys[i])
				if err != nil {
					errs[n] = err
					return
				}
				mu.Lock()
				values[keys[i]] = v
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return values, errors.Join(errs...)
}

// readBack reads key until it gets an answer, as a client would while
// the service recovers.
func (r *Run) readBack(ctx context.Context, c *client.Client, id int, key string) (string, error) {
	for {
		call := r.history.Now()
		e, err := c.GetEntry(ctx, r.w.Bucket, key)
		ret := r.history.Now()
		if client.IsStatus(err, http.StatusNotFound) {
			e, err = client.Entry{}, nil
		}
		if err == nil {
			r.history.Add(id, Input{Kind: Get, Key: key}, call, Output{Outcome: OK, Value: string(e.Value)}, ret)
			return string(e.Value), nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("read back %s: %w (last: %v)", key, ctx.Err(), err)
		case <-time.After(backoff):
		}
	}
}

// observer counts the answers of the load by method and status, and
// requests that got none by why.
type observer struct {
	next              http.RoundTripper
	mu                sync.Mutex
	statuses          map[string]int
	missingRetryAfter int
}

func (o *observer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := o.next.RoundTrip(req)
	var label string
	var ne net.Error
	switch {
	case err == nil:
		label = strconv.Itoa(resp.StatusCode)
	case errors.Is(err, syscall.ECONNREFUSED):
		label = "refused"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		label = "timeout"
	default:
		label = "broken"
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.statuses[req.Method+" "+label]++
	if err == nil && resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
		o.missingRetryAfter++
	}
	return resp, err
}
