package badgerstore

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Why gokv reclaims space itself once the disk is full: Badger gives the
// space of deleted values back only through compactions and the value-log
// GC, and on a disk where writes are refused nothing sets those going.
//   - Tombstones stay in the memtables until new writes fill one (4 MiB:
//     with short keys, a hundred thousand deletes), so no compaction sees
//     them.
//   - A compaction starts only when a level outgrows its target, so a
//     level-0 table of tombstones can wait forever above the values it
//     deletes.
//   - The value-log GC rewrites only the file with the most garbage
//     recorded, and garbage is recorded only by the compactions that drop a
//     value's last reference. Until then GC finds nothing, forever.
//
// So when deletes have been admitted while writes are refused, and once at
// Open on a disk that is already that full, the reclaimer flushes the
// memtables, flattens the LSM tree (its compactions meet every tombstone
// with the value it deletes and record that value as garbage) and runs the
// value-log GC until no file is worth rewriting. It works in its own
// goroutine, not on the request path, and at most once per reclaimGap,
// because a flatten rewrites the tree's tables.
//
// Badger never collects the newest value-log file, the one it writes to,
// and starts a new one only when that is full or at Open; space held there
// comes back after a restart.

// reclaimGap is the least time between two reclaims: deletes arriving
// meanwhile are handled together by the next one.
const reclaimGap = 2 * time.Second

// flushMarker is a key no bucket can produce (buckets do not contain NUL).
var flushMarker = []byte("\x00gokv-flush")

// reclaimer runs reclaim in the background whenever it is woken.
type reclaimer struct {
	s    *Store
	log  *slog.Logger
	wake chan struct{} // holds one token while a reclaim is due
	stop chan struct{}
	done chan struct{}
	once sync.Once // close
}

func startReclaimer(s *Store, log *slog.Logger) *reclaimer {
	r := &reclaimer{s: s, log: log, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go r.loop()
	return r
}

// poke asks for a reclaim without waiting for it.
func (r *reclaimer) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// close stops the goroutine, after the reclaim it may be running.
func (r *reclaimer) close() {
	r.once.Do(func() { close(r.stop) })
	<-r.done
}

func (r *reclaimer) loop() {
	defer close(r.done)
	for {
		select {
		case <-r.stop:
			return
		case <-r.wake:
		}
		space := r.s.writes.space
		before, _ := space.free(space.dir)
		begin := time.Now()
		if err := r.reclaim(); err != nil {
			r.log.Warn("reclaiming the space of deleted data failed", "err", err)
		}
		after, _ := space.free(space.dir)
		r.log.Info("disk nearly full: reclaimed the space of deleted data", "took", time.Since(begin),
			"free_bytes_before", before, "free_bytes_after", after, "min_free_bytes", space.minFree)
		select {
		case <-r.stop:
			return
		case <-time.After(reclaimGap):
		}
	}
}

func (r *reclaimer) reclaim() error {
	flush := func() error {
		return r.s.fence.guard("flush memtables", func() error { return flushMemtables(r.s.db) })
	}
	if err := r.s.writes.exclusive(flush); err != nil {
		return err
	}
	// A flatten writes the new tables, through memory-mapped files (SIGBUS
	// if the disk runs out), before it deletes the old ones: it needs room
	// for a copy of the tree, so it runs only with twice that free.
	space := r.s.writes.space
	free, err := space.free(space.dir)
	if err != nil {
		return err
	}
	if tree := treeBytes(r.s.db); uint64(tree) > free/2 {
		r.log.Warn("disk too full to compact the LSM tree: the space of deleted keys comes back only with a larger volume",
			"tree_bytes", tree, "free_bytes", free)
	} else if err := r.s.fence.guard("flatten", func() error { return r.s.db.Flatten(2) }); err != nil {
		return fmt.Errorf("flatten the LSM tree: %w", err)
	}
	return r.s.CollectGarbage()
}

// treeBytes is the size of the LSM tree's tables.
func treeBytes(db *badger.DB) int64 {
	var n int64
	for _, l := range db.Levels() {
		n += l.Size
	}
	return n
}

// flushMemtables writes every memtable out as a level-0 table. Badger v4
// has no call for that but Close; DropPrefix does it first, though only
// when some key has the prefix, so a marker key is written and dropped.
// It runs while no batch is committed, because DropPrefix fails the writes
// that reach Badger meanwhile.
func flushMemtables(db *badger.DB) error {
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set(flushMarker, nil) }); err != nil {
		return mapError("flush memtables", err)
	}
	if err := db.DropPrefix(flushMarker); err != nil {
		return mapError("flush memtables", err)
	}
	return nil
}
