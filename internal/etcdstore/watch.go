package etcdstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gokv-service/gokv/internal/kv"
)

// watchBuffer is the capacity of a watcher's Events channel, and
// slowWatcher how long a full channel may stay full: a watcher that
// reads no event for that long ends with kv.ErrHistoryGone, as Badger's
// do, rather than have the etcd client buffer events for it without
// bound.
const (
	watchBuffer = 256
	slowWatcher = 10 * time.Second
)

// Watch follows bucket's keys that start with opts.Prefix with an etcd
// watch; see kv.Store. A watch from now starts at the revision of a
// linearizable read, so it sees every write acknowledged after Watch
// returns. It fails with kv.ErrHistoryGone when opts.Since is before the
// last restore or before etcd's compacted revision; a compaction later,
// while the watch catches up, ends it with the same error.
//
// Deletes made by a lease ending are expiry, which produces no event: a
// delete whose previous value had an expiry that has passed is not
// delivered. An explicit delete of such an entry, replayed after the
// entry would have expired anyway, is not delivered either; the entry is
// absent both ways.
func (s *Store) Watch(ctx context.Context, bucket string, opts kv.WatchOptions) (kv.Watcher, error) {
	if err := kv.ValidateBucket(bucket); err != nil {
		return nil, err
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.cli.Get(rctx, s.keys.epoch)
	if err != nil {
		return nil, s.mapError(ctx, "watch", err)
	}
	start := resp.Header.Revision + 1
	if opts.Since != 0 {
		// From the revision of Since, whose writes after Since's slot
		// forward skips to; from the next when Since is an overwritten
		// op's version, which sorts before its transaction's writes.
		rev, _, ok := revisionOf(opts.Since)
		if len(resp.Kvs) > 0 && rev < resp.Kvs[0].ModRevision {
			return nil, fmt.Errorf("%w: version %d is before the last restore", kv.ErrHistoryGone, opts.Since)
		}
		start = rev
		if !ok {
			start = rev + 1
		}
		if start <= resp.Header.Revision {
			// A read at the first revision to replay fails as the
			// watch would when etcd compacted it away.
			if _, err := s.cli.Get(rctx, s.keys.epoch, clientv3.WithRev(start), clientv3.WithCountOnly()); err != nil {
				return nil, s.mapError(ctx, "watch", err)
			}
		}
	}
	w := &watcher{events: make(chan kv.Event, watchBuffer), stop: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, kv.ErrClosed
	}
	s.watchers[w] = struct{}{}
	s.mu.Unlock()
	// A member that lost its leader cancels the watch rather than stay
	// silent: the watch ends with kv.ErrUnavailable and the client
	// resumes elsewhere.
	wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	ch := s.cli.Watch(wctx, s.keys.bucketPrefix(bucket)+opts.Prefix, clientv3.WithPrefix(),
		clientv3.WithRev(start), clientv3.WithPrevKV())
	go func() {
		defer wcancel()
		err := s.forward(ctx, w, ch, opts.Since)
		s.mu.Lock()
		delete(s.watchers, w)
		s.mu.Unlock()
		w.err = err
		close(w.events)
	}()
	return w, nil
}

// forward delivers the events of ch after version since to w until the
// watch ends, and says why it ended.
func (s *Store) forward(ctx context.Context, w *watcher, ch clientv3.WatchChan, since uint64) error {
	slow := time.NewTimer(slowWatcher)
	defer slow.Stop()
	for {
		var resp clientv3.WatchResponse
		var ok bool
		select {
		case resp, ok = <-ch:
		case <-w.stop:
			return w.reason
		case <-ctx.Done():
			return ctx.Err()
		}
		if !ok {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("etcd watch ended: %w", kv.ErrUnavailable)
		}
		if resp.CompactRevision != 0 {
			return fmt.Errorf("%w: etcd compacted revision %d", kv.ErrHistoryGone, resp.CompactRevision)
		}
		if err := resp.Err(); err != nil {
			return s.mapError(ctx, "watch", err)
		}
		now := time.Now()
		for _, ev := range resp.Events {
			e, ok, err := s.event(ev, now)
			if err != nil {
				return err
			}
			if !ok || e.Version <= since {
				continue
			}
			select {
			case w.events <- e:
				continue
			default:
			}
			slow.Reset(slowWatcher)
			select {
			case w.events <- e:
			case <-slow.C:
				return fmt.Errorf("%w: the watcher read no event for %s", kv.ErrHistoryGone, slowWatcher)
			case <-w.stop:
				return w.reason
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// event turns an etcd event into gokv's; ok is false for an expiry, and
// for the end of a tombstone's lease. A tombstone is a delete; a plain
// delete is the only write of its transaction, in slot 0.
func (s *Store) event(ev *clientv3.Event, now time.Time) (_ kv.Event, ok bool, _ error) {
	bucket, key, _ := s.keys.split(ev.Kv.Key)
	e := kv.Event{Bucket: bucket, Key: key, Type: kv.EventDelete, Version: versionOf(ev.Kv.ModRevision, 0)}
	if ev.Type == mvccpb.DELETE {
		if ev.PrevKv != nil {
			if prev, err := decodeEntry(ev.PrevKv.Value); err == nil && prev.absent(now) {
				return kv.Event{}, false, nil
			}
		}
		return e, true, nil
	}
	entry, err := decodeEntry(ev.Kv.Value)
	if err != nil {
		return kv.Event{}, false, fmt.Errorf("watch %s/%s: %w", bucket, key, err)
	}
	e.Version = versionOf(ev.Kv.ModRevision, entry.slot)
	if entry.tombstone {
		return e, true, nil
	}
	e.Type = kv.EventPut
	e.ContentType = entry.contentType
	e.Value = entry.value
	return e, true, nil
}

// watcher is one running watch.
type watcher struct {
	events chan kv.Event
	err    error // set before events is closed

	stopOnce sync.Once
	stop     chan struct{}
	reason   error // set before stop is closed
}

func (w *watcher) Events() <-chan kv.Event { return w.events }
func (w *watcher) Err() error              { return w.err }

// end stops the watch with reason, unless it stopped already.
func (w *watcher) end(reason error) {
	w.stopOnce.Do(func() {
		w.reason = reason
		close(w.stop)
	})
}

// endWatches ends every watch of this store with reason.
func (s *Store) endWatches(reason error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.watchers {
		w.end(reason)
	}
}

// Restores and the watches of other replicas. A restore rewrites the
// data without history, so every watch must end with kv.ErrHistoryGone,
// also on the other gokv replicas sharing the cluster. Each restore puts
// the epoch key in the transaction that clears the data; every store
// follows that key and ends its watches when it changes, and Watch
// refuses a Since before its last change. A watch on another replica may
// deliver some of the restore's first changes before it ends, since the
// two etcd watches are not ordered with each other; it ends all the same,
// and its client lists again. The replica that restores ends its own
// watches before it writes anything.
func (s *Store) followRestores(rev int64) {
	for s.life.Err() == nil {
		opts := []clientv3.OpOption{}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev+1))
		}
		for resp := range s.cli.Watch(s.life, s.keys.epoch, opts...) {
			if err := resp.Err(); err != nil {
				break
			}
			if len(resp.Events) > 0 {
				s.endWatches(fmt.Errorf("%w: the store was restored", kv.ErrHistoryGone))
			}
			rev = resp.Header.Revision
		}
		if s.life.Err() != nil {
			return
		}
		// The epoch's history was compacted away: a restore may have been
		// missed, so end the watches, which check the epoch when resumed.
		s.endWatches(fmt.Errorf("%w: lost track of restores", kv.ErrHistoryGone))
		rev = 0
		select {
		case <-s.life.Done():
		case <-time.After(time.Second):
		}
	}
}
