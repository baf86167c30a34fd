package watch_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/kv"
	"github.com/gokv-service/gokv/internal/watch"
)

// patience bounds how long a test waits for something that must happen,
// so that a bug fails the test with a message instead of hanging it. It
// is not a performance threshold.
const patience = 30 * time.Second

// put returns a put event.
func put(version uint64, bucket, key string, value string) kv.Event {
	return kv.Event{Type: kv.EventPut, Bucket: bucket, Key: key, Version: version, Value: []byte(value)}
}

// sequence returns count events with versions from+1 on, cycling through
// buckets and keys, with values of valueLen bytes.
func sequence(from uint64, count int, valueLen int) []kv.Event {
	buckets := []string{"a", "ab", "b"}
	keys := []string{"x/1", "x/10", "x/2", "y/1"}
	events := make([]kv.Event, count)
	for i := range events {
		events[i] = put(from+uint64(i)+1, buckets[i%len(buckets)], keys[i/len(buckets)%len(keys)], strings.Repeat("v", valueLen))
		if i%5 == 4 {
			events[i].Type, events[i].Value = kv.EventDelete, nil
		}
	}
	return events
}

// matching returns the events a watch of bucket and prefix must see.
func matching(events []kv.Event, bucket, prefix string) []kv.Event {
	var out []kv.Event
	for _, ev := range events {
		if ev.Bucket == bucket && strings.HasPrefix(ev.Key, prefix) {
			out = append(out, ev)
		}
	}
	return out
}

// publishInBatches publishes events in batches of 1 to 16, as a
// committer would.
func publishInBatches(h *watch.Hub, events []kv.Event, rnd *rand.Rand) {
	for len(events) > 0 {
		n := min(1+rnd.IntN(16), len(events))
		h.Publish(events[:n])
		events = events[n:]
	}
}

// receive reads n events from w, failing the test if the watch ends or
// nothing comes for a long time.
func receive(t testing.TB, w kv.Watcher, n int) []kv.Event {
	t.Helper()
	got := make([]kv.Event, 0, n)
	timeout := time.NewTimer(patience)
	defer timeout.Stop()
	for len(got) < n {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				t.Fatalf("watch ended after %d of %d events: %v", len(got), n, w.Err())
			}
			got = append(got, ev)
		case <-timeout.C:
			t.Fatalf("received %d of %d events, then nothing for %v", len(got), n, patience)
		}
	}
	return got
}

// drain reads w until its Events channel closes and returns what it read.
func drain(t testing.TB, w kv.Watcher) []kv.Event {
	t.Helper()
	var got []kv.Event
	timeout := time.NewTimer(patience)
	defer timeout.Stop()
	for {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				return got
			}
			got = append(got, ev)
		case <-timeout.C:
			t.Fatalf("watch did not end within %v", patience)
		}
	}
}

// checkEvents fails the test unless got is exactly want, in order.
func checkEvents(t testing.TB, got, want []kv.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d\ngot:  %v\nwant: %v", len(got), len(want), versions(got), versions(want))
	}
	for i := range got {
		if got[i].Version != want[i].Version || got[i].Bucket != want[i].Bucket ||
			got[i].Key != want[i].Key || got[i].Type != want[i].Type || string(got[i].Value) != string(want[i].Value) {
			t.Fatalf("event %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func versions(events []kv.Event) []uint64 {
	out := make([]uint64, len(events))
	for i, ev := range events {
		out[i] = ev.Version
	}
	return out
}

// settleGoroutines waits until no more goroutines run than base, so a
// test can tell that the watches it ended left none behind.
func settleGoroutines(t testing.TB, base int) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines still run, %d before the test:\n%s",
				runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConcurrentPublishesDeliverInOrder(t *testing.T) {
	watches := []struct {
		name, bucket, prefix string
	}{
		{"whole bucket", "a", ""},
		{"prefix", "a", "x/"},
		{"prefix that is also a key", "a", "x/1"},
		{"bucket that prefixes another", "ab", ""},
		{"other bucket", "b", "y/"},
		{"no such bucket", "c", ""},
		{"no such prefix", "b", "z/"},
	}
	const (
		publishers = 8
		batches    = 200
		start      = 1000
	)
	h := watch.NewHub(start, watch.Options{HistoryEvents: 1 << 16})
	t.Cleanup(h.Close)

	watchers := make([]kv.Watcher, len(watches))
	for i, wc := range watches {
		w, err := h.Subscribe(t.Context(), wc.bucket, kv.WatchOptions{Prefix: wc.prefix})
		if err != nil {
			t.Fatalf("Subscribe %s: %v", wc.name, err)
		}
		watchers[i] = w
	}

	// Publishers race for the committer's lock, as writers do; whoever
	// holds it numbers its batch and publishes it.
	var (
		committer sync.Mutex
		version   uint64 = start
		published []kv.Event
		wg        sync.WaitGroup
	)
	for p := range publishers {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(p), 1))
			for range batches {
				batch := sequence(0, 1+rnd.IntN(16), rnd.IntN(8))
				rnd.Shuffle(len(batch), func(i, j int) {
					batch[i].Bucket, batch[j].Bucket = batch[j].Bucket, batch[i].Bucket
				})
				committer.Lock()
				for i := range batch {
					version++
					batch[i].Version = version
				}
				published = append(published, batch...)
				h.Publish(batch)
				committer.Unlock()
			}
		})
	}

	// Every watch reads while the publishers run, until it has as many
	// events as it should get: only known once the publishers are done.
	got := make([][]kv.Event, len(watches))
	targets := make([]chan int, len(watches))
	var readers sync.WaitGroup
	for i, w := range watchers {
		targets[i] = make(chan int, 1)
		readers.Go(func() {
			target := -1
			timeout := time.NewTimer(patience)
			defer timeout.Stop()
			for target < 0 || len(got[i]) < target {
				select {
				case ev, ok := <-w.Events():
					if !ok {
						return
					}
					got[i] = append(got[i], ev)
				case target = <-targets[i]:
				case <-timeout.C:
					return
				}
			}
		})
	}
	wg.Wait()
	for i, wc := range watches {
		targets[i] <- len(matching(published, wc.bucket, wc.prefix))
	}
	readers.Wait()
	// Close, then drain: a watch that delivers more than it should is
	// caught too.
	h.Close()
	for i, wc := range watches {
		t.Run(wc.name, func(t *testing.T) {
			events := append(got[i], drain(t, watchers[i])...)
			checkEvents(t, events, matching(published, wc.bucket, wc.prefix))
			if err := watchers[i].Err(); !errors.Is(err, kv.ErrClosed) {
				t.Errorf("Err after Close = %v, want %v", err, kv.ErrClosed)
			}
		})
	}
}

func TestResumeSince(t *testing.T) {
	const start = 100
	retained := sequence(start, 100, 3) // versions 101..200
	live := sequence(200, 20, 3)        // 201..220, published after Subscribe
	tests := []struct {
		name   string
		since  uint64
		bucket string
		prefix string
	}{
		{"from now on", 0, "a", ""},
		{"from the start", start, "a", ""},
		{"from the middle", 150, "a", ""},
		{"from the middle, with a prefix", 150, "ab", "x/1"},
		{"from the newest", 200, "b", ""},
		{"from a version in the live part", 210, "a", ""},
		{"from after everything", 1000, "a", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := watch.NewHub(start, watch.Options{})
			t.Cleanup(h.Close)
			publishInBatches(h, retained, rand.New(rand.NewPCG(1, 2)))
			w, err := h.Subscribe(t.Context(), tt.bucket, kv.WatchOptions{Prefix: tt.prefix, Since: tt.since})
			if err != nil {
				t.Fatalf("Subscribe since %d: %v", tt.since, err)
			}
			publishInBatches(h, live, rand.New(rand.NewPCG(3, 4)))

			want := matching(live, tt.bucket, tt.prefix)
			if tt.since > 0 {
				want = matching(slices.Concat(retained, live), tt.bucket, tt.prefix)
				want = slices.DeleteFunc(want, func(ev kv.Event) bool { return ev.Version <= tt.since })
			}
			got := receive(t, w, len(want))
			h.Close()
			got = append(got, drain(t, w)...)
			checkEvents(t, got, want)
		})
	}
}

func TestSubscribeHistoryGone(t *testing.T) {
	const start = 100
	tests := []struct {
		name      string
		opts      watch.Options
		published []kv.Event
		since     uint64
		wantGone  bool
	}{
		{"before the start", watch.Options{}, nil, start - 1, true},
		{"at the start", watch.Options{}, nil, start, false},
		{"from now on", watch.Options{HistoryEvents: 10}, sequence(start, 30, 1), 0, false},
		{"evicted by count", watch.Options{HistoryEvents: 10}, sequence(start, 30, 1), 119, true},
		{"newest evicted, by count", watch.Options{HistoryEvents: 10}, sequence(start, 30, 1), 120, false},
		// Every fifth event is a delete, without a value: 100 bytes hold
		// versions 118..130.
		{"evicted by bytes", watch.Options{HistoryBytes: 100}, sequence(start, 30, 10), 116, true},
		{"newest evicted, by bytes", watch.Options{HistoryBytes: 100}, sequence(start, 30, 10), 117, false},
		{"value larger than the history", watch.Options{HistoryBytes: 5}, sequence(start, 1, 10), start, true},
		{"after a value larger than the history", watch.Options{HistoryBytes: 5}, sequence(start, 1, 10), start + 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := watch.NewHub(start, tt.opts)
			t.Cleanup(h.Close)
			h.Publish(tt.published)
			w, err := h.Subscribe(t.Context(), "a", kv.WatchOptions{Since: tt.since})
			if tt.wantGone {
				if !errors.Is(err, kv.ErrHistoryGone) {
					t.Fatalf("Subscribe since %d = %v, want %v", tt.since, err, kv.ErrHistoryGone)
				}
				return
			}
			if err != nil {
				t.Fatalf("Subscribe since %d: %v", tt.since, err)
			}
			// What is retained after since is replayed whole.
			var want []kv.Event
			if tt.since > 0 {
				want = slices.DeleteFunc(matching(tt.published, "a", ""), func(ev kv.Event) bool { return ev.Version <= tt.since })
			}
			got := receive(t, w, len(want))
			h.Close()
			checkEvents(t, append(got, drain(t, w)...), want)
		})
	}
}

// A watch that does not read holds back neither Publish nor memory: the
// publishes complete, and the watch ends by itself with ErrHistoryGone
// once what it had not received is evicted, having delivered a gapless
// beginning of the stream.
func TestSlowWatcherEndsWithHistoryGone(t *testing.T) {
	tests := []struct {
		name string
		read int // events read before the watch stops reading
	}{
		{"never reads", 0},
		{"reads some, then stops", 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const start = 0
			h := watch.NewHub(start, watch.Options{HistoryEvents: 1000})
			t.Cleanup(h.Close)
			base := runtime.NumGoroutine()
			w, err := h.Subscribe(t.Context(), "a", kv.WatchOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// Far more than the history and every buffer hold, all
			// while the watch does not read: the test completes only if
			// Publish never waits for it.
			events := sequence(start, 100_000, 8)
			want := matching(events, "a", "")
			// One event in three is in bucket a.
			publishInBatches(h, events[:3*tt.read], rand.New(rand.NewPCG(5, 6)))
			got := receive(t, w, tt.read)
			publishInBatches(h, events[3*tt.read:], rand.New(rand.NewPCG(7, 8)))

			// The watch's goroutine ends without anyone reading.
			settleGoroutines(t, base)
			got = append(got, drain(t, w)...)
			if err := w.Err(); !errors.Is(err, kv.ErrHistoryGone) {
				t.Errorf("Err = %v, want %v", err, kv.ErrHistoryGone)
			}
			if len(got) >= len(want) {
				t.Fatalf("received all %d events; the watch should have fallen behind", len(got))
			}
			checkEvents(t, got, want[:len(got)])
		})
	}
}

// A watch whose prefix sees no changes keeps up with the history rather
// than be taken for a watch that fell behind.
func TestIdleWatcherKeepsUp(t *testing.T) {
	h := watch.NewHub(0, watch.Options{HistoryEvents: 100})
	t.Cleanup(h.Close)
	w, err := h.Subscribe(t.Context(), "quiet", kv.WatchOptions{Prefix: "p/"})
	if err != nil {
		t.Fatal(err)
	}
	var version uint64
	for round := range 20 {
		// Half the history of other changes, then one for the watch:
		// once it arrives, the watch has looked at everything before.
		events := sequence(version, 50, 1)
		version += uint64(len(events)) + 1
		events = append(events, put(version, "quiet", fmt.Sprintf("p/%d", round), "v"))
		publishInBatches(h, events, rand.New(rand.NewPCG(uint64(round), 9)))
		checkEvents(t, receive(t, w, 1), events[len(events)-1:])
	}
}

func TestWatchEnds(t *testing.T) {
	tests := []struct {
		name    string
		end     func(h *watch.Hub, cancel context.CancelFunc)
		wantErr error
	}{
		{"context canceled", func(_ *watch.Hub, cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"hub closed", func(h *watch.Hub, _ context.CancelFunc) { h.Close() }, kv.ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const start = 0
			h := watch.NewHub(start, watch.Options{})
			t.Cleanup(h.Close)
			base := runtime.NumGoroutine() // the hub's own goroutine included
			h.Publish(sequence(start, 1000, 1))
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			// Watches in each state a goroutine can be in: idle, and
			// blocked sending a replay nobody reads.
			var watchers []kv.Watcher
			for i := range 50 {
				opts := kv.WatchOptions{}
				if i%2 == 1 {
					opts.Since = start
				}
				w, err := h.Subscribe(ctx, "a", opts)
				if err != nil {
					t.Fatal(err)
				}
				watchers = append(watchers, w)
			}
			// Err is safe to ask while the watch runs and as it ends.
			var askers sync.WaitGroup
			for _, w := range watchers {
				askers.Go(func() {
					for range 100 {
						if err := w.Err(); err != nil && !errors.Is(err, tt.wantErr) {
							t.Errorf("Err = %v while ending, want nil or %v", err, tt.wantErr)
							return
						}
						runtime.Gosched()
					}
				})
			}
			tt.end(h, cancel)
			for _, w := range watchers {
				drain(t, w)
				if err := w.Err(); !errors.Is(err, tt.wantErr) {
					t.Errorf("Err = %v, want %v", err, tt.wantErr)
				}
			}
			askers.Wait()
			settleGoroutines(t, base)
		})
	}
}

func TestSubscribeAfterClose(t *testing.T) {
	h := watch.NewHub(0, watch.Options{})
	h.Close()
	h.Close() // a second Close is harmless
	if _, err := h.Subscribe(t.Context(), "a", kv.WatchOptions{}); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("Subscribe after Close = %v, want %v", err, kv.ErrClosed)
	}
	h.Publish(sequence(0, 1, 1)) // dropped, and does not panic
}

// TestResetEndsEveryWatch: after Reset every watch ends with
// kv.ErrHistoryGone, whether it was caught up, behind or not yet started
// on the history; resuming from before the reset fails; watches started
// afterwards see what is published next.
func TestResetEndsEveryWatch(t *testing.T) {
	ctx := context.Background()
	h := watch.NewHub(0, watch.Options{})
	defer h.Close()
	events := sequence(0, 20, 1)
	caughtUp, err := h.Subscribe(ctx, "a", kv.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h.Publish(events)
	receive(t, caughtUp, len(matching(events, "a", "")))
	// Reads nothing: its events wait in the history or its channel.
	behind, err := h.Subscribe(ctx, "b", kv.WatchOptions{Since: 1})
	if err != nil {
		t.Fatal(err)
	}

	h.Reset(1000)
	for name, w := range map[string]kv.Watcher{"caught up": caughtUp, "behind": behind} {
		drain(t, w)
		if err := w.Err(); !errors.Is(err, kv.ErrHistoryGone) || !strings.Contains(err.Error(), "restored") {
			t.Errorf("%s watch after Reset: Err = %v, want kv.ErrHistoryGone saying the store was restored", name, err)
		}
	}
	if _, err := h.Subscribe(ctx, "a", kv.WatchOptions{Since: 20}); !errors.Is(err, kv.ErrHistoryGone) {
		t.Errorf("resume from before the reset: err = %v, want kv.ErrHistoryGone", err)
	}
	after, err := h.Subscribe(ctx, "a", kv.WatchOptions{Since: 1000})
	if err != nil {
		t.Fatal(err)
	}
	next := []kv.Event{put(1001, "a", "k", "v")}
	h.Publish(next)
	checkEvents(t, receive(t, after, 1), next)
}
