package badgerstore

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/gokv-service/gokv/internal/kv"
)

// Group commit. Writes queue up and whoever holds the leader slot commits
// everything queued as one Badger transaction (LevelDB's writer queue
// works the same way): N concurrent writers share Badger's
// per-transaction work and, with SyncWrites, their fsync, which gokv
// issues itself once a batch is committed (durable.go) while the next
// batch gathers. A lone writer commits at once.

// Batch bounds: inside Badger's limit for one transaction (15% of a
// memtable, 614 KiB with 4 MiB memtables), counting values in full even
// though large ones go to the value log.
const (
	maxBatchOps   = 256
	maxBatchBytes = 512 << 10
)

// writeOp is one Apply: ops that commit all together or not at all, and
// once done is closed, their outcome.
type writeOp struct {
	ops  []kv.Op
	keys [][]byte // ops[i]'s Badger key
	size int      // bytes of keys and values, for the batch bound

	taken   bool // out of the queue, in a batch; guarded by committer.mu
	results []kv.Result
	err     error // this op's own failure (an *kv.OpError) or the batch's
	done    chan struct{}
}

// newWriteOp validates ops and encodes their keys.
func newWriteOp(ops []kv.Op) (*writeOp, error) {
	if len(ops) == 0 || len(ops) > kv.MaxOps {
		return nil, fmt.Errorf("%w: 1 to %d ops in one apply, not %d", kv.ErrInvalid, kv.MaxOps, len(ops))
	}
	op := &writeOp{ops: ops, keys: make([][]byte, len(ops))}
	for i, o := range ops {
		if err := kv.ValidateOp(o); err != nil {
			return nil, &kv.OpError{Index: i, Err: err}
		}
		k := bucketKey(o.Bucket, o.Key)
		op.keys[i] = k
		op.size += len(k) + len(o.Value) + len(o.ContentType)
	}
	return op, nil
}

// onlyRemoves reports whether op writes no new data, which a full disk
// still admits.
func (op *writeOp) onlyRemoves() bool {
	for _, o := range op.ops {
		if o.Kind == kv.OpPut {
			return false
		}
	}
	return true
}

// committer is the queue and the leader slot.
type committer struct {
	db    *badger.DB
	space *spaceGuard // nil: no free-space check
	fence *fence      // the store's; a panic in commit fences it
	snaps *snapshots  // the store's; every commit refreshes it
	// durable, unless nil, syncs the logs and acknowledges committed
	// batches (durable.go); nil without SyncWrites, when batches are
	// acknowledged as soon as Badger has them.
	durable *syncer
	// publish, unless nil, receives the changes of every commit, in
	// order, before the writers are acknowledged.
	publish func([]kv.Event)
	// observer, unless nil, is told of every commit that succeeds.
	observer kv.Observer
	leader   chan struct{} // holds a token while someone commits
	held     stallClock    // how long the leader slot has been held
	mu       sync.Mutex
	queue    []*writeOp
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
		// Leader: the op is either taken by an earlier leader (and
		// done, or, with durable, waiting for its flush) or still
		// queued.
		if c.taken(op) {
			unlead()
			<-op.done
			return op.err
		}
		if c.durable != nil {
			c.durable.waitForRoom()
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
	if c.durable == nil || c.db.IsClosed() {
		return fn()
	}
	c.durable.drain()
	defer keepValueLogFiles(c.db)()
	return errors.Join(fn(), c.syncWritten())
}

// hold runs fn while no batch is being committed, as exclusive does, for
// work that takes long while making progress: a restore. The stall clock
// does not run meanwhile, so Health does not report the write path
// stalled (and liveness does not restart the process) however long a
// large restore takes. Writes queue meanwhile; the API refuses them
// first.
func (c *committer) hold(fn func() error) error {
	c.leader <- struct{}{}
	defer func() { <-c.leader }()
	if c.durable != nil {
		c.durable.drain()
	}
	return fn()
}

// taken reports whether a leader has taken op from the queue.
func (c *committer) taken(op *writeOp) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return op.taken
}

// take removes the next batch from the front of the queue.
func (c *committer) take() []*writeOp {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, bytes := 0, 0
	for n < len(c.queue) && n < maxBatchOps {
		bytes += c.queue[n].size
		if n > 0 && bytes > maxBatchBytes {
			break
		}
		n++
	}
	batch := make([]*writeOp, n)
	copy(batch, c.queue)
	for _, op := range batch {
		op.taken = true
	}
	rest := copy(c.queue, c.queue[n:])
	clear(c.queue[rest:])
	c.queue = c.queue[:rest]
	return batch
}

// commit applies batch in one transaction, in queue order, so that each
// op sees the ones before it, and has it acknowledged. Ops the disk has
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
	d := &committed{batch: batch, begin: time.Now()}
	d.err = c.fence.guard("commit", func() error {
		err := update(c.db, func(txn *badger.Txn) error {
			v := newVersions(txn.ReadTs())
			d.written = written{}
			for _, op := range batch {
				if err := apply(txn, op, v, &d.written); err != nil {
					return err
				}
			}
			return nil
		})
		// Whatever the outcome, reads after the writers hear of it must
		// not use a snapshot from before this commit. Taken now, before
		// the next batch commits, it sees this batch and no later one.
		d.snap = c.snaps.take()
		return err
	})
	if errors.Is(d.err, badger.ErrTxnTooBig) && len(batch) > 1 {
		// Cannot happen within the bounds above; if Badger's limits
		// change, fall back to one transaction per op.
		if d.snap != nil {
			d.snap.unref()
		}
		for _, op := range batch {
			c.commit([]*writeOp{op})
		}
		return
	}
	if c.durable == nil {
		c.acknowledge([]*committed{d}, nil)
		return
	}
	if !c.durable.enqueue(d) {
		// Closing: no flush will cover the batch, and no read may see
		// it.
		if d.snap != nil {
			d.snap.unref()
			d.snap = nil
		}
		c.acknowledge([]*committed{d}, badger.ErrDBClosed)
	}
}

// acknowledge ends group, batches committed in this order and all on disk
// as configured, unless flushErr: reads get the newest snapshot, watchers
// the changes, the observer the counts, and each writer its outcome.
func (c *committer) acknowledge(group []*committed, flushErr error) {
	var newest *snapshot
	for _, d := range group {
		if d.snap == nil {
			continue
		}
		if newest != nil {
			newest.unref()
		}
		newest = d.snap
	}
	if newest != nil {
		// A fenced store leaves Badger alone; its reads fail anyway.
		_ = c.fence.guard("refresh snapshot", func() error { c.snaps.install(newest); return nil })
	}
	for _, d := range group {
		if d.flushed != nil {
			close(d.flushed)
			continue
		}
		err := d.err
		if err == nil {
			err = flushErr
		}
		if err == nil {
			if c.publish != nil && len(d.written.events) > 0 {
				c.publish(d.written.events)
			}
			if c.observer != nil {
				c.observe(d.batch, d.written.events, time.Since(d.begin))
			}
		}
		for _, op := range d.batch {
			if err != nil {
				op.err = err
			}
			close(op.done)
		}
	}
}

// observe tells the observer of a successful commit of batch. Ops that
// failed their condition wrote nothing and are not counted.
func (c *committer) observe(batch []*writeOp, events []kv.Event, took time.Duration) {
	applies, puts := 0, 0
	for _, op := range batch {
		if op.err == nil {
			applies++
		}
	}
	for _, ev := range events {
		if ev.Type == kv.EventPut {
			puts++
		}
	}
	c.observer.Committed(applies, puts, len(events)-puts, took)
}

// versions hands out the versions of one batch's writes. A version is the
// batch's Badger read timestamp shifted left by versionShift, plus the
// write's position in the batch. The next batch reads at or after this
// batch's commit timestamp, which is greater than this one's read
// timestamp, so versions only grow, also across restarts (Badger resumes
// its timestamps from the newest one on disk), and writes to one key in
// one batch still get versions of their own.
type versions struct {
	base, n uint64
}

// versionShift leaves room for every write of a batch: at most maxBatchOps
// applies of kv.MaxOps ops.
const versionShift = 16

func newVersions(readTs uint64) *versions { return &versions{base: readTs << versionShift} }

func (v *versions) next() uint64 {
	v.n++
	return v.base + v.n
}

// versionOf is the version of a stored entry: the one in its record, or,
// for a record written before records carried one, one derived from
// Badger's commit timestamp that is smaller than any written since.
func versionOf(item *badger.Item, r record) uint64 {
	if r.version != 0 {
		return r.version
	}
	return item.Version() << versionShift
}

// keyState is what an op's condition is checked against.
type keyState struct {
	exists  bool
	version uint64
}

// written is what a batch wrote: its changes, for watchers, and whether
// a value went to the value log, which a flush must then sync.
type written struct {
	events   []kv.Event
	valueLog bool
}

// apply performs op's ops inside txn, all or none: it checks every
// condition first, each against the state the ops before it leave, and
// only then writes. An op that fails leaves its error in op.err and the
// transaction untouched; an error from Badger fails the whole batch.
func apply(txn *badger.Txn, op *writeOp, v *versions, w *written) error {
	op.err = nil
	op.results = make([]kv.Result, len(op.ops))
	pending := make(map[string]keyState, len(op.ops))
	for i, o := range op.ops {
		cur, ok := pending[string(op.keys[i])]
		if !ok {
			var err error
			cur, err = readState(txn, op.keys[i], o.Cond.IfMatch != 0)
			if err != nil {
				return err
			}
		}
		if err := check(o, cur); err != nil {
			op.err = &kv.OpError{Index: i, Err: err}
			return nil
		}
		switch o.Kind {
		case kv.OpPut:
			op.results[i].Created = !cur.exists
			op.results[i].Version = v.next()
			pending[string(op.keys[i])] = keyState{exists: true, version: op.results[i].Version}
		case kv.OpDelete:
			op.results[i].Version = v.next()
			pending[string(op.keys[i])] = keyState{}
		}
	}
	now := time.Now()
	for i, o := range op.ops {
		var e *badger.Entry
		version := op.results[i].Version
		switch o.Kind {
		case kv.OpPut:
			rec := encodeRecord(version, o.ContentType, o.Value)
			// Badger's rule for what goes to the value log.
			w.valueLog = w.valueLog || len(rec) >= valueThreshold
			e = badger.NewEntry(op.keys[i], rec)
			if o.TTL > 0 {
				e.ExpiresAt = expiresAt(now, o.TTL)
				op.results[i].ExpiresAt = time.Unix(int64(e.ExpiresAt), 0)
			}
			w.events = append(w.events, kv.Event{Type: kv.EventPut, Bucket: o.Bucket, Key: o.Key,
				Version: version, ContentType: o.ContentType, Value: o.Value})
		case kv.OpDelete:
			if err := txn.Delete(op.keys[i]); err != nil {
				return err
			}
			w.events = append(w.events, kv.Event{Type: kv.EventDelete, Bucket: o.Bucket, Key: o.Key, Version: version})
		}
		if e != nil {
			if err := txn.SetEntry(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// expiresAt is the second, in Unix time, from which an entry written at now
// with ttl is gone: rounded up, so that it never expires early.
func expiresAt(now time.Time, ttl time.Duration) uint64 {
	at := now.Add(ttl)
	secs := at.Unix()
	if at.Nanosecond() > 0 {
		secs++
	}
	return uint64(secs)
}

// readState reads whether key exists in txn and, when withVersion, its
// version, which costs reading the value.
func readState(txn *badger.Txn, key []byte, withVersion bool) (keyState, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return keyState{}, nil
	}
	if err != nil {
		return keyState{}, err
	}
	s := keyState{exists: true}
	if !withVersion {
		return s, nil
	}
	err = item.Value(func(rec []byte) error {
		r, err := decodeRecord(rec)
		if err != nil {
			return fmt.Errorf("key %q: %w", key, err)
		}
		s.version = versionOf(item, r)
		return nil
	})
	return s, err
}

// check reports whether o's condition holds for a key in state cur.
func check(o kv.Op, cur keyState) error {
	c := o.Cond
	switch {
	case c.MustNotExist && cur.exists:
		return fmt.Errorf("%w: the key exists", kv.ErrConditionFailed)
	case (c.MustExist || c.IfMatch != 0) && !cur.exists:
		return fmt.Errorf("%w: the key does not exist", kv.ErrConditionFailed)
	case c.IfMatch != 0 && c.IfMatch != cur.version:
		return fmt.Errorf("%w: the key's version is not %d", kv.ErrConditionFailed, c.IfMatch)
	case o.Kind == kv.OpDelete && !cur.exists:
		return kv.ErrNotFound
	}
	return nil
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
