package etcdstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TTLs and leases. A lease per write would cost a raft round trip (the
// grant) on every put with a TTL, and leave etcd with as many leases as
// keys, each checked for expiry and checkpointed. Instead puts share a
// lease per expiry window: the exact expiry, to the second, travels in
// the envelope, readers treat an entry past it as absent, and the lease
// only removes the entry from etcd at the end of its window, a little
// later. A window is a power of two seconds, the largest not above
// ttl/64 (1 s for TTLs up to about two minutes, about 15 min for a day,
// capped at maxWindow), so an entry lingers at most 1/64 of its TTL plus
// leaseSlack after it expired, and puts with one TTL made at a steady
// rate use about 64 leases at any time, whatever the rate. Windows are
// aligned to multiples of their width, so puts with different TTLs share
// leases too. Measured (TestLeaseReuse): 500 puts with a one-hour TTL over
// a few seconds use one or two leases.
const (
	maxWindow = 1 << 16 * time.Second // about 18 h
	// leaseSlack is granted beyond a window's end: the lease must never
	// end before an entry's exact expiry, whatever the rounding of the
	// grant's start.
	leaseSlack = 2 * time.Second
)

// windowEnd is the end, in Unix seconds, of the window of an entry that
// expires at expiresAt after ttl.
func windowEnd(expiresAt time.Time, ttl time.Duration) int64 {
	w := time.Second
	for w*2 <= ttl/64 && w*2 <= maxWindow {
		w *= 2
	}
	width := int64(w / time.Second)
	at := expiresAt.Unix()
	return (at + width - 1) / width * width
}

// leases hands out one lease per window, granting it on first use.
type leases struct {
	lessor  clientv3.Lease
	life    context.Context
	timeout time.Duration

	mu    sync.Mutex
	byEnd map[int64]*leaseSlot
	// granted counts the leases granted, for tests and logs.
	granted atomic.Int64
}

type leaseSlot struct {
	done chan struct{} // closed once id or err is set
	id   clientv3.LeaseID
	err  error
}

func newLeases(lessor clientv3.Lease, life context.Context, timeout time.Duration) *leases {
	return &leases{lessor: lessor, life: life, timeout: timeout, byEnd: map[int64]*leaseSlot{}}
}

// get returns the lease of the window of an entry expiring at expiresAt
// after ttl, granting it when it is the window's first.
func (l *leases) get(ctx context.Context, expiresAt time.Time, ttl time.Duration) (clientv3.LeaseID, error) {
	end := windowEnd(expiresAt, ttl)
	now := time.Now()
	l.mu.Lock()
	slot := l.byEnd[end]
	if slot == nil {
		slot = &leaseSlot{done: make(chan struct{})}
		l.byEnd[end] = slot
		for e := range l.byEnd {
			// A window that ended has no lease left in etcd.
			if e < now.Unix() {
				delete(l.byEnd, e)
			}
		}
		l.mu.Unlock()
		// The grant serves every put of the window, so it does not end
		// with the request that happened to ask first.
		gctx, cancel := context.WithTimeout(l.life, l.timeout)
		seconds := end - now.Unix() + int64(leaseSlack/time.Second)
		resp, err := l.lessor.Grant(gctx, seconds)
		cancel()
		if err != nil {
			slot.err = fmt.Errorf("grant a lease of %d s: %w", seconds, err)
			l.forget(end, slot)
		} else {
			slot.id = resp.ID
			l.granted.Add(1)
		}
		close(slot.done)
	} else {
		l.mu.Unlock()
	}
	select {
	case <-slot.done:
		return slot.id, slot.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// drop forgets lease id, which etcd no longer has (it was revoked, or
// the cluster was restored from a snapshot older than it).
func (l *leases) drop(id clientv3.LeaseID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for end, slot := range l.byEnd {
		select {
		case <-slot.done:
			if slot.id == id {
				delete(l.byEnd, end)
			}
		default:
		}
	}
}

func (l *leases) forget(end int64, slot *leaseSlot) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byEnd[end] == slot {
		delete(l.byEnd, end)
	}
}
