package etcdstore_test

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/gokv-service/gokv/internal/etcdstore"
	"github.com/gokv-service/gokv/internal/etcdstore/etcdtest"
)

// shared is one 3-member cluster for every test of the package that does
// not stop members: starting one takes seconds, and stores on it are
// kept apart by a prefix each.
var shared *etcdtest.Cluster

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "etcdstore-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shared, err = etcdtest.Launch(dir, 3, etcdtest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start the shared etcd cluster:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	shared.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

var prefixes atomic.Int64

// openStore opens a store on c under a prefix no other store of the test
// run uses, closed when the test ends.
func openStore(t testing.TB, c *etcdtest.Cluster, opts etcdstore.Options) *etcdstore.Store {
	t.Helper()
	opts.Endpoints = c.Endpoints()
	if opts.Prefix == "" {
		opts.Prefix = fmt.Sprintf("/test/%d/", prefixes.Add(1))
	}
	s, err := etcdstore.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}
