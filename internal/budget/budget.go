// Package budget bounds a shared quantity, such as bytes of request and
// response bodies held in memory, with a weighted semaphore whose callers
// wait in order, briefly, and then give up.
package budget

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrBusy means the budget had no room for a reservation in time.
var ErrBusy = errors.New("busy")

// Budget hands out up to a fixed total in reservations. Waiters are served
// first come, first served, so a large reservation is not starved by a
// stream of small ones. The zero value is unusable; use New.
type Budget struct {
	mu      sync.Mutex
	size    int64
	used    int64
	waiters list.List // of *waiter, oldest first
}

type waiter struct {
	n     int64
	ready chan struct{} // closed once n is reserved for the waiter
}

// New returns a budget of size.
func New(size int64) *Budget {
	return &Budget{size: size}
}

// Acquire reserves n, waiting until there is room or ctx is done; then it
// fails with ErrBusy and reserves nothing. A reservation larger than the
// whole budget fails at once.
func (b *Budget) Acquire(ctx context.Context, n int64) error {
	b.mu.Lock()
	if n > b.size {
		b.mu.Unlock()
		return fmt.Errorf("%w: %d bytes exceed the whole budget of %d", ErrBusy, n, b.size)
	}
	if b.waiters.Len() == 0 && b.size-b.used >= n {
		b.used += n
		b.mu.Unlock()
		return nil
	}
	w := &waiter{n: n, ready: make(chan struct{})}
	elem := b.waiters.PushBack(w)
	b.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	select {
	case <-w.ready:
		// Reserved while ctx ended: the caller gives up, so give it back.
		b.used -= n
	default:
		b.waiters.Remove(elem)
	}
	// Whether it was granted or left the head of the queue, those behind
	// may fit now.
	b.grant()
	b.mu.Unlock()
	return fmt.Errorf("%w: no room for %d bytes: %w", ErrBusy, n, context.Cause(ctx))
}

// Release returns n reserved by Acquire.
func (b *Budget) Release(n int64) {
	b.mu.Lock()
	b.used -= n
	if b.used < 0 {
		b.mu.Unlock()
		panic("budget: released more than was acquired")
	}
	b.grant()
	b.mu.Unlock()
}

// grant serves waiters in order while the oldest fits. b.mu is held.
func (b *Budget) grant() {
	for e := b.waiters.Front(); e != nil; e = b.waiters.Front() {
		w := e.Value.(*waiter)
		if b.size-b.used < w.n {
			return
		}
		b.used += w.n
		b.waiters.Remove(e)
		close(w.ready)
	}
}
