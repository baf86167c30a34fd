package badgerstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Durable writes, synced by gokv. With Badger's own SyncWrites, its one
// writer goroutine msyncs the value-log file after every write group,
// even when no value went there, and then the memtable's log; the next
// batch waits for both flushes, and each commit is several hand-offs
// between Badger's goroutines that wait behind every runnable handler on
// one core (docs/performance.md, "Durable writes"). So gokv opens Badger
// without SyncWrites and syncs the log files itself, in a goroutine of
// its own and pipelined: while one flush runs, the committer commits the
// next batch, and the next flush covers it. A batch is acknowledged, its
// changes published and a read snapshot that includes it installed only
// once a flush covers it: no read and no watch sees a write that a power
// loss could still take back.
//
// What a flush syncs, with fdatasync on descriptors of its own (Badger's
// files are memory-mapped; fdatasync writes back pages dirtied through the
// mapping): the value-log file first, when a batch since the last flush put
// a value there (values of valueThreshold bytes or more), so that no log
// entry on disk points at value bytes that are not; then the memtable's
// log. Badger starts a new file of either kind without syncing the old
// one; their numbers only grow, so each flush first looks for the next
// number and syncs the old file and the new one.
//
// While a flush runs the committer goes on committing what arrives, up to
// maxUnsyncedBatches batches not yet flushed; then it waits, and the next
// batch it takes holds everything that arrived meanwhile. The bound keeps
// the number of values a machine crash can leave in the memtable's log
// without their value-log bytes small (see maxTornValues). Deeper is
// faster while a flush takes longer than a commit, as on most disks: the
// writers that arrive during a flush are all committed by the time it
// ends, and the next flush takes them all (docs/performance.md).

// maxUnsyncedBatches is the depth of the pipeline.
const maxUnsyncedBatches = 8

// maxTornValues is how many value-log entries can be missing from the end
// of the newest value-log file after a machine crash, while the memtable's
// log has the keys that point to them: every value of the batches not yet
// synced. Kernel write-back may put a log page on disk before the value-log
// page it points to; those batches were never acknowledged.
const maxTornValues = maxUnsyncedBatches * maxBatchBytes / valueThreshold

// committed is a batch that Badger has committed and gokv has yet to
// acknowledge, or, with only flushed set, a marker for drain.
type committed struct {
	batch   []*writeOp
	written written
	snap    *snapshot // sees this batch and those before; nil once the DB is closed
	err     error     // the batch's own failure
	begin   time.Time
	flushed chan struct{}
}

// flushLoop acknowledges committed batches once a flush covers them, in
// the order they were committed. A failed flush leaves the state of the
// files unknown (the kernel may have dropped the pages it could not
// write), so it fences the store: the batches it covered, and every later
// call, fail.
func (c *committer) flushLoop() {
	s := c.durable
	defer close(s.done)
	for {
		group := s.take()
		if group == nil {
			return
		}
		wrote, withValues := false, false
		for _, d := range group {
			if d.flushed == nil && d.err == nil {
				wrote = true
				withValues = withValues || d.written.valueLog
			}
		}
		var err error
		if wrote {
			if err = s.flush(withValues); err != nil {
				err = c.fence.stop("sync the logs", err)
			}
		}
		c.acknowledge(group, err)
	}
}

// syncWritten makes durable what was written outside the committer while
// it was held (value-log GC, a restore).
func (c *committer) syncWritten() error {
	if c.durable == nil {
		return nil
	}
	if err := c.durable.syncAll(); err != nil {
		return c.fence.stop("sync the logs", err)
	}
	return nil
}

// keepValueLogFiles stops Badger deleting value-log files until the
// returned function is called. Value-log GC deletes the file it rewrote as
// soon as the moved values are in the memtable, whose log gokv has not
// synced yet: a machine crash in between would lose them. Badger defers
// the delete while an iterator is open.
func keepValueLogFiles(db *badger.DB) (release func()) {
	txn := db.NewTransaction(false)
	it := txn.NewIterator(badger.IteratorOptions{})
	return func() {
		it.Close()
		txn.Discard()
	}
}

// syncer is the flush goroutine's side of the pipeline.
type syncer struct {
	held stallClock // how long the current flush has taken

	// beforeFlush, unless nil, runs before every flush; tests use it to
	// hold a flush or to look at the files first.
	beforeFlush func()

	mu      sync.Mutex
	room    *sync.Cond // signalled whenever pending shrinks
	pending []*committed
	closed  bool
	wake    chan struct{} // holds a token while pending has work
	done    chan struct{}

	files sync.Mutex // guards wal and vlog
	wal   logChain
	vlog  logChain
}

func newSyncer(dir string) (*syncer, error) {
	s := &syncer{
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
		wal:  logChain{dir: dir, ext: memExt, name: walName},
		vlog: logChain{dir: dir, ext: vlogExt, name: vlogName},
	}
	s.room = sync.NewCond(&s.mu)
	// What a process that crashed before this one left unsynced is on
	// disk before anything from it is read.
	if err := s.syncAll(); err != nil {
		return nil, err
	}
	return s, nil
}

func walName(fid uint32) string { return fmt.Sprintf("%05d%s", fid, memExt) }

// waitForRoom returns once the pipeline has room for another batch.
func (s *syncer) waitForRoom() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.pending) >= maxUnsyncedBatches-1 && !s.closed {
		s.room.Wait()
	}
}

// enqueue hands c to the flush goroutine, and reports false when the
// syncer is closed: then nobody will flush c.
func (s *syncer) enqueue(c *committed) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.pending = append(s.pending, c)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

// drain returns once every batch enqueued before it is acknowledged.
func (s *syncer) drain() {
	c := &committed{flushed: make(chan struct{})}
	if s.enqueue(c) {
		<-c.flushed
	}
}

// take waits for work and removes all of it; nil once closed and done.
func (s *syncer) take() []*committed {
	for {
		s.mu.Lock()
		if len(s.pending) > 0 {
			got := s.pending
			s.pending = nil
			s.room.Broadcast()
			s.mu.Unlock()
			return got
		}
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return nil
		}
		<-s.wake
	}
}

// close lets the flush goroutine finish what is pending, waits for it,
// and closes the files. Later batches fail.
func (s *syncer) close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		s.room.Broadcast()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	s.mu.Unlock()
	<-s.done
	s.files.Lock()
	defer s.files.Unlock()
	s.wal.closeAll()
	s.vlog.closeAll()
}

// flush makes everything committed so far durable: the value log only
// when withValues.
func (s *syncer) flush(withValues bool) error {
	return s.syncing(func() error {
		if withValues {
			if err := s.vlog.sync(); err != nil {
				return err
			}
		}
		return s.wal.sync()
	})
}

// syncAll syncs every log file in the directory and starts following the
// newest of each kind again: after work that wrote outside the committer
// (value-log GC, a restore, which also starts the numbers of value-log
// files again from 1), and at open.
func (s *syncer) syncAll() error {
	return s.syncing(func() error {
		if err := s.vlog.syncAll(); err != nil {
			return err
		}
		return s.wal.syncAll()
	})
}

// syncing runs fn, which syncs files, holding them, with the stall clock
// running.
func (s *syncer) syncing(fn func() error) error {
	if s.beforeFlush != nil {
		s.beforeFlush()
	}
	s.held.hold()
	defer s.held.release()
	s.files.Lock()
	defer s.files.Unlock()
	return fn()
}

// logChain follows the newest log file of one kind: Badger writes only
// to the newest, and numbers a new one by adding 1.
type logChain struct {
	dir  string
	ext  string
	name func(fid uint32) string
	// open holds the newest file last; older ones only until they
	// have been synced once more after a newer one appeared.
	open []*os.File
	fid  uint32 // the newest's number; 0 before the first
}

// sync syncs every file that may hold unsynced writes, having first
// opened the files Badger started since the last call.
func (l *logChain) sync() error {
	for {
		f, err := os.Open(filepath.Join(l.dir, l.name(l.fid+1)))
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return fmt.Errorf("open %s: %w", l.name(l.fid+1), err)
		}
		l.open = append(l.open, f)
		l.fid++
	}
	for _, f := range l.open {
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return fmt.Errorf("sync %s: %w", filepath.Base(f.Name()), err)
		}
	}
	// An older file gets no more writes; its descriptor would keep its
	// space after Badger deletes it.
	if n := len(l.open); n > 1 {
		for _, f := range l.open[:n-1] {
			f.Close()
		}
		l.open = append(l.open[:0], l.open[n-1])
	}
	return nil
}

// syncAll syncs every file of the kind in the directory and follows the
// newest from then on.
func (l *logChain) syncAll() error {
	l.closeAll()
	fids, err := logNumbers(l.dir, l.ext)
	if err != nil {
		return err
	}
	for _, fid := range fids {
		f, err := os.Open(filepath.Join(l.dir, l.name(fid)))
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted meanwhile: its data is in a table
		}
		if err != nil {
			return fmt.Errorf("open %s: %w", l.name(fid), err)
		}
		err = syscall.Fdatasync(int(f.Fd()))
		if err != nil {
			f.Close()
			return fmt.Errorf("sync %s: %w", l.name(fid), err)
		}
		if fid >= l.fid {
			l.closeAll()
			l.open, l.fid = append(l.open, f), fid
		} else {
			f.Close()
		}
	}
	return nil
}

func (l *logChain) closeAll() {
	for _, f := range l.open {
		f.Close()
	}
	l.open, l.fid = nil, 0
}
