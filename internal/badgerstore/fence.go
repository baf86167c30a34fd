package badgerstore

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/gokv-service/gokv/internal/kv"
)

// Why a panic inside Badger fences the store. Badger panics on some damaged
// data, and it may do so while holding its own locks (a value-log file's
// read lock, for one). Recovering and carrying on, as the HTTP layer does
// for a handler's bug, leaves those locks held: the next value-log GC, and
// with it the write path, then waits forever while the probes stay green.
// Crashing would end requests in flight without an answer and, in a
// library, take the decision from main. So the store fences itself
// instead: the call that panicked and every later one fail with kv.ErrFailed
// without reaching Badger, Health reports the cause, so liveness fails and
// Kubernetes restarts the pod, and Close is bounded by the server because
// it may wait on a lock that will never be released.

// DefaultWriteStallTimeout is how long a batch in commit (or GC holding
// the write path) may make no progress before Health reports the write
// path stalled. A group commit with one fsync, or one GC round of a 64 MiB
// value-log file, takes well under a second on a healthy disk.
const DefaultWriteStallTimeout = 30 * time.Second

// fence records the first panic from inside the storage engine.
type fence struct {
	cause atomic.Pointer[error]
	log   *slog.Logger
}

// err returns the error every call gets once the store is fenced, or nil.
func (f *fence) err() error {
	if cause := f.cause.Load(); cause != nil {
		return *cause
	}
	return nil
}

// fail turns a panic p recovered in op into the fenced state and returns
// the error op fails with.
func (f *fence) fail(op string, p any) error {
	err := fmt.Errorf("%w: %s panicked: %v", kv.ErrFailed, op, p)
	if f.cause.CompareAndSwap(nil, &err) && f.log != nil {
		f.log.Error("storage engine panicked; the store is fenced until restart",
			"op", op, "panic", p, "stack", string(debug.Stack()))
	}
	return f.err()
}

// stop fences the store after op failed in a way that leaves what is on
// disk unknown (a failed fsync), and returns the error op fails with.
func (f *fence) stop(op string, cause error) error {
	err := fmt.Errorf("%w: %s: %w", kv.ErrFailed, op, cause)
	if f.cause.CompareAndSwap(nil, &err) && f.log != nil {
		f.log.Error("storage failed; the store is fenced until restart", "op", op, "err", cause)
	}
	return f.err()
}

// guard runs fn, the Badger part of op, unless the store is fenced, and
// fences it if fn panics.
func (f *fence) guard(op string, fn func() error) (err error) {
	if err := f.err(); err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			err = f.fail(op, p)
		}
	}()
	return fn()
}

// stallClock tracks how long the leader slot has been held.
type stallClock struct {
	since atomic.Int64 // unix nanoseconds the slot was taken; 0 when free
}

func (c *stallClock) hold()    { c.since.Store(time.Now().UnixNano()) }
func (c *stallClock) release() { c.since.Store(0) }

// held returns how long the slot has been held, 0 when it is free.
func (c *stallClock) held() time.Duration {
	since := c.since.Load()
	if since == 0 {
		return 0
	}
	return time.Since(time.Unix(0, since))
}
