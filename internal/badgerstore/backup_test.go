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

// TestCloseStopsABackup: Close does not pull Badger's files from under a
// backup that is still reading them (its reads would fault, killing the
// process): the backup stops at its next record with kv.ErrClosed, and
// Close waits for it.
func TestCloseStopsABackup(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		mustPut(t, s, "b", fmt.Sprint("k", i), Entry{Value: []byte("v")})
	}
	closed := make(chan error, 1)
	records := 0
	_, err = s.Backup(context.Background(), func(kv.Record) error {
		records++
		if records == 1 {
			go func() { closed <- s.Close() }()
			<-s.life.Done() // Close has begun, and waits for this backup
		}
		return nil
	})
	if !errors.Is(err, kv.ErrClosed) || records != 1 {
		t.Fatalf("backup while closing: %d records, err = %v; want 1 and kv.ErrClosed", records, err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.Restore(context.Background(), true, func() (kv.Record, error) { return kv.Record{}, io.EOF }); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("restore after Close: err = %v, want kv.ErrClosed", err)
	}
}
