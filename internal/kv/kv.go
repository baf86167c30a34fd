// Package kv is gokv's storage vocabulary, independent of any engine: the
// entries, ops and errors the API speaks, the rules for names, and the
// Store interface every storage backend implements. The behaviour of that
// interface is written down once, as the conformance suite in kvtest.
package kv

import (
	"context"
	"time"
)

// Store is a key-value store of buckets. Its methods are safe for
// concurrent use. Every method that reads or writes fails with an error
// wrapping one of this package's errors.
type Store interface {
	// Get returns the entry under bucket and key, or ErrNotFound. When
	// reserve is not nil it is called with about the value's size before
	// the value is copied into memory, and Get fails with its error,
	// having copied nothing, when it fails.
	Get(ctx context.Context, bucket, key string, reserve func(size int64) error) (Entry, error)
	// Apply performs ops atomically: all of them or, when one fails,
	// none. The failure of one op is an *OpError naming it, wrapping
	// ErrConditionFailed, ErrNotFound (a delete of a missing key) or the
	// reason the op is invalid. When Apply returns nil every write is
	// acknowledged: it survives a crash as the backend promises, and a
	// Get that starts afterwards sees it.
	Apply(ctx context.Context, ops []Op) ([]Result, error)
	// List returns one page of a bucket's keys in byte order.
	List(ctx context.Context, bucket string, opts ListOptions) (ListPage, error)
	// Buckets returns one page of the names of buckets that hold at least
	// one key, without reading every key, in an order the backend keeps
	// from page to page (Badger's is that of its keys, "name:", so "a-b"
	// comes before "a").
	Buckets(ctx context.Context, start string, limit int) (BucketPage, error)
	// Watch follows the changes to bucket's keys that start with
	// opts.Prefix, in version order, until ctx is done or the store
	// closes. It fails with ErrHistoryGone when opts.Since is older than
	// the history the store keeps.
	Watch(ctx context.Context, bucket string, opts WatchOptions) (Watcher, error)
	// Backup calls fn with every live entry as of one moment, without
	// stopping writes, and returns the version the backup reflects:
	// every write with a version up to it is in, none after it. Entries
	// that have expired are skipped. It stops at fn's first error.
	Backup(ctx context.Context, fn func(Record) error) (version uint64, err error)
	// Restore writes the records next returns until it returns io.EOF,
	// and returns how many it wrote. Without replace the store must hold
	// no entry, else Restore fails with an error wrapping ErrNotEmpty
	// having written nothing; with replace every entry is removed first.
	// Records already expired are skipped, and names are validated as
	// Apply does. Restore produces no watch events: every watch ends
	// with ErrHistoryGone, since history does not carry across a
	// restore. Callers keep other requests away while it runs. When it
	// fails part way, a store that was empty is left empty; one being
	// replaced holds part of the records.
	Restore(ctx context.Context, replace bool, next func() (Record, error)) (count int, err error)
	// Health returns an error while the process needs a restart to
	// serve again (what liveness reports).
	Health() error
	// Ready returns an error while the store cannot serve requests
	// (what readiness reports).
	Ready() error
	// Stats reports sizes and state for monitoring.
	Stats() Stats
	Close() error
}

// Entry is a stored value with what the store knows about it.
type Entry struct {
	Value       []byte
	ContentType string
	// Version identifies this write of the key: every write gets a
	// version greater than any before it in the store, across restarts.
	Version uint64
	// ExpiresAt is when the entry stops existing; zero for never.
	ExpiresAt time.Time
}

// Record is one entry as a backup holds it: what it takes to write the
// entry again, in any backend. Versions are not kept: a restored entry
// gets a new one.
type Record struct {
	Bucket, Key string
	ContentType string
	// ExpiresAt is when the entry stops existing; zero for never.
	ExpiresAt time.Time
	Value     []byte
}

// OpKind says what an Op does.
type OpKind int

const (
	// OpPut stores a value, replacing the key's value and its expiry.
	OpPut OpKind = iota + 1
	// OpDelete removes a key; a missing key fails with ErrNotFound.
	OpDelete
	// OpCheck writes nothing: it only makes the Apply depend on its
	// Condition.
	OpCheck
)

// Op is one write, or check, of an Apply.
type Op struct {
	Kind        OpKind
	Bucket, Key string
	// Value, ContentType and TTL are for OpPut. TTL 0 stores an entry
	// that never expires; otherwise it must be within MinTTL..MaxTTL.
	Value       []byte
	ContentType string
	TTL         time.Duration
	Cond        Condition
}

// Condition is what must hold of the key, as Apply finds it after the ops
// before this one, for the op to apply. The zero Condition always holds.
type Condition struct {
	// IfMatch, when not 0, is the version the key must have now.
	IfMatch uint64
	// MustExist: the key must exist (If-Match: *).
	MustExist bool
	// MustNotExist: the key must not exist (If-None-Match: *).
	MustNotExist bool
}

// Result is what one op of an Apply did.
type Result struct {
	// Version is the version of a put's or a delete's write; 0 for a check.
	Version uint64
	// Created: a put's key did not exist before.
	Created bool
	// ExpiresAt is when a put's entry expires; zero for never.
	ExpiresAt time.Time
}

// Bounds of a time to live. Expiry is kept to the second.
const (
	MinTTL = time.Second
	MaxTTL = 10 * 365 * 24 * time.Hour
)

// MaxOps bounds the ops of one Apply.
const MaxOps = 128

// MaxTxnValueBytes bounds the values of one transaction of the API. A
// store takes single values up to the server's MAX_VALUE_BYTES, so it
// does not enforce this itself.
const MaxTxnValueBytes = 8 << 20

// ListOptions choose a page of a listing.
type ListOptions struct {
	// Prefix limits the listing to keys that start with it.
	Prefix string
	// Start is where the page starts: the first key at or after it.
	Start string
	// Limit is the most items plus prefixes in the page, 1..MaxListLimit.
	Limit int
	// Delimiter, when not empty, rolls up the keys that contain it after
	// Prefix into one entry of Prefixes each: everything up to and
	// including the delimiter's first occurrence.
	Delimiter string
}

// Bounds of a listing page.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// ListPage is one page of a listing.
type ListPage struct {
	Items    []Item
	Prefixes []string
	// Next is the Start of the next page; "" on the last one.
	Next string
}

// Item describes one key of a listing.
type Item struct {
	Key         string
	Size        int64
	ContentType string
	Version     uint64
	ExpiresAt   time.Time
}

// BucketPage is one page of bucket names.
type BucketPage struct {
	Names []string
	// Next is the start of the next page; "" on the last one.
	Next string
}

// WatchOptions choose what a watch follows.
type WatchOptions struct {
	Prefix string
	// Since replays the changes after this version first; 0 follows
	// only the changes from now on.
	Since uint64
}

// Watcher is a running watch.
type Watcher interface {
	// Events delivers changes in version order. It is closed when the
	// watch ends, after which Err says why.
	Events() <-chan Event
	// Err wraps ErrHistoryGone when the watcher fell so far behind that
	// changes were dropped (the client must list again), ErrClosed when
	// the store closed, or the context's error.
	Err() error
}

// EventType says what a change did.
type EventType int

const (
	EventPut EventType = iota + 1
	EventDelete
)

// Event is one committed change. Expiry produces none.
type Event struct {
	Type        EventType
	Bucket, Key string
	Version     uint64
	ContentType string
	// Value is a put's value. Watchers share it: never modify it.
	Value []byte
}

// PrefixEnd returns the smallest string greater than every string that
// starts with prefix, or "" when there is none (prefix is empty or all
// 0xff bytes).
func PrefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}

// Stats is what a store reports about itself for monitoring. Reading
// them costs a few system calls, not a walk of the data.
type Stats struct {
	// TreeBytes is the size of the engine's index (for Badger, its LSM
	// tree's tables); ValueLogBytes that of its value log, if it has one.
	TreeBytes, ValueLogBytes int64
	// FreeBytes is the space left on the store's filesystem; -1 when
	// unknown.
	FreeBytes int64
	// RefusingWrites: new data is refused for want of space (writes
	// fail with ErrNoSpace).
	RefusingWrites bool
	// Watchers is the number of watches running.
	Watchers int
}

// Observer is told what a store does, for metrics. Its methods are called
// on the write path, so they must be quick and never block.
type Observer interface {
	// Committed: one commit made applies Apply calls durable, with puts
	// and deletes keys written and deleted, in took (its fsync included
	// when the store syncs writes).
	Committed(applies, puts, deletes int, took time.Duration)
	// GarbageCollected: a round of garbage collection ended, and the
	// store's files shrank by reclaimedBytes.
	GarbageCollected(reclaimedBytes int64)
}
