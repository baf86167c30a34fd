package badgerstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/gokv-service/gokv/internal/kv"
)

// Backup calls fn with every live entry of one read snapshot; see
// kv.Store. It reads from a transaction of its own rather than the shared
// snapshot, which the committer replaces after every commit, so writes go
// on meanwhile; Badger keeps the versions the transaction reads until it
// ends. The version returned is the snapshot's read timestamp in version
// units: every write it holds has a version up to it, every later one a
// greater version (see versions).
func (s *Store) Backup(ctx context.Context, fn func(kv.Record) error) (uint64, error) {
	// A restore drops Badger's files; a backup must not read them meanwhile.
	s.restoring.RLock()
	defer s.restoring.RUnlock()
	var version uint64
	var fnErr error
	err := s.fence.guard("backup", func() error {
		txn := s.db.NewTransaction(false)
		defer txn.Discard()
		version = txn.ReadTs() << versionShift
		// Without prefetching, a backup holds one value at a time, what
		// the API reserves for it; prefetching was no faster (values up
		// to 1 KiB live in the LSM tree, larger ones are mapped).
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if s.life.Err() != nil {
				return kv.ErrClosed
			}
			item := it.Item()
			bucket, key, ok := bytes.Cut(item.Key(), []byte{separator})
			if !ok || kv.ValidateBucket(string(bucket)) != nil {
				continue // not a bucket's key (reclaim.go's flush marker)
			}
			rec := kv.Record{Bucket: string(bucket), Key: string(key), ExpiresAt: expiry(item)}
			err := item.Value(func(b []byte) error {
				r, err := decodeItem(item, b)
				if err != nil {
					return err
				}
				rec.ContentType = r.contentType
				rec.Value = bytes.Clone(r.value)
				if rec.Value == nil {
					rec.Value = []byte{}
				}
				return nil
			})
			if err != nil {
				return err
			}
			if err := fn(rec); err != nil {
				fnErr = err
				return err
			}
		}
		return nil
	})
	switch {
	case fnErr != nil:
		return 0, fnErr
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return 0, err
	case err != nil:
		return 0, mapError("backup", err)
	}
	return version, nil
}

// Restore writes the records next returns; see kv.Store. It holds the
// write path for its whole run (writes queue meanwhile; Health does not
// count that as a stall) and the shared
// read snapshot is withdrawn, so reads fail with kv.ErrClosed until it
// ends: callers keep requests away, as the API does. With replace, Badger's
// DropAll removes every file at once instead of writing a tombstone per
// key; without, a failure part way drops what it wrote, so the store is
// empty again. Restored entries get new versions, and every watch ends
// (watch.Hub.Reset): the history of versions before the restore describes
// another store.
func (s *Store) Restore(ctx context.Context, replace bool, next func() (kv.Record, error)) (int, error) {
	s.restoring.Lock()
	defer s.restoring.Unlock()
	if s.life.Err() != nil {
		return 0, fmt.Errorf("restore: %w", kv.ErrClosed)
	}
	// Close stops a restore at its next record.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.life, cancel)()
	var count int
	err := s.writes.hold(func() error {
		return s.fence.guard("restore", func() error {
			if !replace {
				empty, err := s.empty()
				if err != nil {
					return err
				}
				if !empty {
					return fmt.Errorf("restore without replace: %w", kv.ErrNotEmpty)
				}
			}
			// No read may use Badger's files while DropAll removes them.
			s.snaps.pause()
			defer s.resume()
			if replace {
				if err := s.db.DropAll(); err != nil {
					return fmt.Errorf("drop every entry: %w", err)
				}
			}
			var err error
			count, err = restore(ctx, s.db, s.writes.space, next)
			if err != nil && !replace {
				// The store was empty: leave it so rather than half
				// restored.
				if dropErr := s.db.DropAll(); dropErr != nil {
					return errors.Join(err, fmt.Errorf("drop a partial restore: %w", dropErr))
				}
			}
			// Reads see the restore (resume, deferred) only once it
			// is on disk, and so does the caller.
			return errors.Join(err, s.writes.syncWritten())
		})
	})
	if err != nil {
		if s.life.Err() != nil {
			return 0, fmt.Errorf("restore: %w: %w", kv.ErrClosed, err)
		}
		if errors.Is(err, kv.ErrNotEmpty) || isRecordError(err) {
			return 0, err
		}
		return 0, mapError("restore", err)
	}
	return count, nil
}

// resume ends a restore: reads get a snapshot that sees it, and watches
// of the history before it end.
func (s *Store) resume() {
	s.snaps.refresh()
	if snap := s.snaps.cur.Load(); snap != nil {
		s.changes.Reset(snap.txn.ReadTs() << versionShift)
	}
}

// recordError is a record a restore refuses, or next's own failure:
// neither is the engine's doing.
type recordError struct{ err error }

func (e *recordError) Error() string { return e.err.Error() }
func (e *recordError) Unwrap() error { return e.err }

func isRecordError(err error) bool {
	var re *recordError
	return errors.As(err, &re)
}

// empty reports whether the store holds no bucket's key.
func (s *Store) empty() (bool, error) {
	empty := true
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			name, _, ok := bytes.Cut(it.Item().Key(), []byte{separator})
			if ok && kv.ValidateBucket(string(name)) == nil {
				empty = false
				return nil
			}
		}
		return nil
	})
	return empty, err
}

// restore writes records in transactions within the committer's batch
// bounds. Versions come from each transaction's read timestamp, as the
// committer's do, so they stay below every later write's. Like the
// committer, it stops before the disk is so full that Badger would die of
// SIGBUS (space.go): a backup larger than the room left fails with
// kv.ErrNoSpace. space is nil without a free-space check.
func restore(ctx context.Context, db *badger.DB, space *spaceGuard, next func() (kv.Record, error)) (int, error) {
	type pending struct {
		key       []byte
		rec       kv.Record
		expiresAt uint64
	}
	var batch []pending
	size, count := 0, 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if space != nil && space.full() {
			return fmt.Errorf("%w: restored %d records, then the disk of %s had less than %d bytes free", kv.ErrNoSpace, count, space.dir, space.minFree)
		}
		err := update(db, func(txn *badger.Txn) error {
			v := newVersions(txn.ReadTs())
			for _, p := range batch {
				e := badger.NewEntry(p.key, encodeRecord(v.next(), p.rec.ContentType, p.rec.Value))
				e.ExpiresAt = p.expiresAt
				if err := txn.SetEntry(e); err != nil {
					return err
				}
			}
			return nil
		})
		count += len(batch)
		clear(batch)
		batch, size = batch[:0], 0
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return 0, &recordError{err}
		}
		rec, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, &recordError{fmt.Errorf("read record %d: %w", count+len(batch)+1, err)}
		}
		key, err := encodeKey(rec.Bucket, rec.Key)
		if err == nil {
			err = kv.ValidateContentType(rec.ContentType)
		}
		if err != nil {
			return 0, &recordError{fmt.Errorf("record %q/%q: %w", rec.Bucket, rec.Key, err)}
		}
		var at uint64
		if !rec.ExpiresAt.IsZero() {
			// Badger treats an entry as gone from its expiry second on.
			if rec.ExpiresAt.Unix() <= time.Now().Unix() {
				continue
			}
			at = uint64(rec.ExpiresAt.Unix())
		}
		n := len(key) + len(rec.Value) + len(rec.ContentType)
		if len(batch) == maxBatchOps || len(batch) > 0 && size+n > maxBatchBytes {
			if err := flush(); err != nil {
				return 0, err
			}
		}
		batch = append(batch, pending{key: key, rec: rec, expiresAt: at})
		size += n
	}
	if err := flush(); err != nil {
		return 0, err
	}
	return count, nil
}
