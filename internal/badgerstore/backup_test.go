package badgerstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/kv"
)

// TestRestoreStopsOnAFullDisk: a restore writes past the committer, so it
// checks the free space itself: once the disk runs low it stops with
// kv.ErrNoSpace rather than let Badger fill it (and die of SIGBUS), and a
// store that was empty is empty again.
func TestRestoreStopsOnAFullDisk(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	var free atomic.Uint64
	free.Store(1 << 30)
	s.writes.space = &spaceGuard{dir: "test", minFree: 1000, free: func(string) (uint64, error) { return free.Load(), nil }}
	n := 0
	next := func() (kv.Record, error) {
		if n == 2000 {
			return kv.Record{}, io.EOF
		}
		n++
		if n == 1000 {
			free.Store(999) // the disk fills half way
		}
		return kv.Record{Bucket: "b", Key: fmt.Sprint("k", n), Value: []byte("v")}, nil
	}
	if _, err := s.Restore(context.Background(), false, next); !errors.Is(err, kv.ErrNoSpace) {
		t.Fatalf("Restore onto a disk that fills: err = %v, want kv.ErrNoSpace", err)
	}
	empty, err := s.empty()
	if err != nil || !empty {
		t.Fatalf("after a failed restore into an empty store: empty = %v, %v", empty, err)
	}
	free.Store(1 << 30)
	n = 0
	if got, err := s.Restore(context.Background(), false, func() (kv.Record, error) {
		if n == 10 {
			return kv.Record{}, io.EOF
		}
		n++
		return kv.Record{Bucket: "b", Key: fmt.Sprint("k", n), Value: []byte("v")}, nil
	}); err != nil || got != 10 {
		t.Fatalf("Restore once there is room: %d, %v", got, err)
	}
}

// TestLongRestoreIsNoStall: a restore holds the write path for as long as
// it takes, making progress all along; Health must not report the write
// path stalled meanwhile, or liveness would restart gokv half way.
func TestLongRestoreIsNoStall(t *testing.T) {
	const stall = 10 * time.Millisecond
	s, err := Open(t.TempDir(), Options{WriteStallTimeout: stall})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var health error
	n := 0
	next := func() (kv.Record, error) {
		if n == 3 {
			return kv.Record{}, io.EOF
		}
		n++
		if n == 2 {
			time.Sleep(5 * stall) // a restore longer than the stall timeout
			health = s.Health()
		}
		return kv.Record{Bucket: "b", Key: fmt.Sprint("k", n), Value: []byte("v")}, nil
	}
	if _, err := s.Restore(context.Background(), false, next); err != nil {
		t.Fatal(err)
	}
	if health != nil {
		t.Fatalf("Health during a long restore: %v, want nil", health)
	}
}
