package badgerstore

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Value-log write-back. Badger starts a new value-log file every 64 MiB
// of values, and first msyncs the whole old file (logFile.doneWriting ->
// z.MmapFile.Truncate syncs before it truncates), with or without
// SyncWrites, in its one writer goroutine: every write waits until the
// kernel has written back whatever of the 64 MiB is still dirty. With
// 4 KiB values at 15-20k PUT/s that was about 50 ms of msync every second
// or so, and wrk's PUT p99 (docs/performance.md, "PUT tail"). Without
// SyncWrites, gokv starts the write-back of the newest value-log file
// itself every writebackInterval, without waiting for it, so that the
// rotation's msync finds little left to write. With SyncWrites every
// commit has synced it already.

const writebackInterval = 100 * time.Millisecond

// syncFileRangeWrite is SYNC_FILE_RANGE_WRITE: start writing back the
// range's dirty pages, do not wait for them.
const syncFileRangeWrite = 2

type writeback struct {
	dir      string
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

func startWriteback(dir string) *writeback {
	w := &writeback{dir: dir, stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *writeback) run() {
	defer close(w.done)
	tick := time.NewTicker(writebackInterval)
	defer tick.Stop()
	var (
		f   *os.File
		fid uint32
	)
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	for {
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
		newest, err := newestValueLog(w.dir)
		if err != nil {
			continue
		}
		// A restore's DropAll deletes every value-log file and starts
		// again from number 1: the same number can name a new file.
		if f == nil || newest != fid || !sameFile(f, filepath.Join(w.dir, vlogName(newest))) {
			// The older file is Badger's to sync and, later, to delete;
			// holding it open would keep its space after the delete.
			if f != nil {
				f.Close()
				f = nil
			}
			if f, err = os.Open(filepath.Join(w.dir, vlogName(newest))); err != nil {
				f = nil
				continue
			}
			fid = newest
		}
		// Errors are Badger's to see: its own msync reports them.
		_ = syscall.SyncFileRange(int(f.Fd()), 0, 0, syncFileRangeWrite)
	}
}

// sameFile reports whether f is still the file at path.
func sameFile(f *os.File, path string) bool {
	open, err := f.Stat()
	if err != nil {
		return false
	}
	named, err := os.Stat(path)
	return err == nil && os.SameFile(open, named)
}

// close stops the write-back and waits for it; Store.Close may run more
// than once.
func (w *writeback) close() {
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.done
}
