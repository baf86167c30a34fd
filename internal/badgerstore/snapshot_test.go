package badgerstore

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gokv-service/gokv/internal/kv"
)

// TestReadsSeeAcknowledgedWrites checks that shared read snapshots
// (snapshot.go) never hide a write that was acknowledged before the read
// started: a writer walks one key through puts and deletes while readers
// check every answer against the steps acknowledged before and after it.
func TestReadsSeeAcknowledgedWrites(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	const (
		steps   = 300
		readers = 4
	)
	// Step i puts the value i, except every third, which deletes.
	isDelete := func(i int64) bool { return i%3 == 0 }
	var acked atomic.Int64 // the last step acknowledged; 0: nothing yet
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		defer done.Store(true)
		for i := int64(1); i <= steps; i++ {
			var err error
			if isDelete(i) {
				err = s.Delete("b", "k")
			} else {
				_, err = s.Put("b", "k", Entry{Value: []byte(strconv.FormatInt(i, 10))})
			}
			if err != nil {
				t.Errorf("step %d: %v", i, err)
				return
			}
			acked.Store(i)
		}
	})
	for range readers {
		wg.Go(func() {
			for {
				if done.Load() {
					return
				}
				before := acked.Load()
				e, err := s.get("b", "k")
				// The step in flight may be committed but not yet
				// acknowledged, so it may be seen too.
				after := acked.Load() + 1
				switch {
				case errors.Is(err, kv.ErrNotFound):
					deleted := false
					for i := before; i <= after; i++ {
						deleted = deleted || isDelete(i)
					}
					if !deleted {
						t.Errorf("Get after step %d was acknowledged: not found, but no step in %d..%d deletes", before, before, after)
						return
					}
				case err != nil:
					t.Errorf("Get: %v", err)
					return
				default:
					v, _ := strconv.ParseInt(string(e.Value), 10, 64)
					if v < before || v > after || isDelete(v) {
						t.Errorf("Get after step %d was acknowledged: value %q, want a put of steps %d..%d", before, e.Value, before, after)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}
