package badgerstore_test

import (
	"testing"

	"github.com/gokv-service/gokv/internal/badgerstore"
	"github.com/gokv-service/gokv/internal/kv"
	"github.com/gokv-service/gokv/internal/kv/kvtest"
)

// TestConformance runs the storage seam's conformance suite on Badger on
// disk.
func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Store {
		s, err := badgerstore.Open(t.TempDir(), badgerstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
