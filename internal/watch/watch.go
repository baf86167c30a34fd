// Package watch keeps an in-memory history of committed changes that
// watchers follow, for storage backends without a watch of their own.
//
// Why one shared history rather than a queue per watcher: a queue per
// watcher grows with every watcher that stops reading, and pushing into
// it either blocks the committer or drops changes silently. Here the
// committer only appends to one history, bounded by count and by value
// bytes, and wakes the watchers; each watcher's goroutine copies what it
// has not seen yet from the history at its own pace. A watcher that falls
// behind the oldest retained change ends with kv.ErrHistoryGone instead
// of holding memory or writers back, and the client lists again.
package watch

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gokv-service/gokv/internal/kv"
)

// Default bounds of the history.
const (
	defaultHistoryEvents = 10000
	defaultHistoryBytes  = 8 << 20
)

// batchSize is both the buffer of a watcher's Events channel and the most
// events a watcher copies out of the history at a time: enough to keep a
// reader busy while the watcher goes back for more, small enough that
// what watchers hold outside the history stays small.
const batchSize = 64

// Options bound the history.
type Options struct {
	// HistoryEvents is the most events the history retains; 0 means
	// 10000.
	HistoryEvents int
	// HistoryBytes is the most value bytes (the sum of len(Value)) the
	// history retains; 0 means 8 MiB. An event with a larger value is
	// published but not retained: watchers that had not copied it yet
	// end with kv.ErrHistoryGone.
	HistoryBytes int64
}

// Hub is the history and the watches that follow it. Its methods are
// safe for concurrent use.
//
// Publish is on the path of every write, so it never waits for a
// watcher: watchers read the history without the hub's lock. Every event
// gets a sequence number (versions need not be consecutive; sequence
// numbers are) and sits in ring slot seq % len(ring) as an immutable
// *entry. A watcher reads the slots from its own sequence number up to
// tail and knows an event was evicted, or overwritten by a newer one,
// when its slot no longer holds that sequence number. Waking watchers
// costs in proportion to their number, so Publish leaves that to a
// goroutine of the hub's.
type Hub struct {
	maxEvents int
	maxBytes  int64

	ring []atomic.Pointer[entry]
	// Events head..tail-1 are retained. Publish stores a slot before it
	// moves tail past it, so a watcher that loads tail finds every slot
	// before it filled (or evicted already).
	head, tail atomic.Uint64
	// wake is closed and replaced by the waker after publishes, so that
	// a watcher can wait for news; done tells it of Close.
	wake atomic.Pointer[chan struct{}]
	kick chan struct{} // Publish asks the waker to wake watchers
	done chan struct{} // closed by Close

	// mu serializes Publish, Subscribe and Close, and guards the rest.
	mu    sync.Mutex
	bytes int64 // sum of len(Value) of the retained events
	// floor is the oldest version a watch can resume from: the start,
	// then the version of the newest evicted event.
	floor  uint64
	last   uint64 // the newest version published, or the start
	closed bool
	// resetSeq is the sequence number from which the history starts
	// after the last Reset; watchers before it were ended by one.
	resetSeq atomic.Uint64

	// running counts the watchers' goroutines and the waker.
	running sync.WaitGroup
	// watchers counts the watches running, for Watchers.
	watchers atomic.Int64
}

// entry is one event of the history; never modified once published.
type entry struct {
	seq uint64
	ev  kv.Event
}

// NewHub returns a hub whose history starts after version start: a watch
// may resume from any version >= start (nothing after start is missing).
func NewHub(start uint64, opts Options) *Hub {
	h := &Hub{
		maxEvents: opts.HistoryEvents,
		maxBytes:  opts.HistoryBytes,
		kick:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		floor:     start,
		last:      start,
	}
	if h.maxEvents <= 0 {
		h.maxEvents = defaultHistoryEvents
	}
	if h.maxBytes <= 0 {
		h.maxBytes = defaultHistoryBytes
	}
	// A slot is one pointer: allocating them all up front costs less
	// than growing a ring that watchers read without a lock.
	h.ring = make([]atomic.Pointer[entry], h.maxEvents)
	wake := make(chan struct{})
	h.wake.Store(&wake)
	h.running.Add(1)
	go h.waker()
	return h
}

// waker wakes the watchers after publishes, one broadcast for however
// many publishes came since the last.
func (h *Hub) waker() {
	defer h.running.Done()
	for {
		select {
		case <-h.kick:
			wake := make(chan struct{})
			close(*h.wake.Swap(&wake))
		case <-h.done:
			return // watchers watch done too
		}
	}
}

// Publish appends committed events and has the watchers woken. Versions
// must be strictly increasing, each greater than every one published
// before; Publish panics otherwise, since watchers could no longer
// promise order. It never waits for watchers. Events published after
// Close are dropped.
func (h *Hub) Publish(events []kv.Event) {
	if len(events) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	for _, ev := range events {
		if ev.Version <= h.last {
			panic(fmt.Sprintf("watch: published version %d after %d", ev.Version, h.last))
		}
		h.last = ev.Version
		h.push(ev)
	}
	select {
	case h.kick <- struct{}{}:
	default: // a wake is pending already, and will see these events
	}
}

// push appends ev to the history, first evicting the oldest events it
// needs the room of.
func (h *Hub) push(ev kv.Event) {
	size := int64(len(ev.Value))
	seq := h.tail.Load()
	for h.head.Load() < seq && (seq-h.head.Load() == uint64(h.maxEvents) || h.bytes+size > h.maxBytes) {
		h.evict()
	}
	if size > h.maxBytes {
		// Retaining it would break the bound; it is gone the moment it
		// is published.
		h.floor = ev.Version
		h.head.Store(seq + 1)
		h.tail.Store(seq + 1)
		return
	}
	// One allocation per event, rather than per batch, so that evicting
	// an event lets its value go even while the rest of its batch stays.
	h.slot(seq).Store(&entry{seq: seq, ev: ev})
	h.tail.Store(seq + 1)
	h.bytes += size
}

// Reset forgets the history and ends every watch with kv.ErrHistoryGone,
// as when a restore replaced the store's contents: the changes before it
// describe another store. Watches may resume from start on, which must not
// be below any version published before.
func (h *Hub) Reset(start uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	// Moving past one sequence number no slot holds makes every watcher,
	// however caught up, find a slot without its event: it is behind.
	// resetSeq goes first, so that a watcher that finds a slot emptied
	// below already knows why.
	seq := h.tail.Load() + 1
	h.resetSeq.Store(seq)
	for i := range h.ring {
		h.ring[i].Store(nil)
	}
	h.head.Store(seq)
	h.tail.Store(seq)
	h.bytes = 0
	h.floor, h.last = max(start, h.last), max(start, h.last)
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// evict drops the oldest retained event.
func (h *Hub) evict() {
	seq := h.head.Load()
	old := h.slot(seq).Swap(nil)
	h.floor = old.ev.Version
	h.bytes -= int64(len(old.ev.Value))
	h.head.Store(seq + 1)
}

func (h *Hub) slot(seq uint64) *atomic.Pointer[entry] {
	return &h.ring[seq%uint64(len(h.ring))]
}

// Subscribe starts a watch of bucket's keys with opts.Prefix. opts.Since
// == 0: only events published from now on. opts.Since > 0: first every
// retained event with Version > Since, then live ones; it fails with an
// error wrapping kv.ErrHistoryGone when Since is older than the history
// reaches back to. The watch ends when ctx is done (Err is ctx.Err()),
// when the hub closes (kv.ErrClosed), or when events it has not received
// yet are evicted from the history (kv.ErrHistoryGone).
func (h *Hub) Subscribe(ctx context.Context, bucket string, opts kv.WatchOptions) (kv.Watcher, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, fmt.Errorf("watch bucket %q: %w", bucket, kv.ErrClosed)
	}
	head, tail := h.head.Load(), h.tail.Load()
	next := tail
	if opts.Since > 0 {
		if opts.Since < h.floor {
			return nil, fmt.Errorf("watch bucket %q since version %d: history starts after %d: %w",
				bucket, opts.Since, h.floor, kv.ErrHistoryGone)
		}
		n := sort.Search(int(tail-head), func(i int) bool {
			return h.slot(head+uint64(i)).Load().ev.Version > opts.Since
		})
		next = head + uint64(n)
	}
	w := &watcher{
		hub:    h,
		bucket: bucket,
		prefix: opts.Prefix,
		next:   next,
		after:  opts.Since,
		events: make(chan kv.Event, batchSize),
	}
	// Added under mu, with closed checked, so Close's Wait never races
	// an Add.
	h.running.Add(1)
	h.watchers.Add(1)
	go w.run(ctx)
	return w, nil
}

// Watchers returns the number of watches running.
func (h *Hub) Watchers() int { return int(h.watchers.Load()) }

// Close ends every watch with kv.ErrClosed and waits for their goroutines
// to finish; later Subscribes fail with kv.ErrClosed.
func (h *Hub) Close() {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
	h.mu.Unlock()
	h.running.Wait()
}

// watcher is one watch: a goroutine that follows the history and sends
// what matches on events.
type watcher struct {
	hub            *Hub
	bucket, prefix string
	// next is the sequence number of the first event this watcher has
	// not looked at yet, whether or not it matches: a watcher whose
	// prefix sees no changes still keeps up with the history. Only its
	// goroutine uses it.
	next uint64
	// after is opts.Since, for a watch that resumes from a version not
	// published yet.
	after  uint64
	events chan kv.Event

	mu  sync.Mutex
	err error
}

func (w *watcher) Events() <-chan kv.Event { return w.events }

func (w *watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *watcher) run(ctx context.Context) {
	defer w.hub.running.Done()
	defer w.hub.watchers.Add(-1)
	err := w.follow(ctx)
	w.mu.Lock()
	w.err = err
	w.mu.Unlock()
	close(w.events)
}

// follow delivers events until the watch ends, and returns why.
func (w *watcher) follow(ctx context.Context) error {
	h := w.hub
	batch := make([]kv.Event, 0, batchSize)
	for {
		// Load wake before next reads tail: a Publish after that read
		// closes this channel, or one already replaced.
		wake := *h.wake.Load()
		var err error
		batch, err = w.read(batch[:0])
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-h.done:
				return kv.ErrClosed
			case <-wake:
			}
			continue
		}
		for i := 0; i < len(batch); {
			select {
			case w.events <- batch[i]:
				i++
			case <-ctx.Done():
				return ctx.Err()
			case <-h.done:
				return kv.ErrClosed
			case <-wake:
				// While this watcher waits for its reader, the history
				// may evict what comes after its batch. Then it ends
				// now rather than hold the batch (and its goroutine)
				// for a reader that will have to list again anyway.
				if h.head.Load() > w.next {
					return w.behind()
				}
				wake = *h.wake.Load()
			}
		}
		clear(batch) // hold no values while waiting
	}
}

// read appends to batch up to batchSize of the events from next on that
// match, and moves next past the events it looked at.
func (w *watcher) read(batch []kv.Event) ([]kv.Event, error) {
	h := w.hub
	tail := h.tail.Load()
	for ; w.next < tail && len(batch) < cap(batch); w.next++ {
		e := h.slot(w.next).Load()
		if e == nil || e.seq != w.next {
			return batch, w.behind()
		}
		if e.ev.Version > w.after && e.ev.Bucket == w.bucket && strings.HasPrefix(e.ev.Key, w.prefix) {
			batch = append(batch, e.ev)
		}
	}
	return batch, nil
}

func (w *watcher) behind() error {
	if w.next < w.hub.resetSeq.Load() {
		return fmt.Errorf("watch bucket %q ended: the store was restored from a backup: %w", w.bucket, kv.ErrHistoryGone)
	}
	return fmt.Errorf("watch bucket %q fell behind: %d events it had not received were evicted: %w",
		w.bucket, w.hub.head.Load()-w.next, kv.ErrHistoryGone)
}
