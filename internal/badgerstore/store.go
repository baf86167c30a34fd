// Package badgerstore keeps gokv's buckets and keys in an embedded BadgerDB.
//
// Buckets are emulated: the entry for key k in bucket b is the Badger key
// "b:k". Each value is stored together with its content type. The package
// knows nothing of HTTP; callers act on the sentinel errors in errors.go.
package badgerstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/gokv-service/gokv/internal/kv"
	"github.com/gokv-service/gokv/internal/watch"
)

// Options are the knobs a deployment chooses; everything else is sized for
// a small pod in badgerOptions.
type Options struct {
	// SyncWrites makes every write wait for fsync before it is
	// acknowledged, so it survives a power loss or kernel crash, not only
	// a crash of the process. Concurrent writes share one fsync.
	SyncWrites bool
	// Logger receives Badger's own messages; nil discards them.
	Logger *slog.Logger
	// MinFreeBytes is the free space on the database's filesystem below
	// which writes of new data fail with kv.ErrNoSpace (see space.go); 0
	// turns the check off.
	MinFreeBytes int64
	// WriteStallTimeout is how long the write path may make no progress
	// before Health reports it stalled; 0 means
	// DefaultWriteStallTimeout.
	WriteStallTimeout time.Duration
	// Observer, unless nil, is told of every commit and GC round.
	Observer kv.Observer
}

// Store is an open database. Its methods are safe for concurrent use.
type Store struct {
	db           *badger.DB
	writes       *committer
	snaps        *snapshots
	changes      *watch.Hub
	reclaim      *reclaimer // nil without a free-space check
	writeback    *writeback // nil with SyncWrites
	fence        *fence
	stallTimeout time.Duration
	// restoring is held by a restore, and shared by backups, which read
	// from transactions of their own that a restore's DropAll, or Close,
	// must not pull files from under.
	restoring sync.RWMutex
	// life ends when Close starts: backups and restores under way stop
	// at their next record, so that Close need not wait for them long.
	life     context.Context
	end      context.CancelFunc
	dir      string
	space    *spaceGuard // nil without a free-space check
	observer kv.Observer // nil: nobody is told
}

// maxTxnRetries bounds retries of a write that lost a race with a
// concurrent write of the same key.
const maxTxnRetries = 16

// gcDiscardRatio: a value-log file is rewritten when at least this share
// of it is garbage (Badger's recommended 0.5); see also
// spaceGuard.discardRatio.
const gcDiscardRatio = 0.5

// valueThreshold is the size of a record from which Badger keeps it in
// the value log, not in the tree.
const valueThreshold = 1 << 10

// valueLogFileSize is the size at which Badger starts a new value-log file.
const valueLogFileSize = 64 << 20

// badgerOptions sizes Badger for a pod with a few hundred MiB of memory
// instead of Badger's server defaults (5×64 MiB memtables, 256 MiB block
// cache, 1 GiB value-log files). Worst case resident memory from Badger
// itself is about 4×5.3 MiB memtable arenas (4 MiB of entries plus
// Badger's per-batch slack each) + 16 MiB block cache + 8 MiB index cache
// ≈ 45 MiB, all on the Go heap, plus mapped file pages the kernel can
// reclaim. Smaller memtables than the 8 MiB tried first keep that heap
// smaller under writes, so the soft memory limit (cmd/gokv) costs less
// throughput; see docs/performance.md.
func badgerOptions(path string, opts Options) badger.Options {
	return badger.DefaultOptions(path).
		// With opts.SyncWrites gokv syncs the logs itself (durable.go).
		WithSyncWrites(false).
		WithLogger(badgerLogger{opts.Logger}).
		WithMemTableSize(4 << 20).
		WithNumMemtables(4).
		WithNumLevelZeroTables(3).
		WithNumLevelZeroTablesStall(8).
		WithNumCompactors(2).
		WithBlockCacheSize(16 << 20).
		WithIndexCacheSize(8 << 20).
		// Values above 1 KiB go to the value log (WiscKey style): the LSM
		// tree stays small and large values do not churn compactions.
		WithValueThreshold(valueThreshold).
		WithValueLogFileSize(valueLogFileSize).
		WithMetricsEnabled(false).
		// Damaged files must fail, never answer with absence or other
		// bytes (see corrupt.go). Table blocks are checked when read
		// from disk, values in the value log on every read.
		WithChecksumVerificationMode(options.OnBlockRead).
		WithVerifyValueChecksum(true)
}

// Open opens (creating if needed) the database in directory path. It
// fails with ErrLocked, touching nothing, when another process has it
// open, with ErrDamaged, touching nothing, when Badger would lose data
// opening it (see preflight.go), and with kv.ErrNoSpace when MinFreeBytes is
// set and the filesystem has too little room for Badger to open (see
// checkRoomToOpen).
func Open(path string, opts Options) (*Store, error) {
	return open(path, opts, badgerOptions(path, opts))
}

// open is Open with Badger's options given, for benchmarks that compare
// them.
func open(path string, opts Options, bopts badger.Options) (*Store, error) {
	if err := prepare(path, opts.Logger); err != nil {
		return nil, err
	}
	if opts.MinFreeBytes > 0 {
		if err := checkRoomToOpen(path); err != nil {
			return nil, err
		}
	}
	lastValueLog, err := newestValueLog(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	db, err := badger.Open(bopts)
	if err != nil {
		if isCorruption(err) {
			return nil, fmt.Errorf("open badger at %s: %w: %v", path, kv.ErrCorrupt, err)
		}
		return nil, fmt.Errorf("open badger at %s: %w", path, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := verifyTables(db, path); err != nil {
		db.Close()
		return nil, fmt.Errorf("open badger at %s: %w", path, err)
	}
	if err := checkValueLog(db, path, lastValueLog, log); err != nil {
		db.Close()
		return nil, fmt.Errorf("open badger at %s: %w", path, err)
	}
	f := &fence{log: log}
	stall := opts.WriteStallTimeout
	if stall <= 0 {
		stall = DefaultWriteStallTimeout
	}
	space := newSpaceGuard(path, opts.MinFreeBytes)
	snaps := newSnapshots(db)
	// Watches may resume after any version from here on; what came
	// before this start is not in the (in-memory) history.
	changes := watch.NewHub(snaps.cur.Load().txn.ReadTs()<<versionShift, watch.Options{})
	life, end := context.WithCancel(context.Background())
	s := &Store{
		life:         life,
		end:          end,
		db:           db,
		writes:       newCommitter(db, space, f, snaps),
		snaps:        snaps,
		changes:      changes,
		fence:        f,
		stallTimeout: stall,
		dir:          path,
		space:        space,
		observer:     opts.Observer,
	}
	s.writes.publish = changes.Publish
	s.writes.observer = opts.Observer
	if opts.SyncWrites {
		durable, err := newSyncer(path)
		if err != nil {
			end()
			snaps.close()
			db.Close()
			return nil, fmt.Errorf("open badger at %s: %w", path, err)
		}
		s.writes.durable = durable
		go s.writes.flushLoop()
	} else {
		s.writeback = startWriteback(path)
	}
	if space != nil {
		s.reclaim = startReclaimer(s, log)
		space.deleted = s.reclaim.poke
		// Deletes before a crash or restart may have left garbage that
		// only a reclaim turns into free space.
		if space.full() {
			s.reclaim.poke()
		}
	}
	return s, nil
}

// prepare fails with ErrLocked when another process has the database at
// path open, and with ErrDamaged when Badger would lose data opening it;
// otherwise it clears the harmless residue of a crash (see preflight.go).
// It holds the directory's lock meanwhile, so that no other gokv starts
// on a directory being changed.
func prepare(path string, log *slog.Logger) error {
	unlock, err := lockDir(path, "open database")
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unlock()
	check, err := inspect(path)
	if err != nil {
		return err
	}
	if err := check.err(); err != nil {
		return err
	}
	return check.clearCrashResidue(log)
}

// lockDir takes the lock Badger holds on the directory while it is open
// (an exclusive flock), failing with ErrLocked when another process has
// it. Badger reports that case only as text, so gokv asks the kernel
// itself.
func lockDir(path, op string) (unlock func(), err error) {
	dir, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	err = syscall.Flock(int(dir.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		dir.Close()
		return nil, fmt.Errorf("%s at %s: %w", op, path, ErrLocked)
	}
	if err != nil {
		dir.Close()
		return nil, fmt.Errorf("lock database directory %s: %w", path, err)
	}
	// Closing the last descriptor releases the lock.
	return func() { dir.Close() }, nil
}

// Close flushes and closes the database. Acknowledged writes are already
// durable as configured; Close makes the next Open fast. A fenced store
// fails to close cleanly, and may not return at all (see fence.go), so
// callers bound how long they wait.
func (s *Store) Close() error {
	// Backups and restores stop at their next record; they must be out
	// of Badger before it closes and unmaps their files.
	s.end()
	s.restoring.Lock()
	defer s.restoring.Unlock()
	if s.reclaim != nil {
		s.reclaim.close()
	}
	if s.writeback != nil {
		s.writeback.close()
	}
	if s.writes.durable != nil {
		s.writes.durable.close()
	}
	fenced := s.fence.err()
	s.changes.Close()
	s.snaps.close()
	if err := s.db.Close(); err != nil {
		return errors.Join(fenced, fmt.Errorf("close badger: %w", err))
	}
	return fenced
}

// Ready returns nil while the store can serve requests.
func (s *Store) Ready() error {
	if s.db.IsClosed() {
		return kv.ErrClosed
	}
	return s.Health()
}

// Health returns nil while the store works, an error wrapping kv.ErrFailed
// once the storage engine has failed, or one wrapping kv.ErrStalled while
// the write path has made no progress for longer than WriteStallTimeout.
// Either needs a restart, so it is what liveness reports.
func (s *Store) Health() error {
	if err := s.fence.err(); err != nil {
		return err
	}
	if held := s.writes.held.held(); held > s.stallTimeout {
		return fmt.Errorf("%w: a commit or value-log GC has held the write path for %s", kv.ErrStalled, held.Round(time.Second))
	}
	if d := s.writes.durable; d != nil {
		if held := d.held.held(); held > s.stallTimeout {
			return fmt.Errorf("%w: syncing the logs has taken %s", kv.ErrStalled, held.Round(time.Second))
		}
	}
	return nil
}

// Get returns the entry stored under bucket and key, or kv.ErrNotFound.
// An expired entry is not found. When reserve is not nil Get calls it,
// before the value is copied out of the database, with about the size of
// the stored record (the value plus at most a few hundred bytes), and
// fails with reserve's error, having copied nothing, when reserve fails.
// The caller releases what it reserved.
func (s *Store) Get(ctx context.Context, bucket, key string, reserve func(size int64) error) (kv.Entry, error) {
	k, err := encodeKey(bucket, key)
	if err != nil {
		return kv.Entry{}, err
	}
	if err := ctx.Err(); err != nil {
		return kv.Entry{}, err
	}
	var e kv.Entry
	err = s.read("get", func(txn *badger.Txn) error {
		item, err := txn.Get(k)
		if err != nil {
			return err
		}
		// Reserve outside item.Value: its callback runs holding the
		// value-log file's read lock, which value-log GC waits for.
		if reserve != nil {
			if err := reserve(max(item.ValueSize(), 0)); err != nil {
				return fmt.Errorf("reserve %d bytes: %w", item.ValueSize(), err)
			}
		}
		return item.Value(func(rec []byte) error {
			r, err := decodeItem(item, rec)
			if err != nil {
				return err
			}
			// The record is only valid while the snapshot is held.
			e = kv.Entry{
				Value:       append([]byte(nil), r.value...),
				ContentType: r.contentType,
				Version:     versionOf(item, r),
				ExpiresAt:   expiry(item),
			}
			return nil
		})
	})
	if err != nil {
		return kv.Entry{}, err
	}
	return e, nil
}

// read runs fn on the current snapshot, guarded against engine failure,
// and maps Badger's errors.
func (s *Store) read(op string, fn func(*badger.Txn) error) error {
	err := s.fence.guard(op, func() error {
		snap, err := s.snaps.acquire()
		if err != nil {
			return err
		}
		defer s.snaps.release(snap)
		return fn(snap.txn)
	})
	if err != nil {
		return mapError(op, err)
	}
	return nil
}

// decodeItem decodes the record of item, naming its key when it is damaged.
func decodeItem(item *badger.Item, rec []byte) (record, error) {
	if len(rec) == 0 {
		return record{}, fmt.Errorf("key %q: %w", item.Key(), errUnreadableValue)
	}
	r, err := decodeRecord(rec)
	if err != nil {
		return record{}, fmt.Errorf("key %q: %w", item.Key(), err)
	}
	return r, nil
}

// expiry is when item expires; zero for never.
func expiry(item *badger.Item) time.Time {
	if at := item.ExpiresAt(); at != 0 {
		return time.Unix(int64(at), 0)
	}
	return time.Time{}
}

// Apply performs ops atomically; see kv.Store. When Apply returns nil the
// writes are acknowledged: they survive a crash of the process, and with
// SyncWrites also a crash of the machine. Concurrent applies are
// committed together (see commit.go).
func (s *Store) Apply(ctx context.Context, ops []kv.Op) ([]kv.Result, error) {
	op, err := newWriteOp(ops)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.writes.write(op); err != nil {
		var opErr *kv.OpError
		if errors.As(err, &opErr) {
			return nil, err
		}
		return nil, mapError("apply", err)
	}
	return op.results, nil
}

// Watch follows changes to bucket's keys; see kv.Store. The history it
// resumes from is kept in memory (watch.Hub's bounds), so after a restart
// a watch can resume only from versions written since.
func (s *Store) Watch(ctx context.Context, bucket string, opts kv.WatchOptions) (kv.Watcher, error) {
	if err := kv.ValidateBucket(bucket); err != nil {
		return nil, err
	}
	return s.changes.Subscribe(ctx, bucket, opts)
}

// CollectGarbage rewrites value-log files until none is worth rewriting,
// giving the space of overwritten and deleted values back to the disk.
// The Observer learns of every round that ends without error, with the
// bytes the value log shrank by meanwhile.
func (s *Store) CollectGarbage() error {
	if s.observer == nil {
		return s.collectGarbage()
	}
	before := valueLogBytes(s.dir)
	if err := s.collectGarbage(); err != nil {
		return err
	}
	s.observer.GarbageCollected(max(before-valueLogBytes(s.dir), 0))
	return nil
}

func (s *Store) collectGarbage() error {
	for {
		err := s.writes.exclusive(func() error {
			return s.fence.guard("value-log gc", func() error { return s.db.RunValueLogGC(s.writes.space.discardRatio()) })
		})
		switch {
		case err == nil:
			continue
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
			return nil
		default:
			return mapError("value-log gc", err)
		}
	}
}

// RunGC calls CollectGarbage every interval until ctx is done. Errors are
// logged, not fatal: the next round may succeed.
func (s *Store) RunGC(ctx context.Context, interval time.Duration, log *slog.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := s.CollectGarbage(); err != nil {
				log.Warn("value-log garbage collection failed", "err", err)
			}
		}
	}
}

// mapError turns Badger's errors into this package's vocabulary.
func mapError(op string, err error) error {
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		return kv.ErrNotFound
	case errors.Is(err, badger.ErrDBClosed), errors.Is(err, badger.ErrBlockedWrites):
		return fmt.Errorf("%s: %w", op, kv.ErrClosed)
	case errors.Is(err, kv.ErrCorrupt), errors.Is(err, kv.ErrFailed):
		return fmt.Errorf("%s: %w", op, err)
	case isCorruption(err):
		return fmt.Errorf("%s: %w: %v", op, kv.ErrCorrupt, err)
	// Badger flattens I/O errors into text, so ENOSPC is only visible as
	// its message.
	case errors.Is(err, syscall.ENOSPC), strings.Contains(err.Error(), syscall.ENOSPC.Error()):
		return fmt.Errorf("%s: %w: %v", op, kv.ErrNoSpace, err)
	default:
		return fmt.Errorf("%s: %w", op, err)
	}
}
