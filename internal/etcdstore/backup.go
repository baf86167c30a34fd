package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gokv-service/gokv/internal/kv"
)

// backupChunk is how many entries, with values, one range of a backup or
// of the emptiness check of a restore reads.
const backupChunk = 100

// Backup calls fn with every live entry as of one revision, paging
// through it with ranges at that revision; see kv.Store. When etcd
// compacts that revision away before the backup ends it fails with
// kv.ErrUnavailable: compaction usually keeps minutes of history, and a
// retry starts from a new revision.
func (s *Store) Backup(ctx context.Context, fn func(kv.Record) error) (uint64, error) {
	var rev int64
	err := s.scan(ctx, &rev, func(bucket, key string, e entry) error {
		return fn(kv.Record{Bucket: bucket, Key: key, ContentType: e.contentType, ExpiresAt: e.expiresAt, Value: e.value})
	})
	if errors.Is(err, kv.ErrHistoryGone) {
		return 0, fmt.Errorf("backup: %w: etcd compacted the backup's revision while it ran", kv.ErrUnavailable)
	}
	if err != nil {
		return 0, err
	}
	return versionOf(rev, intermediate-1), nil
}

// scan calls fn with every live entry at revision *rev, or at the
// current one when *rev is 0 (and sets *rev to it). The backup's version
// is the revision's last slot: every write of the revision is in.
func (s *Store) scan(ctx context.Context, rev *int64, fn func(bucket, key string, e entry) error) error {
	from, end := s.keys.data, s.keys.dataEnd()
	for {
		rctx, cancel := s.request(ctx)
		resp, err := s.cli.Get(rctx, from, clientv3.WithRange(end), clientv3.WithRev(*rev), clientv3.WithLimit(backupChunk))
		cancel()
		if err != nil {
			return s.mapError(ctx, "scan", err)
		}
		*rev = resp.Header.Revision
		now := time.Now()
		for _, item := range resp.Kvs {
			bucket, key, _ := s.keys.split(item.Key)
			e, err := decodeEntry(item.Value)
			if err != nil {
				return fmt.Errorf("scan %s/%s: %w", bucket, key, err)
			}
			if e.absent(now) {
				continue
			}
			if err := fn(bucket, key, e); err != nil {
				return err
			}
		}
		if !resp.More {
			return nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// errFound stops a scan at the first live entry.
var errFound = errors.New("found an entry")

// Restore writes the records next returns; see kv.Store. Without replace
// it checks, at one revision, that no entry is live, then clears what
// expired entries linger and moves the restore epoch in one transaction
// that fails if anything was written since that revision; with replace
// that transaction clears everything. Records are then written in
// transactions of up to kv.MaxOps puts and the cluster's request size.
// Every watch of every replica ends (see followRestores).
func (s *Store) Restore(ctx context.Context, replace bool, next func() (kv.Record, error)) (int, error) {
	s.endWatches(fmt.Errorf("%w: the store is being restored", kv.ErrHistoryGone))
	var rev int64
	if !replace {
		err := s.scan(ctx, &rev, func(string, string, entry) error { return errFound })
		if errors.Is(err, errFound) {
			return 0, kv.ErrNotEmpty
		}
		if err != nil {
			return 0, err
		}
	}
	var cmps []clientv3.Cmp
	if !replace {
		// Nothing written since the scan read the store empty.
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(s.keys.data), "<", rev+1).WithRange(s.keys.dataEnd()))
	}
	rctx, cancel := s.request(ctx)
	resp, err := s.cli.Txn(rctx).If(cmps...).Then(
		clientv3.OpDelete(s.keys.data, clientv3.WithRange(s.keys.dataEnd())),
		clientv3.OpPut(s.keys.epoch, time.Now().UTC().Format(time.RFC3339Nano)),
	).Commit()
	cancel()
	if err != nil {
		return 0, s.mapError(ctx, "restore: clear", err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("%w: written to while the restore started", kv.ErrNotEmpty)
	}
	n, err := s.restoreRecords(ctx, next)
	if err != nil && !replace {
		// The store was empty: leave it so.
		cctx, cancel := s.request(context.WithoutCancel(ctx))
		if _, derr := s.cli.Delete(cctx, s.keys.data, clientv3.WithRange(s.keys.dataEnd())); derr != nil {
			err = errors.Join(err, s.mapError(cctx, "restore: undo", derr))
		}
		cancel()
	}
	return n, err
}

// restoreRecords writes the records of next in batches.
func (s *Store) restoreRecords(ctx context.Context, next func() (kv.Record, error)) (int, error) {
	var batch []clientv3.Op
	// inBatch: etcd refuses a transaction that writes a key twice, which
	// a backup holding a key twice would ask for; the later one wins.
	inBatch := map[string]bool{}
	size, count := 0, 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		rctx, cancel := s.request(ctx)
		defer cancel()
		if _, err := s.cli.Txn(rctx).Then(batch...).Commit(); err != nil {
			return s.mapError(ctx, "restore", err)
		}
		count += len(batch)
		batch, size = batch[:0], 0
		clear(inBatch)
		return nil
	}
	for {
		r, err := next()
		if errors.Is(err, io.EOF) {
			return count, flush()
		}
		if err != nil {
			return count, err
		}
		if err := validateRecord(r); err != nil {
			return count, err
		}
		now := time.Now()
		var opts []clientv3.OpOption
		if !r.ExpiresAt.IsZero() {
			if !now.Before(r.ExpiresAt) {
				continue
			}
			id, err := s.leases.get(ctx, r.ExpiresAt, r.ExpiresAt.Sub(now))
			if err != nil {
				return count, s.mapError(ctx, "restore", err)
			}
			opts = append(opts, clientv3.WithLease(id))
		}
		key := s.keys.key(r.Bucket, r.Key)
		n := len(key) + maxEnvelopeOverhead + len(r.Value) + 32
		if len(batch) == kv.MaxOps || inBatch[key] || size+n > s.maxRequest-64<<10 {
			if err := flush(); err != nil {
				return count, err
			}
		}
		// The slot is the put's place in its transaction (see envelope.go).
		value := encodeEntry(entry{slot: uint8(len(batch)), contentType: r.ContentType, expiresAt: r.ExpiresAt, value: r.Value})
		batch = append(batch, clientv3.OpPut(key, string(value), opts...))
		size += n
		inBatch[key] = true
		size += len(key) + len(value) + 32
	}
}

// validateRecord checks a record as Apply checks a put.
func validateRecord(r kv.Record) error {
	if err := kv.ValidateBucket(r.Bucket); err != nil {
		return fmt.Errorf("record %s/%s: %w", r.Bucket, r.Key, err)
	}
	if err := kv.ValidateKey(r.Key); err != nil {
		return fmt.Errorf("record %s/%s: %w", r.Bucket, r.Key, err)
	}
	if err := kv.ValidateContentType(r.ContentType); err != nil {
		return fmt.Errorf("record %s/%s: %w", r.Bucket, r.Key, err)
	}
	return nil
}
