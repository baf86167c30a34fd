// Package kvtest is the conformance suite of kv.Store: the behaviour every
// storage backend must have, written once. A backend's test calls Run
// with a function that opens a fresh, empty store.
package kvtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/kv"
)

// Open returns a fresh, empty store that is closed when the test ends.
type Open func(t *testing.T) kv.Store

// Run runs every conformance test against stores from open.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, kv.Store)
	}{
		{"PutGetDelete", testPutGetDelete},
		{"VersionsGrow", testVersionsGrow},
		{"Conditions", testConditions},
		{"ApplyIsAtomic", testApplyIsAtomic},
		{"InvalidOps", testInvalidOps},
		{"CompareAndSwapCounter", testCompareAndSwapCounter},
		{"TTL", testTTL},
		{"List", testList},
		{"ListPagingWhileWriting", testListPagingWhileWriting},
		{"Buckets", testBuckets},
		{"Watch", testWatch},
		{"GetReserve", testGetReserve},
		{"RestoreIntoNonEmpty", testRestoreIntoNonEmpty},
		{"RestoreReplace", testRestoreReplace},
		{"RestoreSkipsAndValidates", testRestoreSkipsAndValidates},
		{"RestoreEndsWatches", testRestoreEndsWatches},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
	// Tests that need a second, fresh store to restore into.
	twoStores := []struct {
		name string
		fn   func(*testing.T, kv.Store, kv.Store)
	}{
		{"BackupRestore", testBackupRestore},
		{"BackupIsConsistent", testBackupIsConsistent},
	}
	for _, tt := range twoStores {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t), open(t))
		})
	}
}

var ctx = context.Background()

func put(bucket, key, value string) kv.Op {
	return kv.Op{Kind: kv.OpPut, Bucket: bucket, Key: key, Value: []byte(value), ContentType: "text/plain"}
}

func del(bucket, key string) kv.Op {
	return kv.Op{Kind: kv.OpDelete, Bucket: bucket, Key: key}
}

// mustApply applies ops and fails the test on error.
func mustApply(t *testing.T, s kv.Store, ops ...kv.Op) []kv.Result {
	t.Helper()
	res, err := s.Apply(ctx, ops)
	if err != nil {
		t.Fatalf("Apply(%v): %v", ops, err)
	}
	if len(res) != len(ops) {
		t.Fatalf("Apply of %d ops returned %d results", len(ops), len(res))
	}
	return res
}

// wantValue checks that bucket/key holds value.
func wantValue(t *testing.T, s kv.Store, bucket, key, value string) kv.Entry {
	t.Helper()
	e, err := s.Get(ctx, bucket, key, nil)
	if err != nil {
		t.Fatalf("Get(%s/%s): %v, want %q", bucket, key, err, value)
	}
	if string(e.Value) != value {
		t.Fatalf("Get(%s/%s) = %q, want %q", bucket, key, e.Value, value)
	}
	return e
}

// wantAbsent checks that bucket/key is not found.
func wantAbsent(t *testing.T, s kv.Store, bucket, key string) {
	t.Helper()
	if e, err := s.Get(ctx, bucket, key, nil); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Get(%s/%s) = %q, %v; want kv.ErrNotFound", bucket, key, e.Value, err)
	}
}

// wantOpError checks that err is an *kv.OpError for op index wrapping want.
func wantOpError(t *testing.T, err error, index int, want error) {
	t.Helper()
	var opErr *kv.OpError
	if !errors.As(err, &opErr) || opErr.Index != index || !errors.Is(err, want) {
		t.Fatalf("err = %v, want an *kv.OpError for op %d wrapping %v", err, index, want)
	}
}

func testPutGetDelete(t *testing.T, s kv.Store) {
	wantAbsent(t, s, "b", "k")
	res := mustApply(t, s, kv.Op{Kind: kv.OpPut, Bucket: "b", Key: "a/b c:d", Value: []byte{0, 1, 2}, ContentType: "application/x-thing"})
	if !res[0].Created || res[0].Version == 0 || !res[0].ExpiresAt.IsZero() {
		t.Fatalf("first put: %+v, want created, a version, no expiry", res[0])
	}
	e, err := s.Get(ctx, "b", "a/b c:d", nil)
	if err != nil || !bytes.Equal(e.Value, []byte{0, 1, 2}) || e.ContentType != "application/x-thing" || e.Version != res[0].Version || !e.ExpiresAt.IsZero() {
		t.Fatalf("Get = %+v, %v; want the value, content type and version %d", e, err, res[0].Version)
	}
	res = mustApply(t, s, put("b", "a/b c:d", "two"))
	if res[0].Created {
		t.Error("second put of a key: created = true")
	}
	wantValue(t, s, "b", "a/b c:d", "two")
	// An empty value is a value.
	mustApply(t, s, put("b", "empty", ""))
	wantValue(t, s, "b", "empty", "")
	// Buckets are separate.
	wantAbsent(t, s, "other", "a/b c:d")

	mustApply(t, s, del("b", "a/b c:d"))
	wantAbsent(t, s, "b", "a/b c:d")
	_, err = s.Apply(ctx, []kv.Op{del("b", "a/b c:d")})
	wantOpError(t, err, 0, kv.ErrNotFound)
}

func testVersionsGrow(t *testing.T, s kv.Store) {
	var last uint64
	for i := range 20 {
		key := fmt.Sprint("k", i%3)
		var res []kv.Result
		if i%5 == 4 {
			res = mustApply(t, s, del("b", key), put("b", key, "again"))
		} else {
			res = mustApply(t, s, put("b", key, strconv.Itoa(i)))
		}
		for _, r := range res {
			if r.Version <= last {
				t.Fatalf("write %d: version %d after %d, want greater", i, r.Version, last)
			}
			last = r.Version
		}
		if e := wantValue(t, s, "b", key, valueOf(i)); e.Version != last {
			t.Fatalf("Get after write %d: version %d, want %d", i, e.Version, last)
		}
	}
	// Concurrent writers of one key: every write has a version of its
	// own, and the last one read back is the greatest.
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 10 {
				res, err := s.Apply(ctx, []kv.Op{put("b", "hot", fmt.Sprint(w, "-", i))})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[res[0].Version] {
					t.Errorf("version %d given to two writes", res[0].Version)
				}
				seen[res[0].Version] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	e, err := s.Get(ctx, "b", "hot", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := slices.Max(slices.Collect(mapKeys(seen))); e.Version != want {
		t.Errorf("hot key's version %d, want the greatest written, %d", e.Version, want)
	}
}

// valueOf is the value testVersionsGrow's write i leaves.
func valueOf(i int) string {
	if i%5 == 4 {
		return "again"
	}
	return strconv.Itoa(i)
}

func mapKeys(m map[uint64]bool) func(func(uint64) bool) {
	return func(yield func(uint64) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func testConditions(t *testing.T, s kv.Store) {
	v1 := mustApply(t, s, put("b", "k", "one"))[0].Version
	stale := v1
	v2 := mustApply(t, s, put("b", "k", "two"))[0].Version
	tests := []struct {
		name string
		op   kv.Op
		ok   bool
	}{
		{"if-match current", withCond(put("b", "k", "x"), kv.Condition{IfMatch: v2}), true},
		{"if-match stale", withCond(put("b", "k", "x"), kv.Condition{IfMatch: stale}), false},
		{"if-match on a missing key", withCond(put("b", "missing", "x"), kv.Condition{IfMatch: v2}), false},
		{"must exist", withCond(put("b", "k", "x"), kv.Condition{MustExist: true}), true},
		{"must exist, missing", withCond(put("b", "missing", "x"), kv.Condition{MustExist: true}), false},
		{"must not exist, present", withCond(put("b", "k", "x"), kv.Condition{MustNotExist: true}), false},
		{"must not exist, missing", withCond(put("b", "new", "x"), kv.Condition{MustNotExist: true}), true},
		{"delete if-match stale", withCond(del("b", "k"), kv.Condition{IfMatch: stale}), false},
		{"check stale", withCond(kv.Op{Kind: kv.OpCheck, Bucket: "b", Key: "k"}, kv.Condition{IfMatch: stale}), false},
		{"check must not exist, missing", withCond(kv.Op{Kind: kv.OpCheck, Bucket: "b", Key: "nothing"}, kv.Condition{MustNotExist: true}), true},
	}
	for _, tt := range tests {
		before, beforeErr := s.Get(ctx, tt.op.Bucket, tt.op.Key, nil)
		res, err := s.Apply(ctx, []kv.Op{tt.op})
		if tt.ok {
			if err != nil {
				t.Fatalf("%s: %v, want success", tt.name, err)
			}
			if tt.op.Kind == kv.OpPut {
				// Restore the state the next cases expect.
				e := wantValue(t, s, tt.op.Bucket, tt.op.Key, "x")
				if e.Version != res[0].Version {
					t.Fatalf("%s: version %d, result said %d", tt.name, e.Version, res[0].Version)
				}
				if tt.op.Key == "k" {
					v2 = mustApply(t, s, withCond(put("b", "k", "two"), kv.Condition{IfMatch: e.Version}))[0].Version
				}
			}
			continue
		}
		wantOpError(t, err, 0, kv.ErrConditionFailed)
		after, afterErr := s.Get(ctx, tt.op.Bucket, tt.op.Key, nil)
		if !errors.Is(afterErr, beforeErr) || after.Version != before.Version || !bytes.Equal(after.Value, before.Value) {
			t.Fatalf("%s: failed condition changed %s from %+v, %v to %+v, %v", tt.name, tt.op.Key, before, beforeErr, after, afterErr)
		}
	}
	// A condition sees the ops before it in the same apply.
	res := mustApply(t, s, put("b", "seq", "1"), withCond(put("b", "seq", "2"), kv.Condition{MustExist: true}))
	if !res[0].Created || res[1].Created || res[1].Version <= res[0].Version {
		t.Fatalf("put then conditional put: %+v", res)
	}
	_, err := s.Apply(ctx, []kv.Op{del("b", "seq"), withCond(kv.Op{Kind: kv.OpCheck, Bucket: "b", Key: "seq"}, kv.Condition{MustExist: true})})
	wantOpError(t, err, 1, kv.ErrConditionFailed)
	wantValue(t, s, "b", "seq", "2")
}

func withCond(op kv.Op, c kv.Condition) kv.Op {
	op.Cond = c
	return op
}

func testApplyIsAtomic(t *testing.T, s kv.Store) {
	mustApply(t, s, put("b", "keep", "kept"))
	_, err := s.Apply(ctx, []kv.Op{
		put("b", "a", "1"),
		del("b", "keep"),
		put("c", "b", "2"),
		withCond(kv.Op{Kind: kv.OpCheck, Bucket: "b", Key: "absent"}, kv.Condition{MustExist: true}),
	})
	wantOpError(t, err, 3, kv.ErrConditionFailed)
	wantAbsent(t, s, "b", "a")
	wantAbsent(t, s, "c", "b")
	wantValue(t, s, "b", "keep", "kept")

	// A delete of a missing key fails the apply too.
	_, err = s.Apply(ctx, []kv.Op{put("b", "a", "1"), del("b", "never")})
	wantOpError(t, err, 1, kv.ErrNotFound)
	wantAbsent(t, s, "b", "a")
}

func testInvalidOps(t *testing.T, s kv.Store) {
	tests := []struct {
		name  string
		ops   []kv.Op
		index int // -1: not an op's error
		want  error
	}{
		{"no ops", nil, -1, kv.ErrInvalid},
		{"too many ops", slices.Repeat([]kv.Op{put("b", "k", "v")}, kv.MaxOps+1), -1, kv.ErrInvalid},
		{"bad bucket", []kv.Op{put("b", "k", "v"), put("_txn", "k", "v")}, 1, kv.ErrInvalidBucket},
		{"bad key", []kv.Op{put("b", "a/../b", "v")}, 0, kv.ErrInvalidKey},
		{"ttl too short", []kv.Op{{Kind: kv.OpPut, Bucket: "b", Key: "k", TTL: time.Millisecond}}, 0, kv.ErrInvalid},
		{"ttl too long", []kv.Op{{Kind: kv.OpPut, Bucket: "b", Key: "k", TTL: kv.MaxTTL + time.Hour}}, 0, kv.ErrInvalid},
		{"value on a delete", []kv.Op{{Kind: kv.OpDelete, Bucket: "b", Key: "k", Value: []byte("v")}}, 0, kv.ErrInvalid},
		{"unknown kind", []kv.Op{{Bucket: "b", Key: "k"}}, 0, kv.ErrInvalid},
		{"long content type", []kv.Op{{Kind: kv.OpPut, Bucket: "b", Key: "k", ContentType: string(make([]byte, kv.MaxContentTypeLen+1))}}, 0, kv.ErrInvalidContentType},
	}
	for _, tt := range tests {
		_, err := s.Apply(ctx, tt.ops)
		if tt.index >= 0 {
			wantOpError(t, err, tt.index, tt.want)
		} else if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	page, err := s.List(ctx, "b", kv.ListOptions{Limit: 10})
	if err != nil || len(page.Items) != 0 {
		t.Errorf("invalid applies wrote %+v, %v", page.Items, err)
	}
	for _, limit := range []int{0, -1, kv.MaxListLimit + 1} {
		if _, err := s.List(ctx, "b", kv.ListOptions{Limit: limit}); !errors.Is(err, kv.ErrInvalid) {
			t.Errorf("List with limit %d: err = %v, want kv.ErrInvalid", limit, err)
		}
		if _, err := s.Buckets(ctx, "", limit); !errors.Is(err, kv.ErrInvalid) {
			t.Errorf("Buckets with limit %d: err = %v, want kv.ErrInvalid", limit, err)
		}
	}
	if _, err := s.List(ctx, "_b", kv.ListOptions{Limit: 1}); !errors.Is(err, kv.ErrInvalidBucket) {
		t.Errorf("List of bucket _b: err = %v, want kv.ErrInvalidBucket", err)
	}
	if _, err := s.Get(ctx, "b", "", nil); !errors.Is(err, kv.ErrInvalidKey) {
		t.Errorf("Get of an empty key: err = %v, want kv.ErrInvalidKey", err)
	}
}

// testCompareAndSwapCounter: read–modify–write increments with
// If-Match, retried when another writer won, lose no increment.
func testCompareAndSwapCounter(t *testing.T, s kv.Store) {
	const workers, increments = 8, 25
	mustApply(t, s, put("c", "counter", "0"))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range increments {
				for {
					e, err := s.Get(ctx, "c", "counter", nil)
					if err != nil {
						t.Error(err)
						return
					}
					n, _ := strconv.Atoi(string(e.Value))
					op := withCond(put("c", "counter", strconv.Itoa(n+1)), kv.Condition{IfMatch: e.Version})
					_, err = s.Apply(ctx, []kv.Op{op})
					if err == nil {
						break
					}
					if !errors.Is(err, kv.ErrConditionFailed) {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	wantValue(t, s, "c", "counter", strconv.Itoa(workers*increments))
}

func testTTL(t *testing.T, s kv.Store) {
	start := time.Now()
	res := mustApply(t, s,
		kv.Op{Kind: kv.OpPut, Bucket: "t", Key: "short", Value: []byte("v"), TTL: time.Second},
		kv.Op{Kind: kv.OpPut, Bucket: "t", Key: "long", Value: []byte("v"), TTL: time.Hour},
		kv.Op{Kind: kv.OpPut, Bucket: "t", Key: "cleared", Value: []byte("v"), TTL: time.Second},
	)
	// Expiry is kept to the second, rounded up: never early.
	if at := res[0].ExpiresAt; at.Before(start.Add(time.Second)) || at.After(start.Add(3*time.Second)) {
		t.Fatalf("ttl 1s written at %s expires at %s", start, at)
	}
	e := wantValue(t, s, "t", "short", "v")
	if !e.ExpiresAt.Equal(res[0].ExpiresAt) {
		t.Errorf("Get says expires at %s, the put said %s", e.ExpiresAt, res[0].ExpiresAt)
	}
	// A write without a ttl replaces the ttl too.
	mustApply(t, s, put("t", "cleared", "w"))
	if e := wantValue(t, s, "t", "cleared", "w"); !e.ExpiresAt.IsZero() {
		t.Errorf("rewritten without ttl: expires at %s", e.ExpiresAt)
	}
	page, err := s.List(ctx, "t", kv.ListOptions{Limit: 10})
	if err != nil || len(page.Items) != 3 || page.Items[2].ExpiresAt.IsZero() {
		t.Fatalf("before expiry: list = %+v, %v", page.Items, err)
	}

	time.Sleep(time.Until(res[0].ExpiresAt) + 100*time.Millisecond)
	wantAbsent(t, s, "t", "short")
	page, err = s.List(ctx, "t", kv.ListOptions{Limit: 10})
	if err != nil || len(page.Items) != 2 || page.Items[0].Key != "cleared" || page.Items[1].Key != "long" {
		t.Fatalf("after expiry: list = %+v, %v", page.Items, err)
	}
	_, err = s.Apply(ctx, []kv.Op{withCond(put("t", "short", "x"), kv.Condition{IfMatch: res[0].Version})})
	wantOpError(t, err, 0, kv.ErrConditionFailed)
	_, err = s.Apply(ctx, []kv.Op{del("t", "short")})
	wantOpError(t, err, 0, kv.ErrNotFound)
	// An expired key can be created again.
	if res := mustApply(t, s, withCond(put("t", "short", "new"), kv.Condition{MustNotExist: true})); !res[0].Created {
		t.Error("put over an expired key: created = false")
	}
}

func testList(t *testing.T, s kv.Store) {
	keys := []string{"a", "app/db/url", "app/db/user", "app/name", "b", "b/c", "z", "é"}
	for _, k := range keys {
		mustApply(t, s, put("l", k, "v-"+k))
	}
	mustApply(t, s, put("l2", "other", "x"), put("l", "gone", "x"))
	mustApply(t, s, del("l", "gone"))

	tests := []struct {
		name         string
		opts         kv.ListOptions
		wantItems    []string
		wantPrefixes []string
		wantNext     bool
	}{
		{"all", kv.ListOptions{Limit: 100}, keys, nil, false},
		{"prefix", kv.ListOptions{Prefix: "app/", Limit: 100}, []string{"app/db/url", "app/db/user", "app/name"}, nil, false},
		{"prefix without match", kv.ListOptions{Prefix: "q", Limit: 100}, nil, nil, false},
		{"limit", kv.ListOptions{Limit: 3}, keys[:3], nil, true},
		{"exact limit", kv.ListOptions{Limit: len(keys)}, keys, nil, false},
		{"start", kv.ListOptions{Start: "app/name", Limit: 100}, keys[3:], nil, false},
		{"start before prefix", kv.ListOptions{Prefix: "b", Start: "a", Limit: 100}, []string{"b", "b/c"}, nil, false},
		{"delimiter", kv.ListOptions{Delimiter: "/", Limit: 100}, []string{"a", "b", "z", "é"}, []string{"app/", "b/"}, false},
		{"delimiter under prefix", kv.ListOptions{Prefix: "app/", Delimiter: "/", Limit: 100}, []string{"app/name"}, []string{"app/db/"}, false},
		{"delimiter and limit", kv.ListOptions{Delimiter: "/", Limit: 2}, []string{"a"}, []string{"app/"}, true},
	}
	for _, tt := range tests {
		page, err := s.List(ctx, "l", tt.opts)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := itemKeys(page.Items); !slices.Equal(got, tt.wantItems) || !slices.Equal(page.Prefixes, tt.wantPrefixes) || (page.Next != "") != tt.wantNext {
			t.Errorf("%s: items %q prefixes %q next %q; want %q %q, next: %v", tt.name, got, page.Prefixes, page.Next, tt.wantItems, tt.wantPrefixes, tt.wantNext)
		}
	}

	// The item describes the entry.
	e := wantValue(t, s, "l", "app/name", "v-app/name")
	page, err := s.List(ctx, "l", kv.ListOptions{Prefix: "app/name", Limit: 1})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("list app/name: %+v, %v", page, err)
	}
	if it := page.Items[0]; it.Size != int64(len(e.Value)) || it.ContentType != "text/plain" || it.Version != e.Version || !it.ExpiresAt.IsZero() {
		t.Errorf("item %+v does not describe entry %+v", it, e)
	}

	// Paging with Next walks every key once, with and without a
	// delimiter.
	for _, delimiter := range []string{"", "/"} {
		var got []string
		opts := kv.ListOptions{Limit: 1, Delimiter: delimiter}
		for range 20 {
			page, err := s.List(ctx, "l", opts)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, itemKeys(page.Items)...)
			got = append(got, page.Prefixes...)
			if page.Next == "" {
				break
			}
			opts.Start = page.Next
		}
		want := keys
		if delimiter != "" {
			want = []string{"a", "app/", "b", "b/", "z", "é"}
		}
		if !slices.Equal(got, want) {
			t.Errorf("paging one by one (delimiter %q): %q, want %q", delimiter, got, want)
		}
	}

	page, err = s.List(ctx, "empty", kv.ListOptions{Limit: 10})
	if err != nil || len(page.Items) != 0 || len(page.Prefixes) != 0 || page.Next != "" {
		t.Errorf("empty bucket: %+v, %v", page, err)
	}
}

func itemKeys(items []kv.Item) []string {
	var keys []string
	for _, it := range items {
		keys = append(keys, it.Key)
	}
	return keys
}

// testListPagingWhileWriting: keys that exist throughout a paged walk
// appear exactly once and in order, however other keys come and go
// between pages.
func testListPagingWhileWriting(t *testing.T, s kv.Store) {
	const n = 200
	var stable []string
	for i := range n {
		k := fmt.Sprintf("k%04d", i*2)
		stable = append(stable, k)
		mustApply(t, s, put("p", k, "v"))
	}
	var got []string
	opts := kv.ListOptions{Limit: 7}
	for page := 0; ; page++ {
		p, err := s.List(ctx, "p", opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range p.Items {
			if it.Key[len(it.Key)-1]%2 == 0 {
				got = append(got, it.Key)
			}
		}
		// Between pages: add keys both sides of the cursor and delete
		// one added before.
		odd := fmt.Sprintf("k%04d", (page*13%n)*2+1)
		mustApply(t, s, put("p", odd, "x"), put("p", fmt.Sprintf("k%04d", (n-1-page%n)*2+1), "y"))
		if page > 0 {
			if _, err := s.Apply(ctx, []kv.Op{del("p", odd)}); err != nil {
				t.Fatal(err)
			}
		}
		if p.Next == "" {
			break
		}
		opts.Start = p.Next
	}
	if !slices.Equal(got, stable) {
		t.Errorf("paged walk saw %d stable keys, want %d, in order", len(got), len(stable))
	}
}

func testBuckets(t *testing.T, s kv.Store) {
	names := []string{"a", "a-b", "a.b", "a0", "ab", "b", "z"}
	for _, b := range names {
		for i := range 3 {
			mustApply(t, s, put(b, fmt.Sprint("k", i), "v"))
		}
	}
	mustApply(t, s, put("deleted", "k", "v"))
	mustApply(t, s, del("deleted", "k"))

	page, err := s.Buckets(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(slices.Values(page.Names))
	if !slices.Equal(got, names) || page.Next != "" {
		t.Fatalf("Buckets = %q next %q, want %q", page.Names, page.Next, names)
	}
	// One at a time, each bucket exactly once, in the same order.
	var paged []string
	start := ""
	for range 20 {
		page, err := s.Buckets(ctx, start, 1)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, page.Names...)
		if page.Next == "" {
			break
		}
		start = page.Next
	}
	if !slices.Equal(paged, page.Names) {
		t.Errorf("paged Buckets = %q, want %q", paged, page.Names)
	}
}

func testWatch(t *testing.T, s kv.Store) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	before := mustApply(t, s, put("w", "x/before", "0"))[0].Version
	all, err := s.Watch(wctx, "w", kv.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	prefixed, err := s.Watch(wctx, "w", kv.WatchOptions{Prefix: "x/"})
	if err != nil {
		t.Fatal(err)
	}
	res := mustApply(t, s, put("w", "x/1", "one"), put("other", "x/1", "elsewhere"), put("w", "y", "why"))
	res2 := mustApply(t, s, del("w", "x/1"))
	want := []kv.Event{
		{Type: kv.EventPut, Bucket: "w", Key: "x/1", Version: res[0].Version, ContentType: "text/plain", Value: []byte("one")},
		{Type: kv.EventPut, Bucket: "w", Key: "y", Version: res[2].Version, ContentType: "text/plain", Value: []byte("why")},
		{Type: kv.EventDelete, Bucket: "w", Key: "x/1", Version: res2[0].Version},
	}
	checkEvents(t, "whole bucket", all, want)
	checkEvents(t, "prefix x/", prefixed, []kv.Event{want[0], want[2]})

	// Resuming after a version replays what came after it.
	resumed, err := s.Watch(wctx, "w", kv.WatchOptions{Since: before})
	if err != nil {
		t.Fatal(err)
	}
	checkEvents(t, "since", resumed, want)

	cancel()
	for range all.Events() {
	}
	if err := all.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("watch after its context ended: Err = %v, want context.Canceled", err)
	}
}

func checkEvents(t *testing.T, name string, w kv.Watcher, want []kv.Event) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for i, ev := range want {
		select {
		case got, ok := <-w.Events():
			if !ok {
				t.Fatalf("%s: watch ended after %d events: %v", name, i, w.Err())
			}
			if got.Type != ev.Type || got.Bucket != ev.Bucket || got.Key != ev.Key || got.Version != ev.Version ||
				got.ContentType != ev.ContentType || !bytes.Equal(got.Value, ev.Value) {
				t.Fatalf("%s: event %d = %+v, want %+v", name, i, got, ev)
			}
		case <-timeout:
			t.Fatalf("%s: event %d did not arrive", name, i)
		}
	}
}

func testGetReserve(t *testing.T, s kv.Store) {
	value := bytes.Repeat([]byte("r"), 4<<10)
	mustApply(t, s, kv.Op{Kind: kv.OpPut, Bucket: "r", Key: "k", Value: value})
	var asked int64
	e, err := s.Get(ctx, "r", "k", func(n int64) error { asked = n; return nil })
	if err != nil || !bytes.Equal(e.Value, value) || asked < int64(len(value)) {
		t.Fatalf("Get with reserve: %d bytes, %v; reserved %d, want at least %d", len(e.Value), err, asked, len(value))
	}
	refuse := errors.New("no room")
	if _, err := s.Get(ctx, "r", "k", func(int64) error { return refuse }); !errors.Is(err, refuse) {
		t.Fatalf("Get with a failing reserve: err = %v, want it", err)
	}
}
