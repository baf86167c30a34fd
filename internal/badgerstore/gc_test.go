package badgerstore

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestGCGivesSpaceBack overwrites the same 10k keys many times, deletes
// them, and expects the server's GC loop (RunGC) to bring the disk usage
// of the database down within a bounded time.
//
// Badger learns which value-log bytes are garbage only when compactions
// drop old versions, so the keys are long enough (500 bytes) for every
// round to fill most of a memtable and keep flushes and compactions going.
func TestGCGivesSpaceBack(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	const keys, rounds, writers = 10000, 8, 8
	value := bytes.Repeat([]byte{'v'}, 1500) // above the 1 KiB value-log threshold
	keyOf := func(i int) string { return fmt.Sprintf("%s-%05d", bytes.Repeat([]byte("k"), 500), i) }

	var wg sync.WaitGroup
	for round := range rounds {
		for w := range writers {
			wg.Go(func() {
				v := append(bytes.Clone(value), byte(round))
				for i := w; i < keys; i += writers {
					if _, err := s.Put("gc", keyOf(i), Entry{Value: v}); err != nil {
						t.Errorf("Put: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
	}
	written := diskUsage(t, dir)
	for w := range writers {
		wg.Go(func() {
			for i := w; i < keys; i += writers {
				if err := s.Delete("gc", keyOf(i)); err != nil {
					t.Errorf("Delete: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	deleted := diskUsage(t, dir)

	ctx, cancel := context.WithCancel(context.Background())
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		s.RunGC(ctx, 200*time.Millisecond, slog.New(slog.DiscardHandler))
	}()
	defer func() {
		cancel()
		<-gcDone
	}()
	const limit = 60 * time.Second
	start := time.Now()
	now := deleted
	for now > written/2 && time.Since(start) < limit {
		time.Sleep(200 * time.Millisecond)
		now = diskUsage(t, dir)
	}
	t.Logf("%d keys x %d rounds of %d-byte values: %d MiB on disk; after deleting them %d MiB; after %s of GC %d MiB",
		keys, rounds, len(value), written>>20, deleted>>20, time.Since(start).Round(100*time.Millisecond), now>>20)
	if now > written/2 {
		t.Errorf("disk usage still %d MiB after %s of GC, want at most half of the %d MiB written", now>>20, limit, written>>20)
	}
}

// diskUsage is the space the files in dir take on disk, like du: Badger's
// files are sparse, so their sizes say little.
func diskUsage(t testing.TB, dir string) int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, f := range files {
		info, err := os.Stat(f)
		if err != nil {
			continue // removed by Badger meanwhile
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		}
	}
	return total
}
