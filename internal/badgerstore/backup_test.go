package badgerstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

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
