package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gokv-service/gokv/internal/apitest"
	"github.com/gokv-service/gokv/internal/kv"
)

// failingStore fails every read and write with err.
type failingStore struct {
	kv.Store
	err error
}

func (s failingStore) Get(context.Context, string, string, func(int64) error) (kv.Entry, error) {
	return kv.Entry{}, s.err
}

func (s failingStore) Apply(context.Context, []kv.Op) ([]kv.Result, error) { return nil, s.err }

// TestUnavailableStore: a store without quorum answers 503 with
// Retry-After, never 500, for reads and writes alike; an Apply too large
// for the backend is 413.
func TestUnavailableStore(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		status     int
		retryAfter bool
	}{
		{"no quorum", fmt.Errorf("etcd get: %w: etcdserver: no leader", kv.ErrUnavailable), http.StatusServiceUnavailable, true},
		{"too large", fmt.Errorf("etcd apply: %w", kv.ErrTooLarge), http.StatusRequestEntityTooLarge, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := &testServer{apitest.StartWith(t, apitest.Config{Wrap: func(s kv.Store) kv.Store { return failingStore{s, tt.err} }})}
			for _, method := range []string{http.MethodGet, http.MethodPut} {
				r := ts.request(t, method, "/b/k", strings.NewReader("v"), nil)
				r.wantStatus(t, tt.status, method)
				if got := r.header.Get("Retry-After") != ""; got != tt.retryAfter {
					t.Errorf("%s: Retry-After %q", method, r.header.Get("Retry-After"))
				}
			}
		})
	}
}
