package badgerstore

import (
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
)

// Reads share a snapshot. Every Badger transaction registers its read
// timestamp with the oracle's watermark when it starts and again when it
// is discarded: two sends on a channel to one goroutine, the first while
// holding the oracle's mutex. Under a load of reads on one core that
// goroutine took the scheduler's next slot from net/http's per-request
// goroutines, which handlers wait for before reading the next request, and
// readers queued on its channel: gokv's p99 was several times the
// ceiling's while its median was lower (docs/performance.md, "Tail
// latency"). A snapshot taken after the last commit sees exactly what a
// new transaction would, so reads share one, which the committer replaces
// after every commit: reads never touch the oracle, and take no lock.
type snapshots struct {
	db  *badger.DB
	cur atomic.Pointer[snapshot] // nil only once closed
}

type snapshot struct {
	txn *badger.Txn
	// refs counts the reads using txn, plus one while it is current.
	// Once it reaches 0 the transaction is discarded and refs never
	// rises again.
	refs atomic.Int64
	// discarded is closed once txn is discarded.
	discarded chan struct{}
}

func newSnapshots(db *badger.DB) *snapshots {
	s := &snapshots{db: db}
	s.refresh()
	return s
}

// acquire returns a snapshot that includes every commit acknowledged
// before the call; the caller gives it back with release. Badger's
// read-only transactions may be read from concurrently: Get and
// Item.Value only read the transaction's state. Like db.View, it fails
// once the database is closed.
func (s *snapshots) acquire() (*snapshot, error) {
	for {
		snap := s.cur.Load()
		if snap == nil || s.db.IsClosed() {
			return nil, badger.ErrDBClosed
		}
		// A snapshot whose count reached 0 has been replaced and
		// discarded: load the current one again.
		for n := snap.refs.Load(); n > 0; n = snap.refs.Load() {
			if snap.refs.CompareAndSwap(n, n+1) {
				return snap, nil
			}
		}
	}
}

func (s *snapshots) release(snap *snapshot) {
	snap.unref()
}

// refresh replaces the current snapshot with one taken now.
func (s *snapshots) refresh() {
	s.install(s.take())
}

// take returns a snapshot of the database as it is now, for install;
// nil once the database is closed. The committer takes one after every
// commit, still holding the leader slot, and installs it before
// acknowledging the writes: so a read that starts after an acknowledged
// write sees it, and the snapshot's read timestamp is that commit's,
// which Badger has finished applying. A transaction begun by a read
// instead could get the timestamp of the next batch, already under way,
// and wait for it.
func (s *snapshots) take() *snapshot {
	if s.db.IsClosed() {
		return nil
	}
	snap := &snapshot{txn: s.db.NewTransaction(false), discarded: make(chan struct{})}
	snap.refs.Store(1)
	return snap
}

// install makes snap, from take, the one reads get.
func (s *snapshots) install(snap *snapshot) {
	if snap == nil {
		return
	}
	if old := s.cur.Swap(snap); old != nil {
		old.unref()
	}
}

// close drops the current snapshot for good; reads fail from then on.
func (s *snapshots) close() {
	if old := s.cur.Swap(nil); old != nil {
		old.unref()
	}
}

// pause withdraws the current snapshot and waits until the reads using
// it are done: reads fail as if closed until the next refresh. A restore
// pauses reads while it drops every file of the database.
func (s *snapshots) pause() {
	old := s.cur.Swap(nil)
	if old == nil {
		return
	}
	old.unref()
	<-old.discarded
}

func (snap *snapshot) unref() {
	if snap.refs.Add(-1) == 0 {
		snap.txn.Discard()
		close(snap.discarded)
	}
}
