package storage

import (
	"sync"

	"github.com/dgraph-io/badger/v4"
)

// Reads share a snapshot. Every Badger transaction registers its read
// timestamp with the oracle's watermark when it starts and again when it
// is discarded: two sends on a channel to one goroutine, the first while
// holding the oracle's mutex. Under a load of reads on one core that
// goroutine took the scheduler's next slot from net/http's per-request
// goroutines, the channel filled up, and readers queued on it and on the
// mutex: gokv's p99 was 5-10 times the ceiling's while its median was
// lower (docs/performance.md, "Tail latency"). A snapshot taken after the
// last commit sees exactly what a new transaction would see, so reads
// share one until the next commit (or value-log GC) replaces it: reads
// never touch the oracle, and a commit touches it once more.
type snapshots struct {
	db  *badger.DB
	mu  sync.Mutex
	cur *snapshot // nil until a read or commit takes one
}

type snapshot struct {
	txn *badger.Txn
	// refs counts the reads using txn, plus one while it is current;
	// the last to let go discards it.
	refs int
}

// acquire returns a snapshot that includes every commit finished before
// the call; the caller gives it back with release. Badger's read-only
// transactions may be read from concurrently: Get and Item.Value only
// read the transaction's state. Like db.View, it fails once the database
// is closed.
func (s *snapshots) acquire() (*snapshot, error) {
	if s.db.IsClosed() {
		return nil, badger.ErrDBClosed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		// Created under mu, so an invalidate cannot slip in between
		// the read timestamp and making it current.
		s.cur = &snapshot{txn: s.db.NewTransaction(false), refs: 1}
	}
	s.cur.refs++
	return s.cur, nil
}

func (s *snapshots) release(snap *snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unref(snap)
}

// refresh replaces the current snapshot with one taken now. The
// committer calls it after every commit, still holding the leader slot,
// and before acknowledging the writes: so a read that starts after an
// acknowledged write sees it, and the new snapshot's read timestamp is
// that commit's, which Badger has finished applying. Had the first read
// after a commit taken the snapshot instead, its read timestamp could be
// that of the next batch, already under way, and with SYNC_WRITES every
// read would wait for that batch's fsync.
func (s *snapshots) refresh() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop()
	if !s.db.IsClosed() {
		s.cur = &snapshot{txn: s.db.NewTransaction(false), refs: 1}
	}
}

// invalidate drops the current snapshot; the next read takes a new one.
func (s *snapshots) invalidate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop()
}

func (s *snapshots) drop() {
	if s.cur != nil {
		s.unref(s.cur)
		s.cur = nil
	}
}

func (s *snapshots) unref(snap *snapshot) {
	snap.refs--
	if snap.refs == 0 {
		snap.txn.Discard()
	}
}
