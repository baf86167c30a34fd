package badgerstore_test

import (
	"fmt"
	"testing"

	"github.com/gokv-service/gokv/internal/badgerstore"
	"github.com/gokv-service/gokv/internal/kv"
	"github.com/gokv-service/gokv/internal/kv/kvtest"
)

// TestConformance runs the storage seam's conformance suite on Badger on
// disk, with acknowledgements after a sync (durable.go) and without.
func TestConformance(t *testing.T) {
	for _, sync := range []bool{false, true} {
		t.Run(fmt.Sprintf("SyncWrites=%t", sync), func(t *testing.T) {
			kvtest.Run(t, func(t *testing.T) kv.Store {
				s, err := badgerstore.Open(t.TempDir(), badgerstore.Options{SyncWrites: sync})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			})
		})
	}
}
