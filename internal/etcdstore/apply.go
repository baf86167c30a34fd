package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gokv-service/gokv/internal/kv"
)

// maxApplyAttempts bounds the rounds of an Apply whose keys other writers
// keep changing between its read and its commit. Each lost round means
// another write committed, so the store makes progress; a caller that
// loses this many in a row gets kv.ErrUnavailable and may retry.
const maxApplyAttempts = 32

// An Apply is one etcd transaction, built in two steps.
//
// etcd refuses a transaction that writes one key twice, while kv lets an
// Apply hold several ops on a key, each seeing the ops before it. So the
// ops are folded per key: each key is written once, with the state its
// last op leaves. A condition on a key an earlier op of the Apply wrote is
// decided here, from that op; only the state a key had before the Apply
// comes from etcd.
//
// That state is read first, for every key whose first op needs it (a
// condition, a delete, a check), in one linearizable read; the ops are
// evaluated against it here, including expiry, which etcd cannot compare
// (an entry past its exact expiry still exists in etcd until its lease
// ends); and the writes commit in a Txn whose compares require that each
// key read still has the mod revision it was read with. When another
// write came in between, nothing is written and the Apply starts over.
// An Apply of unconditional puts skips the read: its one transaction
// learns from the previous values whether each key was created.

// keyPlan is what an Apply does to one etcd key.
type keyPlan struct {
	key string
	// read: the key's state before the Apply is read and compared.
	read bool
	// prev is the key as read (nil: absent from etcd), prevSlot the slot
	// of its version and liveBefore whether it was an entry that exists.
	prev       *mvccpb.KeyValue
	prevSlot   uint8
	liveBefore bool
	// exists and pending: the key's state while evaluating the ops;
	// pending means an op of this Apply wrote it (its version is not
	// known before the commit). known is false until the state is known:
	// only for a key whose first op is an unconditional put.
	exists, pending, known bool
	// lastWrite is the index of the op that leaves the key's state; -1:
	// none.
	lastWrite int
	// firstPut is the index of the first op, when it is a put whose
	// Created comes from the commit's previous value.
	firstPut int
	// slot is the position of the key's write in the transaction; -1
	// when the Apply leaves nothing to write.
	slot int
}

// tombstoneTTL is the TTL of a tombstone's lease: it need only outlive
// the moment watchers see it.
const tombstoneTTL = time.Second

// Apply performs ops atomically; see kv.Store and the comment above.
func (s *Store) Apply(ctx context.Context, ops []kv.Op) ([]kv.Result, error) {
	if len(ops) == 0 || len(ops) > kv.MaxOps {
		return nil, fmt.Errorf("%w: 1 to %d ops in one apply, not %d", kv.ErrInvalid, kv.MaxOps, len(ops))
	}
	plans := map[string]*keyPlan{}
	var order []*keyPlan // keys in the order of their first op
	keyOf := make([]*keyPlan, len(ops))
	for i, o := range ops {
		if err := kv.ValidateOp(o); err != nil {
			return nil, &kv.OpError{Index: i, Err: err}
		}
		k := s.keys.key(o.Bucket, o.Key)
		p := plans[k]
		if p == nil {
			p = &keyPlan{key: k, lastWrite: -1, firstPut: -1}
			p.read = o.Kind != kv.OpPut || o.Cond != (kv.Condition{})
			if !p.read {
				p.firstPut = i
			}
			plans[k] = p
			order = append(order, p)
		}
		if o.Kind != kv.OpCheck {
			p.lastWrite = i
		}
		keyOf[i] = p
	}
	for attempt := 1; ; attempt++ {
		results, retry, err := s.applyOnce(ctx, ops, keyOf, order)
		if err != nil || !retry {
			return results, err
		}
		if attempt == maxApplyAttempts {
			return nil, fmt.Errorf("%w: apply lost %d races in a row with other writes of its keys", kv.ErrUnavailable, attempt)
		}
	}
}

// applyOnce reads, evaluates and commits once; retry is true when a key
// changed after it was read.
func (s *Store) applyOnce(ctx context.Context, ops []kv.Op, keyOf []*keyPlan, order []*keyPlan) (_ []kv.Result, retry bool, _ error) {
	if err := s.readPlans(ctx, order); err != nil {
		return nil, false, err
	}
	now := time.Now()
	results := make([]kv.Result, len(ops))
	for i, o := range ops {
		p := keyOf[i]
		if p.known && !holds(o.Cond, p) {
			return nil, false, &kv.OpError{Index: i, Err: fmt.Errorf("%w: %s/%s", kv.ErrConditionFailed, o.Bucket, o.Key)}
		}
		switch o.Kind {
		case kv.OpDelete:
			if !p.exists {
				return nil, false, &kv.OpError{Index: i, Err: fmt.Errorf("%w: %s/%s", kv.ErrNotFound, o.Bucket, o.Key)}
			}
			p.exists = false
		case kv.OpPut:
			results[i].Created = p.known && !p.exists
			results[i].ExpiresAt = expiryOf(now, o.TTL)
			p.exists = true
		}
		p.pending = p.pending || o.Kind != kv.OpCheck
		p.known = true
	}

	// Which keys are written, and how: a delete is a plain one when it
	// is the transaction's only write or deletes what no reader sees (an
	// expired entry or a tombstone), else a tombstone, so that its event
	// carries its slot.
	var written []*keyPlan
	for _, p := range order {
		p.slot = -1
		if p.lastWrite < 0 || ops[p.lastWrite].Kind == kv.OpDelete && p.read && p.prev == nil {
			continue
		}
		p.slot = len(written)
		written = append(written, p)
	}
	var cmps []clientv3.Cmp
	for _, p := range order {
		if p.read {
			var rev int64
			if p.prev != nil {
				rev = p.prev.ModRevision
			}
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(p.key), "=", rev))
		}
	}
	size := len(cmps) * 16
	writes := make([]clientv3.Op, len(written))
	leased := map[clientv3.LeaseID]bool{}
	for j, p := range written {
		var opts []clientv3.OpOption
		if !p.read {
			opts = append(opts, clientv3.WithPrevKV())
		}
		last := ops[p.lastWrite]
		e := entry{slot: uint8(j), contentType: last.ContentType, expiresAt: results[p.lastWrite].ExpiresAt, value: last.Value}
		ttl := last.TTL
		if last.Kind == kv.OpDelete {
			if len(written) == 1 || p.read && !p.liveBefore {
				writes[j] = clientv3.OpDelete(p.key, opts...)
				size += len(p.key) + 16
				continue
			}
			e = entry{slot: uint8(j), tombstone: true, expiresAt: expiryOf(now, tombstoneTTL)}
			ttl = tombstoneTTL
		}
		if ttl != 0 {
			id, err := s.leases.get(ctx, e.expiresAt, ttl)
			if err != nil {
				return nil, false, s.mapError(ctx, "apply", err)
			}
			opts = append(opts, clientv3.WithLease(id))
			leased[id] = true
		}
		if e.tombstone {
			e.expiresAt = time.Time{}
		}
		value := encodeEntry(e)
		writes[j] = clientv3.OpPut(p.key, string(value), opts...)
		size += len(p.key) + len(value) + 32
	}
	if size > s.maxRequest {
		return nil, false, fmt.Errorf("%w: the apply needs about %d bytes in one etcd request, more than the %d the cluster takes (ETCD_MAX_REQUEST_BYTES)",
			kv.ErrTooLarge, size, s.maxRequest)
	}

	// etcd's --max-txn-ops (128 by default, kv.MaxOps) bounds the
	// compares and the writes of a transaction each, not their sum: an
	// Apply has at most one of each per key.
	rctx, cancel := s.request(ctx)
	defer cancel()
	started := time.Now()
	resp, err := s.cli.Txn(rctx).If(cmps...).Then(writes...).Commit()
	if errors.Is(rpctypes.Error(err), rpctypes.ErrLeaseNotFound) {
		// A lease of ours ended early (revoked by hand, or the cluster
		// restored from an older snapshot): take new ones and go again.
		for id := range leased {
			s.leases.drop(id)
		}
		return nil, true, nil
	}
	if err != nil {
		return nil, false, s.mapError(ctx, "apply", err)
	}
	if !resp.Succeeded {
		return nil, true, nil
	}
	if s.observer != nil {
		puts, deletes := 0, 0
		for _, p := range written {
			if ops[p.lastWrite].Kind == kv.OpDelete {
				deletes++
			} else {
				puts++
			}
		}
		s.observer.Committed(1, puts, deletes, time.Since(started))
	}
	rev := resp.Header.Revision
	for i, o := range ops {
		if o.Kind == kv.OpCheck {
			continue
		}
		if p := keyOf[i]; p.lastWrite == i && p.slot >= 0 {
			results[i].Version = versionOf(rev, uint8(p.slot))
		} else {
			results[i].Version = opVersion(rev, i)
		}
	}
	// Keys written blind learn from their previous value whether the
	// first put created them.
	for j, p := range written {
		if p.firstPut < 0 {
			continue
		}
		var prev *mvccpb.KeyValue
		if r := resp.Responses[j].GetResponsePut(); r != nil {
			prev = r.PrevKv
		} else if r := resp.Responses[j].GetResponseDeleteRange(); r != nil && len(r.PrevKvs) > 0 {
			prev = r.PrevKvs[0]
		}
		results[p.firstPut].Created = !live(prev, now)
	}
	return results, false, nil
}

// holds reports whether c holds of the key's current state. A version
// written by this Apply is not known yet, so If-Match cannot match it.
func holds(c kv.Condition, p *keyPlan) bool {
	if c.MustExist && !p.exists || c.MustNotExist && p.exists {
		return false
	}
	if c.IfMatch != 0 {
		if !p.exists || p.pending || p.prev == nil {
			return false
		}
		rev, slot, ok := revisionOf(c.IfMatch)
		return ok && rev == p.prev.ModRevision && slot == p.prevSlot
	}
	return true
}

// live reports whether kv, as etcd holds it, is an entry that exists at
// now: present, not a tombstone and not past its exact expiry.
func live(kv *mvccpb.KeyValue, now time.Time) bool {
	if kv == nil {
		return false
	}
	e, err := decodeEntry(kv.Value)
	return err != nil || !e.absent(now)
}

// readPlans reads the keys that need their state, all at one revision,
// and resets every key's evaluation state.
func (s *Store) readPlans(ctx context.Context, order []*keyPlan) error {
	var gets []clientv3.Op
	var read []*keyPlan
	for _, p := range order {
		p.prev, p.prevSlot, p.liveBefore = nil, 0, false
		p.exists, p.pending, p.known = false, false, p.read
		if p.read {
			gets = append(gets, clientv3.OpGet(p.key))
			read = append(read, p)
		}
	}
	if len(gets) == 0 {
		return nil
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.cli.Txn(rctx).Then(gets...).Commit()
	if err != nil {
		return s.mapError(ctx, "apply: read", err)
	}
	now := time.Now()
	for i, p := range read {
		if kvs := resp.Responses[i].GetResponseRange().Kvs; len(kvs) > 0 {
			p.prev = kvs[0]
			if e, err := decodeEntry(p.prev.Value); err == nil {
				p.prevSlot = e.slot
			}
			p.liveBefore = live(p.prev, now)
			p.exists = p.liveBefore
		}
	}
	return nil
}
