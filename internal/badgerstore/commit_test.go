package badgerstore

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/kv"
)

// TestWritesQueuedBehindACommitGoOutTogether holds the leader slot, as a
// commit waiting for its fsync does, and checks that the writes arriving
// meanwhile are committed as one batch with the right per-op outcomes.
func TestWritesQueuedBehindACommitGoOutTogether(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	mustPut(t, s, "b", "old", Entry{Value: []byte("v")})
	c := s.writes
	c.leader <- struct{}{} // a commit in progress

	type outcome struct {
		name    string
		created bool
		err     error
	}
	results := make(chan outcome, 4)
	var wg sync.WaitGroup
	wg.Go(func() {
		created, err := s.Put("b", "new", Entry{Value: []byte("1")})
		results <- outcome{"put new", created, err}
	})
	wg.Go(func() {
		created, err := s.Put("b", "old", Entry{Value: []byte("2")})
		results <- outcome{"put old", created, err}
	})
	wg.Go(func() { results <- outcome{"delete missing", false, s.Delete("b", "missing")} })
	wg.Go(func() { results <- outcome{"delete old", false, s.Delete("b", "gone")} })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		n := len(c.queue)
		c.mu.Unlock()
		if n == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want 4", n)
		}
		time.Sleep(time.Millisecond)
	}
	batch := c.take()
	if len(batch) != 4 {
		t.Fatalf("take() = %d ops, want the 4 queued", len(batch))
	}
	c.commit(batch)
	<-c.leader
	wg.Wait()
	close(results)
	want := map[string]outcome{
		"put new":        {created: true},
		"put old":        {created: false},
		"delete missing": {err: kv.ErrNotFound},
		"delete old":     {err: kv.ErrNotFound},
	}
	for got := range results {
		w := want[got.name]
		if got.created != w.created || !errors.Is(got.err, w.err) || (w.err == nil) != (got.err == nil) {
			t.Errorf("%s: created %v, err %v; want %v, %v", got.name, got.created, got.err, w.created, w.err)
		}
	}
	if e, err := s.get("b", "old"); err != nil || string(e.Value) != "2" {
		t.Errorf("old = %q, %v after the batch", e.Value, err)
	}
}

// TestBatchesAreBounded: a queue longer than one batch allows is taken in
// several.
func TestBatchesAreBounded(t *testing.T) {
	c := newCommitter(nil, nil, &fence{}, &snapshots{})
	big := 200 << 10
	for i := range maxBatchOps + 10 {
		op := &writeOp{size: len(fmt.Sprint(i))}
		if i < 3 {
			op.size += big
		}
		c.queue = append(c.queue, op)
	}
	if n := len(c.take()); n != 2 {
		t.Errorf("first batch: %d ops, want 2 (bytes bound)", n)
	}
	if n := len(c.take()); n != maxBatchOps {
		t.Errorf("second batch: %d ops, want %d (count bound)", n, maxBatchOps)
	}
	if n := len(c.take()); n != 8 {
		t.Errorf("third batch: %d ops, want the 8 left", n)
	}
}

func TestFullDiskRefusesNewData(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	mustPut(t, s, "b", "k1", Entry{Value: []byte("v1")})
	mustPut(t, s, "b", "k2", Entry{Value: []byte("v2")})
	var free uint64
	s.writes.space = &spaceGuard{dir: "test", minFree: 1000, free: func(string) (uint64, error) { return free, nil }}

	free = 999
	if _, err := s.Put("b", "k3", Entry{Value: []byte("v3")}); !errors.Is(err, kv.ErrNoSpace) {
		t.Errorf("Put below the reserve: %v, want kv.ErrNoSpace", err)
	}
	if e, err := s.get("b", "k1"); err != nil || string(e.Value) != "v1" {
		t.Errorf("Get below the reserve: %q, %v", e.Value, err)
	}
	if err := s.Delete("b", "k1"); err != nil {
		t.Errorf("Delete below the reserve but above a quarter of it: %v", err)
	}
	free = 249
	if err := s.Delete("b", "k2"); !errors.Is(err, kv.ErrNoSpace) {
		t.Errorf("Delete below a quarter of the reserve: %v, want kv.ErrNoSpace", err)
	}
	free = 1000
	if _, err := s.Put("b", "k3", Entry{Value: []byte("v3")}); err != nil {
		t.Errorf("Put once space is back: %v", err)
	}
}
