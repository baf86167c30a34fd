package kvtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/kv"
)

// backupAll returns every record of a backup of s, sorted, and its version.
func backupAll(t *testing.T, s kv.Store) ([]kv.Record, uint64) {
	t.Helper()
	var recs []kv.Record
	version, err := s.Backup(ctx, func(r kv.Record) error {
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	slices.SortFunc(recs, func(a, b kv.Record) int {
		return strings.Compare(a.Bucket+"\x00"+a.Key, b.Bucket+"\x00"+b.Key)
	})
	return recs, version
}

// from returns a Restore's next that yields recs, then io.EOF.
func from(recs []kv.Record) func() (kv.Record, error) {
	return func() (kv.Record, error) {
		if len(recs) == 0 {
			return kv.Record{}, io.EOF
		}
		r := recs[0]
		recs = recs[1:]
		return r, nil
	}
}

func sameRecord(a, b kv.Record) bool {
	return a.Bucket == b.Bucket && a.Key == b.Key && a.ContentType == b.ContentType &&
		a.ExpiresAt.Equal(b.ExpiresAt) && bytes.Equal(a.Value, b.Value)
}

// testBackupRestore: a backup restored into a fresh store gives back every
// entry with its content type, expiry and value.
func testBackupRestore(t *testing.T, s, fresh kv.Store) {
	var ops []kv.Op
	for i := range 300 {
		op := kv.Op{Kind: kv.OpPut, Bucket: fmt.Sprint("b", i%3), Key: fmt.Sprintf("k/%03d", i),
			Value: []byte(strings.Repeat(valueOf(i), i%7)), ContentType: fmt.Sprint("application/x-", i%5)}
		if i%4 == 0 {
			op.TTL = time.Hour
		}
		ops = append(ops, op)
		if len(ops) == kv.MaxOps {
			mustApply(t, s, ops...)
			ops = nil
		}
	}
	mustApply(t, s, ops...)
	// A large value, and a key that is deleted: it must not come back.
	mustApply(t, s, kv.Op{Kind: kv.OpPut, Bucket: "big", Key: "v", Value: bytes.Repeat([]byte("x"), 100<<10)}, put("b0", "gone", "x"))
	last := mustApply(t, s, del("b0", "gone"))[0].Version

	recs, version := backupAll(t, s)
	if len(recs) != 301 {
		t.Fatalf("backup holds %d records, want 301", len(recs))
	}
	if version < last {
		t.Errorf("backup version %d is before the last write's %d", version, last)
	}
	n, err := fresh.Restore(ctx, false, from(recs))
	if err != nil || n != len(recs) {
		t.Fatalf("Restore = %d, %v; want %d, nil", n, err, len(recs))
	}
	got, _ := backupAll(t, fresh)
	if len(got) != len(recs) {
		t.Fatalf("restored store holds %d records, want %d", len(got), len(recs))
	}
	for i := range recs {
		if !sameRecord(got[i], recs[i]) {
			t.Fatalf("restored record %d = %+v, want %+v", i, got[i], recs[i])
		}
	}
	// What readers see, not only what a backup sees.
	e, err := fresh.Get(ctx, "b0", "k/000", nil)
	if err != nil || e.ContentType != "application/x-0" || e.ExpiresAt.IsZero() || e.Version == 0 {
		t.Fatalf("Get of a restored key with a TTL = %+v, %v", e, err)
	}
	wantAbsent(t, fresh, "b0", "gone")
	// Writes after a restore get versions greater than the restored ones.
	v := mustApply(t, fresh, put("b0", "after", "x"))[0].Version
	if v <= e.Version {
		t.Errorf("write after restore has version %d, not after a restored %d", v, e.Version)
	}
}

// testRestoreIntoNonEmpty: without replace a store holding an entry is
// refused and left as it was.
func testRestoreIntoNonEmpty(t *testing.T, s kv.Store) {
	mustApply(t, s, put("b", "mine", "1"))
	_, err := s.Restore(ctx, false, from([]kv.Record{{Bucket: "b", Key: "theirs", Value: []byte("2")}, {Bucket: "b", Key: "mine", Value: []byte("2")}}))
	if !errors.Is(err, kv.ErrNotEmpty) {
		t.Fatalf("Restore into a non-empty store: err = %v, want kv.ErrNotEmpty", err)
	}
	wantValue(t, s, "b", "mine", "1")
	wantAbsent(t, s, "b", "theirs")
}

// testRestoreReplace: with replace the store ends up holding exactly the
// backup.
func testRestoreReplace(t *testing.T, s kv.Store) {
	mustApply(t, s, put("b", "only-here", "1"), put("b", "both", "old"), put("c", "x", "y"))
	n, err := s.Restore(ctx, true, from([]kv.Record{{Bucket: "b", Key: "both", ContentType: "text/plain", Value: []byte("new")}, {Bucket: "d", Key: "k", Value: []byte("v")}}))
	if err != nil || n != 2 {
		t.Fatalf("Restore with replace = %d, %v; want 2, nil", n, err)
	}
	wantAbsent(t, s, "b", "only-here")
	wantAbsent(t, s, "c", "x")
	wantValue(t, s, "b", "both", "new")
	wantValue(t, s, "d", "k", "v")
	// A replace with an empty backup empties the store.
	if _, err := s.Restore(ctx, true, from(nil)); err != nil {
		t.Fatal(err)
	}
	if recs, _ := backupAll(t, s); len(recs) != 0 {
		t.Fatalf("after restoring an empty backup the store holds %d entries", len(recs))
	}
}

// testRestoreSkipsAndValidates: an expired record is skipped; a record no
// Apply would take fails the restore with the reason.
func testRestoreSkipsAndValidates(t *testing.T, s kv.Store) {
	n, err := s.Restore(ctx, false, from([]kv.Record{
		{Bucket: "b", Key: "live", Value: []byte("1"), ExpiresAt: time.Now().Add(time.Hour)},
		{Bucket: "b", Key: "expired", Value: []byte("1"), ExpiresAt: time.Now().Add(-time.Second)},
	}))
	if err != nil || n != 1 {
		t.Fatalf("Restore = %d, %v; want 1 (the expired record skipped)", n, err)
	}
	wantAbsent(t, s, "b", "expired")
	wantValue(t, s, "b", "live", "1")

	for _, tt := range []struct {
		name string
		rec  kv.Record
		want error
	}{
		{"bad bucket", kv.Record{Bucket: "_x", Key: "k"}, kv.ErrInvalidBucket},
		{"bad key", kv.Record{Bucket: "b", Key: "a/../b"}, kv.ErrInvalidKey},
		{"bad content type", kv.Record{Bucket: "b", Key: "k", ContentType: strings.Repeat("x", kv.MaxContentTypeLen+1)}, kv.ErrInvalidContentType},
	} {
		if _, err := s.Restore(ctx, true, from([]kv.Record{tt.rec})); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	// next's own error ends the restore with it.
	boom := errors.New("boom")
	if _, err := s.Restore(ctx, true, func() (kv.Record, error) { return kv.Record{}, boom }); !errors.Is(err, boom) {
		t.Errorf("Restore with a failing next: err = %v, want it", err)
	}
}

// testRestoreEndsWatches: a restore rewrites history, so every watch ends
// with kv.ErrHistoryGone and none resumes from before it.
func testRestoreEndsWatches(t *testing.T, s kv.Store) {
	before := mustApply(t, s, put("w", "k", "1"))[0].Version
	w, err := s.Watch(ctx, "w", kv.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Restore(ctx, true, from([]kv.Record{{Bucket: "w", Key: "k", Value: []byte("2")}})); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for done := false; !done; {
		select {
		case ev, ok := <-w.Events():
			if ok {
				t.Fatalf("watch received %+v from a restore", ev)
			}
			done = true
		case <-timeout:
			t.Fatal("watch did not end after a restore")
		}
	}
	if err := w.Err(); !errors.Is(err, kv.ErrHistoryGone) {
		t.Errorf("watch after a restore: Err = %v, want kv.ErrHistoryGone", err)
	}
	if _, err := s.Watch(ctx, "w", kv.WatchOptions{Since: before}); !errors.Is(err, kv.ErrHistoryGone) {
		t.Errorf("watch since a version before the restore: err = %v, want kv.ErrHistoryGone", err)
	}
	// Watches started afterwards see writes as usual.
	w2, err := s.Watch(ctx, "w", kv.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res := mustApply(t, s, put("w", "k", "3"))
	checkEvents(t, "after restore", w2, []kv.Event{{Type: kv.EventPut, Bucket: "w", Key: "k", Version: res[0].Version, ContentType: "text/plain", Value: []byte("3")}})
}

// testBackupIsConsistent: writers each put a pair of keys with one value
// in one Apply; a backup taken while they run holds every pair whole and
// equal, and restores so.
func testBackupIsConsistent(t *testing.T, s, fresh kv.Store) {
	const writers = 4
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var rounds atomic.Int64
	warm := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; wctx.Err() == nil; i++ {
				v := fmt.Sprint(w, "-", i)
				key := fmt.Sprint("pair", w, "-", i%50)
				ops := []kv.Op{put("p", key+"/a", v), put("p", key+"/b", v)}
				if i%3 == 2 {
					ops = []kv.Op{del("p", key+"/a"), del("p", key+"/b")}
				}
				if _, err := s.Apply(wctx, ops); err != nil && wctx.Err() == nil && !errors.Is(err, kv.ErrNotFound) {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				if rounds.Add(1) == 200 {
					close(warm)
				}
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()
	// Let the writers get going, then back up a few times while they run.
	<-warm
	var last []kv.Record
	for range 20 {
		recs, _ := backupAll(t, s)
		checkPairs(t, recs)
		last = recs
	}
	cancel()
	wg.Wait()
	if _, err := fresh.Restore(ctx, false, from(last)); err != nil {
		t.Fatal(err)
	}
	restored, _ := backupAll(t, fresh)
	checkPairs(t, restored)
	if len(restored) != len(last) {
		t.Fatalf("restored %d records of %d", len(restored), len(last))
	}
}

// checkPairs fails unless recs, sorted, hold every pair's a and b with
// one value.
func checkPairs(t *testing.T, recs []kv.Record) {
	t.Helper()
	if len(recs)%2 != 0 {
		t.Fatalf("backup of pairs holds %d records", len(recs))
	}
	for i := 0; i < len(recs); i += 2 {
		a, b := recs[i], recs[i+1]
		if strings.TrimSuffix(a.Key, "/a") != strings.TrimSuffix(b.Key, "/b") || !bytes.Equal(a.Value, b.Value) {
			t.Fatalf("backup taken under writes holds %s=%q beside %s=%q: not one moment", a.Key, a.Value, b.Key, b.Value)
		}
	}
}
