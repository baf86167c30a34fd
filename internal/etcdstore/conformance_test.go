package etcdstore_test

import (
	"testing"

	"github.com/gokv-service/gokv/internal/etcdstore"
	"github.com/gokv-service/gokv/internal/kv"
	"github.com/gokv-service/gokv/internal/kv/kvtest"
)

// TestConformance runs the storage seam's conformance suite on a real
// 3-member etcd cluster, each store under a prefix of its own.
func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Store {
		return openStore(t, shared, etcdstore.Options{})
	})
}
