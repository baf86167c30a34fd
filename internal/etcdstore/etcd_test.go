package etcdstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gokv-service/gokv/internal/etcdstore"
	"github.com/gokv-service/gokv/internal/etcdstore/etcdtest"
	"github.com/gokv-service/gokv/internal/kv"
)

var ctx = context.Background()

func put(bucket, key, value string) kv.Op {
	return kv.Op{Kind: kv.OpPut, Bucket: bucket, Key: key, Value: []byte(value), ContentType: "text/plain"}
}

func withCond(op kv.Op, c kv.Condition) kv.Op {
	op.Cond = c
	return op
}

func mustApply(t *testing.T, s kv.Store, ops ...kv.Op) []kv.Result {
	t.Helper()
	res, err := s.Apply(ctx, ops)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return res
}

// TestLeaseReuse: puts with a TTL share leases by expiry window instead of
// granting one each, and their entries still expire on time.
func TestLeaseReuse(t *testing.T) {
	s := openStore(t, shared, etcdstore.Options{})
	cli := shared.Client(t)
	before, err := cli.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const puts = 200
	start := time.Now()
	for i := range puts {
		mustApply(t, s, kv.Op{Kind: kv.OpPut, Bucket: "l", Key: fmt.Sprint("hour-", i), Value: []byte("v"), TTL: time.Hour})
	}
	took := time.Since(start)
	after, err := cli.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	granted := len(after.Leases) - len(before.Leases)
	// An hour's window is 32 s wide (3600/64 rounded down to a power of
	// two): puts within a few seconds fall in one window, two at worst.
	if granted < 1 || granted > 2 {
		t.Errorf("%d puts with a ttl of 1h granted %d leases, want 1 or 2", puts, granted)
	}
	t.Logf("%d puts with ttl=1h in %s granted %d lease(s)", puts, took.Round(time.Millisecond), granted)

}

// TestLeasedEntriesExpire: entries on shared leases expire on time all
// the same: never early, gone for readers at their expiry, and dropped
// by etcd itself a little later, when their window's lease ends.
func TestLeasedEntriesExpire(t *testing.T) {
	t.Parallel()
	prefix := fmt.Sprintf("/test/expire-%d/", time.Now().UnixNano())
	s := openStore(t, shared, etcdstore.Options{Prefix: prefix})
	cli := shared.Client(t)
	res := mustApply(t, s, kv.Op{Kind: kv.OpPut, Bucket: "l", Key: "short", Value: []byte("v"), TTL: 2 * time.Second})
	if e, err := s.Get(ctx, "l", "short", nil); err != nil || !e.ExpiresAt.Equal(res[0].ExpiresAt) {
		t.Fatalf("Get before expiry = %+v, %v", e, err)
	}
	time.Sleep(time.Until(res[0].ExpiresAt))
	if _, err := s.Get(ctx, "l", "short", nil); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Get at the expiry: %v, want kv.ErrNotFound", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := cli.Get(ctx, prefix+"b/l/short", clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		if resp.Count == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("etcd still holds the expired entry 15 s after its expiry")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestExpiryProducesNoEvent: the delete etcd makes when a lease ends is
// not a watch event; explicit deletes are.
func TestExpiryProducesNoEvent(t *testing.T) {
	t.Parallel()
	s := openStore(t, shared, etcdstore.Options{})
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.Watch(wctx, "x", kv.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res := mustApply(t, s, kv.Op{Kind: kv.OpPut, Bucket: "x", Key: "short", Value: []byte("v"), TTL: time.Second})
	if ev := <-w.Events(); ev.Type != kv.EventPut || ev.Key != "short" {
		t.Fatalf("event %+v, want the put", ev)
	}
	// Past the lease's end: window (1 s) + slack (2 s) + etcd's check.
	time.Sleep(time.Until(res[0].ExpiresAt) + 4*time.Second)
	mustApply(t, s, put("x", "long", "v"))
	del := mustApply(t, s, kv.Op{Kind: kv.OpDelete, Bucket: "x", Key: "long"})
	for _, want := range []struct {
		typ     kv.EventType
		version uint64
	}{{kv.EventPut, 0}, {kv.EventDelete, del[0].Version}} {
		select {
		case ev := <-w.Events():
			if ev.Key != "long" || ev.Type != want.typ || (want.version != 0 && ev.Version != want.version) {
				t.Fatalf("event %+v, want a %v of long (the expiry of short is no event)", ev, want.typ)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
		}
	}
}

// TestCompactedHistory: a watch that resumes from a revision etcd
// compacted away fails with kv.ErrHistoryGone, so the client lists again.
// Not parallel: it compacts the shared cluster's history, which the
// watches of parallel tests resume from.
func TestCompactedHistory(t *testing.T) {
	s := openStore(t, shared, etcdstore.Options{})
	old := mustApply(t, s, put("c", "k", "1"))[0].Version
	mustApply(t, s, put("c", "k", "2"))
	latest := mustApply(t, s, put("c", "k", "3"))[0].Version
	if err := shared.Compact(ctx, int64(latest>>8)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Watch(ctx, "c", kv.WatchOptions{Since: old}); !errors.Is(err, kv.ErrHistoryGone) {
		t.Fatalf("watch since a compacted version: %v, want kv.ErrHistoryGone", err)
	}
	// From the newest version there is nothing to replay: it works.
	w, err := s.Watch(ctx, "c", kv.WatchOptions{Since: latest})
	if err != nil {
		t.Fatalf("watch since the newest version: %v", err)
	}
	res := mustApply(t, s, put("c", "k", "4"))
	if ev := <-w.Events(); ev.Version != res[0].Version {
		t.Fatalf("event %+v, want version %d", ev, res[0].Version)
	}
}

// TestFoldedOps: several ops on one key in one Apply, which etcd would
// refuse as one transaction, act as kv says: each sees the ones before.
func TestFoldedOps(t *testing.T) {
	t.Parallel()
	s := openStore(t, shared, etcdstore.Options{})
	v0 := mustApply(t, s, put("f", "there", "0"))[0].Version
	del := kv.Op{Kind: kv.OpDelete, Bucket: "f", Key: "there"}
	check := func(key string, c kv.Condition) kv.Op {
		return kv.Op{Kind: kv.OpCheck, Bucket: "f", Key: key, Cond: c}
	}
	tests := []struct {
		name    string
		ops     []kv.Op
		failsAt int // -1: succeeds
		want    error
		value   string // what "there" holds afterwards; "" absent
		created []bool
	}{
		{"delete then create", []kv.Op{del, withCond(put("f", "there", "1"), kv.Condition{MustNotExist: true})}, -1, nil, "1", []bool{false, true}},
		{"put then delete", []kv.Op{put("f", "there", "2"), del}, -1, nil, "", []bool{false, false}},
		{"delete twice", []kv.Op{put("f", "there", "3"), del, del}, 2, kv.ErrNotFound, "", nil},
		{"create then must exist", []kv.Op{put("f", "there", "4"), check("there", kv.Condition{MustExist: true}), put("f", "there", "5")}, -1, nil, "5", []bool{true, false, false}},
		{"if-match the version before the apply", []kv.Op{put("f", "there", "6"), withCond(put("f", "there", "7"), kv.Condition{IfMatch: 0})}, -1, nil, "7", nil},
		{"if-match a version the apply replaced", []kv.Op{withCond(put("f", "there", "8"), kv.Condition{IfMatch: v0}), withCond(put("f", "there", "9"), kv.Condition{IfMatch: v0})}, 1, kv.ErrConditionFailed, "7", nil},
	}
	for _, tt := range tests {
		if tt.name == "if-match a version the apply replaced" {
			// Make v0 current again for this case.
			e, err := s.Get(ctx, "f", "there", nil)
			if err != nil {
				t.Fatal(err)
			}
			tt.ops[0].Cond.IfMatch = e.Version
			tt.ops[1].Cond.IfMatch = e.Version
		}
		res, err := s.Apply(ctx, tt.ops)
		if tt.failsAt >= 0 {
			var opErr *kv.OpError
			if !errors.As(err, &opErr) || opErr.Index != tt.failsAt || !errors.Is(err, tt.want) {
				t.Fatalf("%s: err = %v, want op %d failing with %v", tt.name, err, tt.failsAt, tt.want)
			}
		} else if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for i, c := range tt.created {
			if res[i].Created != c {
				t.Errorf("%s: op %d created = %v, want %v", tt.name, i, res[i].Created, c)
			}
		}
		for i := 1; err == nil && i < len(res); i++ {
			if res[i].Version != 0 && res[i].Version <= res[i-1].Version {
				t.Errorf("%s: op %d has version %d after %d", tt.name, i, res[i].Version, res[i-1].Version)
			}
		}
		e, gerr := s.Get(ctx, "f", "there", nil)
		if tt.value == "" && !errors.Is(gerr, kv.ErrNotFound) || tt.value != "" && (gerr != nil || string(e.Value) != tt.value) {
			t.Fatalf("%s: afterwards Get = %q, %v; want %q", tt.name, e.Value, gerr, tt.value)
		}
		if tt.value != "" && err == nil && e.Version != res[len(res)-1].Version && res[len(res)-1].Version != 0 {
			t.Errorf("%s: Get's version %d, the last op's %d", tt.name, e.Version, res[len(res)-1].Version)
		}
	}
}

// TestLimits: the largest Apply kv allows (kv.MaxOps ops, each with a
// condition, so as many compares) fits etcd's default --max-txn-ops; one
// larger than the cluster's request limit fails with kv.ErrTooLarge, both
// when gokv knows the limit and when only etcd does.
func TestLimits(t *testing.T) {
	t.Parallel()
	s := openStore(t, shared, etcdstore.Options{})
	var ops []kv.Op
	for i := range kv.MaxOps {
		ops = append(ops, withCond(put("m", fmt.Sprint("k", i), "v"), kv.Condition{MustNotExist: true}))
	}
	mustApply(t, s, ops...)
	for i := range ops {
		ops[i].Cond = kv.Condition{MustExist: true}
	}
	mustApply(t, s, ops...)

	big := bytes.Repeat([]byte("x"), 1<<20)
	twoValues := []kv.Op{{Kind: kv.OpPut, Bucket: "m", Key: "a", Value: big}, {Kind: kv.OpPut, Bucket: "m", Key: "b", Value: big}}
	if _, err := s.Apply(ctx, twoValues); !errors.Is(err, kv.ErrTooLarge) {
		t.Errorf("2 MiB in one apply: err = %v, want kv.ErrTooLarge", err)
	}
	// A store told the cluster takes more than it does: etcd refuses.
	lax := openStore(t, shared, etcdstore.Options{MaxRequestBytes: 8 << 20})
	if _, err := lax.Apply(ctx, twoValues); !errors.Is(err, kv.ErrTooLarge) {
		t.Errorf("2 MiB in one apply, refused by etcd: err = %v, want kv.ErrTooLarge", err)
	}
	// One value of MAX_VALUE_BYTES' default fits.
	mustApply(t, s, kv.Op{Kind: kv.OpPut, Bucket: "m", Key: "one", Value: big})
}

// TestRestoreEndsWatchesOfOtherReplicas: a restore through one gokv ends
// the watches of another gokv on the same prefix, and that other refuses
// to resume from before the restore.
func TestRestoreEndsWatchesOfOtherReplicas(t *testing.T) {
	t.Parallel()
	prefix := fmt.Sprintf("/test/replicas-%d/", time.Now().UnixNano())
	a := openStore(t, shared, etcdstore.Options{Prefix: prefix})
	b := openStore(t, shared, etcdstore.Options{Prefix: prefix})
	before := mustApply(t, a, put("w", "k", "1"))[0].Version
	w, err := b.Watch(ctx, "w", kv.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Restore(ctx, true, func() (kv.Record, error) { return kv.Record{}, io.EOF }); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for done := false; !done; {
		select {
		case _, ok := <-w.Events():
			done = !ok
		case <-timeout:
			t.Fatal("the other replica's watch did not end after a restore")
		}
	}
	if !errors.Is(w.Err(), kv.ErrHistoryGone) {
		t.Errorf("other replica's watch: Err = %v, want kv.ErrHistoryGone", w.Err())
	}
	if _, err := b.Watch(ctx, "w", kv.WatchOptions{Since: before}); !errors.Is(err, kv.ErrHistoryGone) {
		t.Errorf("other replica, watch since before the restore: %v, want kv.ErrHistoryGone", err)
	}
}

// TestQuorumLoss: with 2 of 3 members stopped, the store is not ready and
// its requests fail with kv.ErrUnavailable within the request timeout,
// while Health stays nil; once a member is back, it is ready again and
// every acknowledged write is there.
func TestQuorumLoss(t *testing.T) {
	t.Parallel() // on a cluster of its own
	c := etcdtest.Start(t, 3)
	s := openStore(t, c, etcdstore.Options{RequestTimeout: time.Second, DialTimeout: time.Second})
	waitReady(t, s, true)
	mustApply(t, s, put("q", "k", "before"))

	leader := c.Leader(10 * time.Second)
	follower := c.Follower()
	c.Stop(follower)
	c.Stop(leader)
	waitReady(t, s, false)
	if err := s.Ready(); !errors.Is(err, kv.ErrUnavailable) {
		t.Errorf("Ready without quorum = %v, want kv.ErrUnavailable", err)
	}
	if err := s.Health(); err != nil {
		t.Errorf("Health without quorum = %v, want nil", err)
	}
	start := time.Now()
	if _, err := s.Get(ctx, "q", "k", nil); !errors.Is(err, kv.ErrUnavailable) {
		t.Errorf("Get without quorum: %v, want kv.ErrUnavailable", err)
	}
	if _, err := s.Apply(ctx, []kv.Op{put("q", "k", "during")}); !errors.Is(err, kv.ErrUnavailable) {
		t.Errorf("Apply without quorum: %v, want kv.ErrUnavailable", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("two requests without quorum took %s with a 1 s request timeout", took)
	}
	// The caller's own cancellation stays a context error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Get(cctx, "q", "k", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a canceled context: %v, want context.Canceled", err)
	}

	c.Restart(t, follower)
	waitReady(t, s, true)
	e, err := s.Get(ctx, "q", "k", nil)
	if err != nil || string(e.Value) != "before" {
		t.Fatalf("Get after quorum is back = %q, %v; want the write acknowledged before", e.Value, err)
	}
	c.Restart(t, leader)
	mustApply(t, s, put("q", "k", "after"))
}

// waitReady waits until Ready says ready (or not).
func waitReady(t *testing.T, s kv.Store, ready bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for (s.Ready() == nil) != ready {
		if time.Now().After(deadline) {
			t.Fatalf("Ready = %v after 30 s, want ready=%v", s.Ready(), ready)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestVersionsWithinATransaction: the writes of one Apply, one etcd
// revision, get versions of their own in the order watchers see them,
// so that a watch resumed from any of them (the API's Last-Event-ID)
// misses nothing and repeats nothing; a delete among other writes is an
// event with its own version too.
func TestVersionsWithinATransaction(t *testing.T) {
	t.Parallel()
	s := openStore(t, shared, etcdstore.Options{})
	mustApply(t, s, put("v", "c", "0"))
	res := mustApply(t, s, put("v", "a", "1"), put("v", "b", "2"), kv.Op{Kind: kv.OpDelete, Bucket: "v", Key: "c"})
	if !(res[0].Version < res[1].Version && res[1].Version < res[2].Version) {
		t.Fatalf("versions of one apply: %d, %d, %d; want growing", res[0].Version, res[1].Version, res[2].Version)
	}
	for i, key := range []string{"a", "b"} {
		if e, err := s.Get(ctx, "v", key, nil); err != nil || e.Version != res[i].Version {
			t.Fatalf("Get %s: version %d, %v; want %d", key, e.Version, err, res[i].Version)
		}
	}
	if _, err := s.Get(ctx, "v", "c", nil); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Get of the key deleted among other writes: %v", err)
	}
	page, err := s.List(ctx, "v", kv.ListOptions{Limit: 10})
	if err != nil || len(page.Items) != 2 {
		t.Fatalf("List: %+v, %v; want a and b", page.Items, err)
	}
	all := []kv.Event{
		{Type: kv.EventPut, Key: "a", Version: res[0].Version},
		{Type: kv.EventPut, Key: "b", Version: res[1].Version},
		{Type: kv.EventDelete, Key: "c", Version: res[2].Version},
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var watches []kv.Watcher
	for from := range all {
		w, err := s.Watch(wctx, "v", kv.WatchOptions{Since: all[from].Version})
		if err != nil {
			t.Fatal(err)
		}
		watches = append(watches, w)
	}
	end := mustApply(t, s, put("v", "end", "x"))[0].Version
	all = append(all, kv.Event{Type: kv.EventPut, Key: "end", Version: end})
	for from, w := range watches {
		for _, ev := range all[from+1:] {
			select {
			case got := <-w.Events():
				if got.Type != ev.Type || got.Key != ev.Key || got.Version != ev.Version {
					t.Fatalf("resumed after %d: event %+v, want %+v", all[from].Version, got, ev)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("resumed after %d: no event", all[from].Version)
			}
		}
	}
}
