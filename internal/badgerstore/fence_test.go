package badgerstore

import (
	"errors"
	"testing"
	"time"
)

// TestPanicFencesTheStore: after a panic inside the engine, every call
// fails with ErrFailed at once, Health reports it and Close does not
// pretend to be clean.
func TestPanicFencesTheStore(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "b", "k", Entry{Value: []byte("v")})
	if err := s.fence.guard("test", func() error { panic("engine bug") }); !errors.Is(err, ErrFailed) {
		t.Fatalf("guard of a panic: err = %v, want ErrFailed", err)
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := s.Get("b", "k"); return err }},
		{"Put", func() error { _, err := s.Put("b", "k", Entry{Value: []byte("w")}); return err }},
		{"Delete", func() error { return s.Delete("b", "k") }},
		{"CollectGarbage", s.CollectGarbage},
		{"Health", s.Health},
		{"Close", s.Close},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); !errors.Is(err, ErrFailed) {
				t.Errorf("err = %v, want ErrFailed", err)
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
		go func() { done <- c.write(&writeOp{key: []byte("k"), rec: []byte("v")}) }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrFailed) {
				t.Errorf("write %d: err = %v, want ErrFailed", i, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("write %d did not return within 5s", i)
		}
	}
}

// TestHealthReportsAStalledWritePath: while the write path is held for
// longer than WriteStallTimeout, Health fails with ErrStalled; once it
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
	for err := s.Health(); !errors.Is(err, ErrStalled); err = s.Health() {
		if time.Now().After(deadline) {
			t.Fatalf("Health = %v after 5s of a held write path, want ErrStalled", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(release)
	mustPut(t, s, "b", "k", Entry{Value: []byte("v")})
	if err := s.Health(); err != nil {
		t.Errorf("Health after a write: %v, want nil", err)
	}
}
