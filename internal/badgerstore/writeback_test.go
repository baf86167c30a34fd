package badgerstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/kv"
)

// TestValueLogIsWrittenBack: without SyncWrites, values written to the
// value log do not stay dirty in memory until Badger rotates the file
// (whose msync would then write them all back while every write waits):
// the write-back (writeback.go) has started writing them within a few
// intervals. Dirty pages are read from /proc/self/smaps, where Badger's
// mapping of the file lives.
func TestValueLogIsWrittenBack(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	value := bytes.Repeat([]byte("v"), 4<<10)
	for i := range 2048 { // 8 MiB of values, all in the value log
		mustPut(t, s, "b", fmt.Sprint("k", i), Entry{Value: value})
	}
	deadline := time.Now().Add(20 * writebackInterval)
	for {
		dirty := valueLogDirtyKiB(t, dir)
		if dirty < 1024 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d KiB of the value log still dirty %s after writing 8 MiB", dirty, 20*writebackInterval)
		}
		time.Sleep(writebackInterval)
	}
}

// valueLogDirtyKiB sums the dirty pages of this process's mappings of
// value-log files under dir.
func valueLogDirtyKiB(t testing.TB, dir string) int {
	t.Helper()
	var dirty int
	for file, kib := range dirtyLogKiB(t, dir) {
		if strings.HasSuffix(file, vlogExt) {
			dirty += kib
		}
	}
	return dirty
}

// TestWritebackFollowsARestore: a restore's DropAll deletes every
// value-log file and starts again from number 1; the write-back lets go
// of the deleted file, whose space would otherwise stay taken, and writes
// back the new one.
func TestWritebackFollowsARestore(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	value := bytes.Repeat([]byte("v"), 4<<10)
	for i := range 256 {
		mustPut(t, s, "b", fmt.Sprint("k", i), Entry{Value: value})
	}
	time.Sleep(2 * writebackInterval) // the write-back has opened value log 1
	next := func() (kv.Record, error) { return kv.Record{}, io.EOF }
	if _, err := s.Restore(context.Background(), true, next); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * writebackInterval)
	for {
		held := deletedFilesUnder(t, dir)
		if len(held) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s after a restore, the process still holds deleted files %q", 20*writebackInterval, held)
		}
		time.Sleep(writebackInterval)
	}
}

// deletedFilesUnder lists the deleted files under dir this process holds
// open.
func deletedFilesUnder(t *testing.T, dir string) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	var held []string
	for _, fd := range fds {
		target, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if err == nil && strings.HasPrefix(target, dir+"/") && strings.HasSuffix(target, " (deleted)") {
			held = append(held, target)
		}
	}
	return held
}
