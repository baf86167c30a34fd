package badgerstore

import (
	"errors"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/kv"
)

// TestPanicFencesTheStore: after a panic inside the engine, every call
// fails with kv.ErrFailed at once, Health reports it and Close does not
// pretend to be clean.
func TestPanicFencesTheStore(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "b", "k", Entry{Value: []byte("v")})
	if err := s.fence.guard("test", func() error { panic("engine bug") }); !errors.Is(err, kv.ErrFailed) {
		t.Fatalf("guard of a panic: err = %v, want kv.ErrFailed", err)
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := s.get("b", "k"); return err }},
		{"Put", func() error { _, err := s.Put("b", "k", Entry{Value: []byte("w")}); return err }},
		{"Delete", func() error { return s.Delete("b", "k") }},
		{"CollectGarbage", s.CollectGarbage},
		{"Health", s.Health},
		{"Close", s.Close},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); !errors.Is(err, kv.ErrFailed) {
				t.Errorf("err = %v, want kv.ErrFailed", err)
			}
		})
	}
}

// TestPanicInCommitReleasesWriters: a panic while a batch commits fails
// that batch and every later write instead of leaving the leader slot
// taken, where each later writer would wait forever. (A committer without
// a database panics on its first commit.)
func TestPanicInCommitReleasesWriters(t *testing.T) {
	c := newCommitter(nil, nil, &fence{}, &snapshots{})
	for i := range 2 {
		done := make(chan error, 1)
		go func() {
			done <- c.write(&writeOp{ops: []kv.Op{{Kind: kv.OpPut, Bucket: "b", Key: "k"}}, keys: [][]byte{[]byte("b:k")}})
		}()
		select {
		case err := <-done:
			if !errors.Is(err, kv.ErrFailed) {
				t.Errorf("write %d: err = %v, want kv.ErrFailed", i, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("write %d did not return within 5s", i)
		}
	}
}

// TestHealthReportsAStalledWritePath: while the write path is held for
// longer than WriteStallTimeout, Health fails with kv.ErrStalled; once it
// moves again, Health is fine.
func TestHealthReportsAStalledWritePath(t *testing.T) {
	s, err := Open(t.TempDir(), Options{WriteStallTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	release, held := make(chan struct{}), make(chan struct{})
	go s.writes.exclusive(func() error {
		close(held)
		<-release
		return nil
	})
	<-held
	if err := s.Health(); err != nil {
		t.Errorf("Health at once: %v, want nil", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for err := s.Health(); !errors.Is(err, kv.ErrStalled); err = s.Health() {
		if time.Now().After(deadline) {
			t.Fatalf("Health = %v after 5s of a held write path, want kv.ErrStalled", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(release)
	mustPut(t, s, "b", "k", Entry{Value: []byte("v")})
	if err := s.Health(); err != nil {
		t.Errorf("Health after a write: %v, want nil", err)
	}
}
