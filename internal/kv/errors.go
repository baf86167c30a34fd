package kv

import (
	"errors"
	"fmt"
)

// The errors callers act on. Every backend returns errors wrapping one of
// these, so test them with errors.Is.
var (
	ErrNotFound           = errors.New("not found")
	ErrInvalidBucket      = errors.New("invalid bucket")
	ErrInvalidKey         = errors.New("invalid key")
	ErrInvalidContentType = errors.New("invalid content type")
	// ErrInvalid: a request outside the store's rules other than a
	// name (a TTL out of range, too many ops, a bad listing limit).
	ErrInvalid = errors.New("invalid request")
	// ErrConditionFailed: an op's Condition did not hold; nothing of the
	// Apply was written. The error is an *OpError naming the op.
	ErrConditionFailed = errors.New("condition failed")
	// ErrNoSpace: the store refuses writes of new data for want of room.
	ErrNoSpace = errors.New("no space left on device")
	// ErrClosed: the store is closed or closing.
	ErrClosed  = errors.New("database is closed")
	ErrCorrupt = errors.New("stored data is corrupt")
	// ErrFailed: the storage engine failed and the store serves nothing
	// until the process restarts.
	ErrFailed = errors.New("storage engine failed")
	// ErrStalled: the write path has made no progress for too long.
	ErrStalled = errors.New("write path stalled")
	// ErrUnavailable: the store cannot reach its data for now (a
	// distributed backend without quorum); a retry may succeed.
	ErrUnavailable = errors.New("storage unavailable")
	// ErrHistoryGone: a watch asked to resume from a version older than
	// the history the store keeps; the client must list again.
	ErrHistoryGone = errors.New("watch history no longer reaches that version")
	// ErrNotEmpty: a restore without replace found entries in the store.
	ErrNotEmpty = errors.New("store is not empty")
	// ErrTooLarge: an Apply larger than the backend takes in one
	// request (etcd's --max-request-bytes); split it or raise the limit.
	ErrTooLarge = errors.New("request too large for the storage backend")
)

// OpError is the failure of one op of an Apply.
type OpError struct {
	Index int // the op's position in the Apply
	Err   error
}

func (e *OpError) Error() string { return fmt.Sprintf("op %d: %v", e.Index, e.Err) }
func (e *OpError) Unwrap() error { return e.Err }
