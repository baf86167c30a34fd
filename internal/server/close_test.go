package server

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/badgerstore"
)

// TestCloseStoreIsBounded: a value-log GC that never returns (as when the
// engine waits on a lock it leaked) cannot hold the shutdown past its
// limit, and that is an error, not a clean exit.
func TestCloseStoreIsBounded(t *testing.T) {
	tests := []struct {
		name    string
		gcStuck bool
		wantErr error
	}{
		{"clean", false, nil},
		{"gc never returns", true, errCloseTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, err := badgerstore.Open(t.TempDir(), badgerstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			stuck := make(chan struct{})
			t.Cleanup(func() { close(stuck) })
			var gcDone sync.WaitGroup
			gcDone.Go(func() {
				if tt.gcStuck {
					<-stuck
				}
			})
			const limit = 500 * time.Millisecond
			start := time.Now()
			err = (&Server{store: store}).closeStore(func() {}, &gcDone, limit)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("closeStore: err = %v, want %v", err, tt.wantErr)
			}
			if took := time.Since(start); took > limit+time.Second {
				t.Errorf("closeStore took %s with a limit of %s", took, limit)
			}
		})
	}
}
