package budget

import (
	"context"
	"errors"
	"runtime"
	"testing"
)

func TestAcquire(t *testing.T) {
	tests := []struct {
		name    string
		held    int64 // already reserved
		n       int64
		wantErr error
	}{
		{"fits", 0, 10, nil},
		{"fills it exactly", 6, 4, nil},
		{"zero", 10, 0, nil},
		{"no room", 6, 5, ErrBusy},
		{"larger than the budget", 0, 11, ErrBusy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(10)
			if err := b.Acquire(context.Background(), tt.held); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // no waiting: only what fits now is granted
			err := b.Acquire(ctx, tt.n)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Acquire(%d) with %d held = %v, want %v", tt.n, tt.held, err, tt.wantErr)
			}
			if err == nil {
				b.Release(tt.n)
			}
			b.Release(tt.held)
			if err := b.Acquire(ctx, 10); err != nil {
				t.Errorf("after releasing everything, Acquire(10) = %v", err)
			}
		})
	}
}

// TestWaitersInOrder: a large waiter is served before a small one that
// came later, even when the small one would fit first.
func TestWaitersInOrder(t *testing.T) {
	b := New(10)
	ctx := context.Background()
	if err := b.Acquire(ctx, 8); err != nil {
		t.Fatal(err)
	}
	large, small := make(chan error), make(chan error)
	go func() { large <- b.Acquire(ctx, 6) }()
	waitQueued(t, b, 1)
	go func() { small <- b.Acquire(ctx, 2) }()
	waitQueued(t, b, 2)

	b.Release(8)
	if err := <-large; err != nil {
		t.Fatalf("large waiter: %v", err)
	}
	if err := <-small; err != nil {
		t.Fatalf("small waiter: %v", err)
	}
	b.Release(8)
	if b.used != 0 {
		t.Errorf("used = %d after releasing everything", b.used)
	}
}

// TestCancelledWaiterLetsOthersIn: a waiter that gives up reserves
// nothing and no longer blocks those behind it.
func TestCancelledWaiterLetsOthersIn(t *testing.T) {
	b := New(10)
	if err := b.Acquire(context.Background(), 5); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	large, small := make(chan error), make(chan error)
	go func() { large <- b.Acquire(ctx, 10) }()
	waitQueued(t, b, 1)
	go func() { small <- b.Acquire(context.Background(), 5) }()
	waitQueued(t, b, 2)

	cancel()
	if err := <-large; !errors.Is(err, ErrBusy) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v, want ErrBusy and context.Canceled", err)
	}
	if err := <-small; err != nil {
		t.Fatalf("waiter behind the cancelled one: %v", err)
	}
	b.Release(10)
	if b.used != 0 {
		t.Errorf("used = %d after releasing everything", b.used)
	}
}

func TestReleaseTooMuchPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("releasing more than was acquired did not panic")
		}
	}()
	New(10).Release(1)
}

// waitQueued waits until n callers wait in b.
func waitQueued(t testing.TB, b *Budget, n int) {
	t.Helper()
	for {
		b.mu.Lock()
		queued := b.waiters.Len()
		b.mu.Unlock()
		if queued == n {
			return
		}
		if queued > n {
			t.Fatalf("%d waiters, want %d", queued, n)
		}
		runtime.Gosched()
	}
}
