package badgerstore

import (
	"errors"
	"sync"

	"github.com/dgraph-io/badger/v4"
)

// Group commit. Badger syncs its write-ahead log once per transaction
// (with SyncWrites, every committed transaction gets its own msync), so
// concurrent writers that each commit their own transaction wait for one
// fsync each, one after the other. Instead, writes queue up and whoever
// holds the leader slot commits everything queued as one transaction:
// while one batch waits for its fsync the next one gathers, and N
// concurrent writers share one fsync (LevelDB's writer queue works the
// same way). Without SyncWrites it still saves Badger's per-transaction
// work. A lone writer commits at once, as before.

// Batch bounds: inside Badger's limit for one transaction (15% of a
// memtable, 614 KiB with 4 MiB memtables), counting values in full even
// though large ones go to the value log.
const (
	maxBatchOps   = 256
	maxBatchBytes = 512 << 10
)

// writeOp is one Put or Delete and, once done is closed, its outcome.
type writeOp struct {
	key    []byte
	rec    []byte // the record to store; nil for a delete
	delete bool

	existed bool  // whether the key was there before this op
	err     error // this op's own failure (a delete of a missing key)
	done    chan struct{}
}

func (op *writeOp) size() int { return len(op.key) + len(op.rec) }

// committer is the queue and the leader slot.
type committer struct {
	db     *badger.DB
	space  *spaceGuard   // nil: no free-space check
	fence  *fence        // the store's; a panic in commit fences it
	snaps  *snapshots    // the store's; every commit refreshes it
	leader chan struct{} // holds a token while someone commits
	held   stallClock    // how long the leader slot has been held
	mu     sync.Mutex
	queue  []*writeOp
}

func newCommitter(db *badger.DB, space *spaceGuard, f *fence, snaps *snapshots) *committer {
	return &committer{db: db, space: space, fence: f, snaps: snaps, leader: make(chan struct{}, 1)}
}

// lead takes the leader slot, which the caller has just acquired, and
// returns the function that gives it back.
func (c *committer) lead() (unlead func()) {
	c.held.hold()
	return func() {
		c.held.release()
		<-c.leader
	}
}

// write queues op and returns once it is committed (or failed). The error
// is for the whole batch (ErrConflict exhausted, disk full, closed DB) or
// op.err.
func (c *committer) write(op *writeOp) error {
	op.done = make(chan struct{})
	c.mu.Lock()
	c.queue = append(c.queue, op)
	c.mu.Unlock()
	for {
		select {
		case <-op.done:
			return op.err
		case c.leader <- struct{}{}:
		}
		unlead := c.lead()
		// Leader: the op is either done (committed by the previous
		// leader, which released the slot only after closing done) or
		// still queued.
		select {
		case <-op.done:
			unlead()
			return op.err
		default:
		}
		c.commit(c.take())
		unlead()
	}
}

// exclusive runs fn while no batch is being committed. Value-log GC runs
// this way: Badger's GC reads the memtable's version without the lock its
// writer goroutine writes it under (a data race the race detector
// reports), and GC and writes should not compete for the last free space.
// Writes queue meanwhile and go out as one batch afterwards.
func (c *committer) exclusive(fn func() error) error {
	c.leader <- struct{}{}
	defer c.lead()()
	// GC rewrites values; reads take a snapshot from after it, unless
	// the engine has failed (then the guard leaves Badger alone).
	defer c.fence.guard("refresh snapshot", func() error { c.snaps.refresh(); return nil })
	return fn()
}

// take removes the next batch from the front of the queue.
func (c *committer) take() []*writeOp {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, bytes := 0, 0
	for n < len(c.queue) && n < maxBatchOps {
		bytes += c.queue[n].size()
		if n > 0 && bytes > maxBatchBytes {
			break
		}
		n++
	}
	batch := make([]*writeOp, n)
	copy(batch, c.queue)
	rest := copy(c.queue, c.queue[n:])
	clear(c.queue[rest:])
	c.queue = c.queue[:rest]
	return batch
}

// commit applies batch in one transaction, in queue order, so that each
// op sees the ones before it, and closes every op's done. Ops the disk has
// no room for are refused first, without reaching Badger. A panic inside
// Badger fails the batch and fences the store (fence.go) instead of
// leaving the waiting writers, and the leader slot, stuck.
func (c *committer) commit(batch []*writeOp) {
	if c.space != nil {
		batch = c.space.admit(batch)
		if len(batch) == 0 {
			return
		}
	}
	err := c.fence.guard("commit", func() error {
		err := update(c.db, func(txn *badger.Txn) error {
			for _, op := range batch {
				if err := apply(txn, op); err != nil {
					return err
				}
			}
			return nil
		})
		// Whatever the outcome, reads from now on must not use a
		// snapshot from before this commit.
		c.snaps.refresh()
		return err
	})
	if errors.Is(err, badger.ErrTxnTooBig) && len(batch) > 1 {
		// Cannot happen within the bounds above; if Badger's limits
		// change, fall back to one transaction per op.
		for _, op := range batch {
			c.commit([]*writeOp{op})
		}
		return
	}
	for _, op := range batch {
		if err != nil {
			op.err = err
		}
		close(op.done)
	}
}

// apply performs op inside txn, recording whether the key existed.
func apply(txn *badger.Txn, op *writeOp) error {
	op.err = nil
	_, err := txn.Get(op.key)
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		op.existed = false
	case err != nil:
		return err
	default:
		op.existed = true
	}
	if !op.delete {
		return txn.Set(op.key, op.rec)
	}
	if !op.existed {
		op.err = ErrNotFound
		return nil
	}
	return txn.Delete(op.key)
}

// update runs fn in a read-write transaction, retrying when a concurrent
// write to the same key made the read inside fn stale.
func update(db *badger.DB, fn func(*badger.Txn) error) error {
	var err error
	for range maxTxnRetries {
		err = db.Update(fn)
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
	}
	return err
}
