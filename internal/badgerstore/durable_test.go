package badgerstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/kv"
)

// openDurable opens a store with SyncWrites and value-log files of 1 MiB,
// Badger's smallest, so that tests see them rotate.
func openDurable(t *testing.T, dir string) *Store {
	t.Helper()
	opts := Options{SyncWrites: true}
	s, err := open(dir, opts, badgerOptions(dir, opts).WithValueLogFileSize(1<<20))
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	closeAtEnd(t, s)
	return s
}

// TestAcknowledgedWritesAreOnDisk: with SyncWrites, once Apply returns no
// page of the memtable's log or of the value log is still dirty in
// memory: the write would survive a power loss. Values just below and
// above Badger's value-log threshold check gokv's rule for when the value
// log needs a sync; 16 MiB of 4 KiB values and of 500-byte values make
// Badger start new value-log files and new memtables, whose logs gokv
// must find. Dirty pages are read from /proc/self/smaps, where Badger's
// mappings of the files are.
func TestAcknowledgedWritesAreOnDisk(t *testing.T) {
	// A record is the value plus a few bytes of header, whose version
	// takes 3 to 5 of them in a new database; the threshold cases stay
	// 8 bytes off it.
	header := len(encodeRecord(1<<24, "", nil))
	cases := []struct {
		name          string
		size, ops, n  int
		inValueLog    bool // values go to the value log
		wantValueLogs int  // at least this many value-log files in the end
		wantLogs      int  // at least this many memtable logs started
	}{
		{"100 B", 100, 1, 50, false, 1, 1},
		{"just below the value-log threshold", valueThreshold - header - 8, 1, 50, false, 1, 1},
		{"just above the value-log threshold", valueThreshold - header + 8, 1, 50, true, 1, 1},
		{"4 KiB, 10 value-log files", 4 << 10, 100, 41, true, 10, 1},
		{"500 B, 4 memtables", 500, 128, 256, false, 1, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openDurable(t, dir)
			value := bytes.Repeat([]byte("v"), tc.size)
			firstLog := newestLogNumber(t, dir, memExt)
			for i := range tc.n {
				ops := make([]kv.Op, tc.ops)
				for j := range ops {
					ops[j] = kv.Op{Kind: kv.OpPut, Bucket: "b", Key: fmt.Sprintf("k%d-%d", i, j), Value: value}
				}
				if _, err := s.Apply(context.Background(), ops); err != nil {
					t.Fatalf("Apply %d: %v", i, err)
				}
				for file, kib := range dirtyLogKiB(t, dir) {
					if kib > 0 {
						t.Fatalf("after Apply %d was acknowledged, %d KiB of %s are still dirty", i, kib, file)
					}
				}
			}
			if got := valueLogBytes(dir) >= int64(tc.n*tc.ops*tc.size); got != tc.inValueLog {
				t.Errorf("%d bytes in value-log files after %d values of %d bytes: the case did not test what it says",
					valueLogBytes(dir), tc.n*tc.ops, tc.size)
			}
			if got := newestLogNumber(t, dir, vlogExt); got < tc.wantValueLogs {
				t.Errorf("the newest value-log file is %d, want at least %d: the case did not test rotation", got, tc.wantValueLogs)
			}
			if got := newestLogNumber(t, dir, memExt) - firstLog + 1; got < tc.wantLogs {
				t.Errorf("%d memtable logs, want at least %d: the case did not test rotation", got, tc.wantLogs)
			}
		})
	}
}

// TestWritesAreSeenOnlyOnceOnDisk: while the flush that covers a write
// has not finished, its writer waits, and no read and no watch sees the
// write; a power loss could still take it back.
func TestWritesAreSeenOnlyOnceOnDisk(t *testing.T) {
	s := openDurable(t, t.TempDir())
	w, err := s.Watch(t.Context(), "b", kv.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	flushing, finish := make(chan struct{}), make(chan struct{})
	s.writes.durable.beforeFlush = func() {
		close(flushing)
		<-finish
	}
	put := make(chan error, 1)
	go func() {
		_, err := s.Put("b", "k", Entry{Value: []byte("v")})
		put <- err
	}()
	<-flushing
	if _, err := s.get("b", "k"); !errors.Is(err, kv.ErrNotFound) {
		t.Errorf("Get during the flush: %v, want not found", err)
	}
	select {
	case ev := <-w.Events():
		t.Errorf("the watch got %v during the flush", ev)
	case err := <-put:
		t.Errorf("Put returned %v during the flush", err)
	case <-time.After(200 * time.Millisecond):
	}
	s.writes.durable.beforeFlush = nil
	close(finish)
	if err := <-put; err != nil {
		t.Fatalf("Put: %v", err)
	}
	if e, err := s.get("b", "k"); err != nil || string(e.Value) != "v" {
		t.Errorf("Get after the flush: %q, %v", e.Value, err)
	}
	select {
	case ev := <-w.Events():
		if ev.Key != "k" {
			t.Errorf("the watch got %v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Error("the watch got nothing after the flush")
	}
}

// TestValueLogGCKeepsTheOldFileUntilSynced: value-log GC moves the live
// values of a file into the memtable and deletes the file. With SyncWrites
// the file must stay until the moved values are synced: deleted earlier, a
// power loss in between would lose them.
func TestValueLogGCKeepsTheOldFileUntilSynced(t *testing.T) {
	dir := t.TempDir()
	s := openDurable(t, dir)
	value := bytes.Repeat([]byte("v"), 4<<10)
	// Two rounds over the same keys: half of what the first wrote is
	// garbage, in files that are no longer the newest.
	for round := range 2 {
		for i := range 8 {
			ops := make([]kv.Op, 100)
			for j := range ops {
				ops[j] = kv.Op{Kind: kv.OpPut, Bucket: "b", Key: fmt.Sprintf("k%d-%d", i, j), Value: append(value, byte(round))}
			}
			if _, err := s.Apply(context.Background(), ops); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Badger learns what is garbage when compactions drop old versions.
	if err := s.writes.exclusive(func() error { return flushMemtables(s.db) }); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Flatten(2); err != nil {
		t.Fatal(err)
	}
	var before, during []string
	err := s.writes.exclusive(func() error {
		before = valueLogFiles(t, dir)
		if err := s.db.RunValueLogGC(0.1); err != nil {
			return err
		}
		during = valueLogFiles(t, dir)
		return nil
	})
	if err != nil {
		t.Fatalf("value-log GC rewrote nothing: %v", err)
	}
	after := valueLogFiles(t, dir)
	var gone []string
	for _, f := range before {
		if !slices.Contains(after, f) {
			gone = append(gone, f)
		}
	}
	if len(gone) == 0 {
		t.Fatalf("value-log files before GC %q, after %q: none deleted", before, after)
	}
	for _, f := range gone {
		if !slices.Contains(during, f) {
			t.Errorf("GC deleted %s before the moved values were synced", f)
		}
	}
	for i := range 8 {
		for j := range 100 {
			if e, err := s.get("b", fmt.Sprintf("k%d-%d", i, j)); err != nil || !bytes.Equal(e.Value, append(value, 1)) {
				t.Fatalf("k%d-%d after GC: %d bytes, %v", i, j, len(e.Value), err)
			}
		}
	}
}

// TestRestoreIsOnDiskWhenItReturns: a restore writes past the committer;
// with SyncWrites it returns only once what it wrote is synced, value-log
// files started again from number 1 included.
func TestRestoreIsOnDiskWhenItReturns(t *testing.T) {
	dir := t.TempDir()
	s := openDurable(t, dir)
	value := bytes.Repeat([]byte("v"), 4<<10)
	mustPut(t, s, "b", "before", Entry{Value: value})
	n := 0
	next := func() (kv.Record, error) {
		if n == 1000 {
			return kv.Record{}, io.EOF
		}
		n++
		return kv.Record{Bucket: "b", Key: fmt.Sprint("k", n), Value: value}, nil
	}
	if got, err := s.Restore(context.Background(), true, next); err != nil || got != 1000 {
		t.Fatalf("Restore: %d, %v", got, err)
	}
	for file, kib := range dirtyLogKiB(t, dir) {
		if kib > 0 {
			t.Errorf("after Restore returned, %d KiB of %s are still dirty", kib, file)
		}
	}
	if e, err := s.get("b", "k1000"); err != nil || !bytes.Equal(e.Value, value) {
		t.Errorf("k1000 after Restore: %d bytes, %v", len(e.Value), err)
	}
}

// TestFailedFlushFencesTheStore: when syncing the logs fails, what is on
// disk is unknown; the writes it covered fail, and so does everything
// after, until a restart.
func TestFailedFlushFencesTheStore(t *testing.T) {
	s := openDurable(t, t.TempDir())
	mustPut(t, s, "b", "before", Entry{Value: []byte("v")})
	// fdatasync fails on a pipe (EINVAL) as it would on a failing disk
	// (EIO).
	s.writes.durable.beforeFlush = func() {
		r, w, err := os.Pipe()
		if err != nil {
			t.Error(err)
			return
		}
		w.Close()
		d := s.writes.durable
		d.files.Lock()
		defer d.files.Unlock()
		for _, f := range d.wal.open {
			f.Close()
		}
		d.wal.open = []*os.File{r}
	}
	if _, err := s.Put("b", "k", Entry{Value: []byte("v")}); !errors.Is(err, kv.ErrFailed) {
		t.Fatalf("Put during a failed flush: %v, want kv.ErrFailed", err)
	}
	s.writes.durable.beforeFlush = nil
	if err := s.Health(); !errors.Is(err, kv.ErrFailed) {
		t.Errorf("Health after a failed flush: %v, want kv.ErrFailed", err)
	}
	if _, err := s.get("b", "before"); !errors.Is(err, kv.ErrFailed) {
		t.Errorf("Get after a failed flush: %v, want kv.ErrFailed", err)
	}
	if err := s.Close(); !errors.Is(err, kv.ErrFailed) {
		t.Errorf("Close after a failed flush: %v, want kv.ErrFailed", err)
	}
}

// dirtyLogKiB returns, for every memtable log and value-log file under dir
// that this process has mapped, how many KiB of it are dirty.
func dirtyLogKiB(t testing.TB, dir string) map[string]int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	dirty := map[string]int{}
	file := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if strings.Contains(fields[0], "-") && len(fields) >= 5 {
			file = fields[len(fields)-1]
			if !strings.HasPrefix(file, dir+"/") || !(strings.HasSuffix(file, memExt) || strings.HasSuffix(file, vlogExt)) {
				file = ""
			}
			continue
		}
		if file != "" && (fields[0] == "Private_Dirty:" || fields[0] == "Shared_Dirty:") {
			n, _ := strconv.Atoi(fields[1])
			dirty[filepath.Base(file)] += n
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return dirty
}

// newestLogNumber is the number of the newest file in dir with extension
// ext.
func newestLogNumber(t *testing.T, dir, ext string) int {
	t.Helper()
	fids, err := logNumbers(dir, ext)
	if err != nil {
		t.Fatal(err)
	}
	newest := 0
	for _, fid := range fids {
		newest = max(newest, int(fid))
	}
	return newest
}

// valueLogFiles lists the names of the value-log files in dir.
func valueLogFiles(t *testing.T, dir string) []string {
	t.Helper()
	fids, err := logNumbers(dir, vlogExt)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fid := range fids {
		names = append(names, vlogName(fid))
	}
	return names
}
