package lincheck_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/apitest"
	"github.com/gokv-service/gokv/internal/kv"
	"github.com/gokv-service/gokv/internal/lincheck"
)

// op is one operation of a hand-written history: client, what it did,
// and when it was called and returned.
type op struct {
	client    int
	in        lincheck.Input
	out       lincheck.Output
	call, ret int64
}

func put(key, value string, outcome lincheck.Outcome) op {
	return op{in: lincheck.Input{Kind: lincheck.Put, Key: key, Value: value}, out: lincheck.Output{Outcome: outcome}}
}

func cas(key, from, to string, outcome lincheck.Outcome) op {
	return op{in: lincheck.Input{Kind: lincheck.CAS, Key: key, From: from, Value: to}, out: lincheck.Output{Outcome: outcome}}
}

func get(key, value string) op {
	return op{in: lincheck.Input{Kind: lincheck.Get, Key: key}, out: lincheck.Output{Outcome: lincheck.OK, Value: value}}
}

// at is o done by client from call to ret.
func at(client int, call, ret int64, o op) op {
	o.client, o.call, o.ret = client, call, ret
	return o
}

// TestModel: histories a correct store can produce pass, and each kind
// of fault the fault tests look for (a stale read, a lost update, a
// write that vanished, a refusal without cause) fails.
func TestModel(t *testing.T) {
	tests := []struct {
		name string
		ops  []op
		ok   bool
	}{
		{"sequential", []op{
			at(0, 0, 1, put("a", "x", lincheck.OK)),
			at(0, 2, 3, get("a", "x")),
			at(0, 4, 5, cas("a", "x", "y", lincheck.OK)),
			at(0, 6, 7, get("a", "y")),
		}, true},
		{"read of an absent key", []op{at(0, 0, 1, get("a", ""))}, true},
		{"a read concurrent with a write sees either value", []op{
			at(0, 0, 1, put("a", "x", lincheck.OK)),
			at(0, 2, 6, put("a", "y", lincheck.OK)),
			at(1, 3, 4, get("a", "x")),
			at(2, 3, 5, get("a", "y")),
		}, true},
		{"stale read", []op{
			at(0, 0, 1, put("a", "x", lincheck.OK)),
			at(0, 2, 3, put("a", "y", lincheck.OK)),
			at(1, 4, 5, get("a", "x")),
		}, false},
		{"read of a value nobody wrote", []op{at(0, 0, 1, get("a", "z"))}, false},
		{"acknowledged write that vanished", []op{
			at(0, 0, 1, put("a", "x", lincheck.OK)),
			at(1, 2, 3, get("a", "")),
		}, false},
		{"lost update: two increments from the same value both acknowledged", []op{
			at(0, 0, 2, cas("c", "", "1", lincheck.OK)),
			at(1, 1, 3, cas("c", "", "1", lincheck.OK)),
		}, false},
		{"one of two racing increments refused", []op{
			at(0, 0, 2, cas("c", "", "1", lincheck.OK)),
			at(1, 1, 3, cas("c", "", "1", lincheck.Refused)),
			at(1, 4, 5, get("c", "1")),
		}, true},
		{"refused although the value had not changed", []op{
			at(0, 0, 1, put("c", "1", lincheck.OK)),
			at(0, 2, 3, cas("c", "1", "2", lincheck.Refused)),
		}, false},
		{"write of unknown outcome seen later", []op{
			at(0, 0, 1, put("a", "x", lincheck.Unknown)),
			at(1, 5, 6, get("a", "x")),
		}, true},
		{"write of unknown outcome never seen", []op{
			at(0, 0, 1, put("a", "x", lincheck.Unknown)),
			at(1, 5, 6, get("a", "")),
		}, true},
		{"increment of unknown outcome applied long after it was sent", []op{
			at(0, 0, 1, cas("c", "", "1", lincheck.Unknown)),
			at(1, 2, 3, get("c", "")),
			at(1, 4, 5, get("c", "1")),
		}, true},
		{"write of unknown outcome cannot be undone", []op{
			at(0, 0, 1, put("a", "x", lincheck.Unknown)),
			at(1, 2, 3, get("a", "x")),
			at(1, 4, 5, get("a", "")),
		}, false},
		{"keys are independent", []op{
			at(0, 0, 1, put("a", "x", lincheck.OK)),
			at(0, 2, 3, get("b", "")),
			at(0, 4, 5, get("a", "x")),
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := lincheck.NewHistory()
			for _, o := range tt.ops {
				h.Add(o.client, o.in, o.call, o.out, o.ret)
			}
			err := h.Check(10*time.Second, t.TempDir())
			if tt.ok && err != nil {
				t.Errorf("Check: %v, want linearizable", err)
			}
			if !tt.ok && !errors.Is(err, lincheck.ErrNotLinearizable) {
				t.Errorf("Check: %v, want %v", err, lincheck.ErrNotLinearizable)
			}
		})
	}
}

// TestWorkloadFindsFaults runs the workload against the real HTTP stack
// on a Badger store that is correct, that forgets some acknowledged
// writes, or that serves some reads from a stale copy: Verify passes
// only the first. This is the mutation check of the harness itself.
func TestWorkloadFindsFaults(t *testing.T) {
	tests := []struct {
		name    string
		wrap    func(kv.Store) kv.Store
		wantErr string
	}{
		{"correct store", nil, ""},
		{"acknowledged writes dropped", func(s kv.Store) kv.Store { return &droppingStore{Store: s} }, "acknowledged writes lost"},
		{"stale reads", func(s kv.Store) kv.Store { return &staleStore{Store: s, seen: map[string]kv.Entry{}} }, "not linearizable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := apitest.StartWith(t, apitest.Config{Wrap: tt.wrap, NoMetrics: true})
			w := lincheck.Workload{
				Targets:  []string{srv.URL},
				Token:    srv.Token,
				Bucket:   "lin",
				Clients:  6,
				Counters: 2,
				Timeout:  5 * time.Second,
				// The failures are expected: no picture to keep.
				VisualizeDir: t.TempDir(),
			}
			run := w.Start(context.Background())
			time.Sleep(time.Second)
			run.Stop()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			rep, err := run.Verify(ctx, srv.URL, 30*time.Second)
			t.Log(rep)
			if rep.AckedWrites == 0 {
				t.Fatal("no write was acknowledged: the run proves nothing")
			}
			if tt.wantErr == "" && err != nil {
				t.Errorf("Verify: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Verify: %v, want an error saying %q", err, tt.wantErr)
			}
		})
	}
}

// droppingStore acknowledges every tenth unconditional put without
// writing it.
type droppingStore struct {
	kv.Store
	mu sync.Mutex
	n  int
}

func (s *droppingStore) Apply(ctx context.Context, ops []kv.Op) ([]kv.Result, error) {
	if len(ops) == 1 && ops[0].Kind == kv.OpPut && ops[0].Cond == (kv.Condition{}) {
		s.mu.Lock()
		s.n++
		drop := s.n%10 == 0
		s.mu.Unlock()
		if drop {
			return []kv.Result{{Version: 1, Created: true}}, nil
		}
	}
	return s.Store.Apply(ctx, ops)
}

// staleStore answers every third read of a key it has read before with
// the entry it read first.
type staleStore struct {
	kv.Store
	mu   sync.Mutex
	n    int
	seen map[string]kv.Entry
}

func (s *staleStore) Get(ctx context.Context, bucket, key string, reserve func(int64) error) (kv.Entry, error) {
	s.mu.Lock()
	s.n++
	old, ok := s.seen[key]
	stale := ok && s.n%3 == 0
	s.mu.Unlock()
	if stale {
		return old, nil
	}
	e, err := s.Store.Get(ctx, bucket, key, reserve)
	if err == nil {
		s.mu.Lock()
		if _, ok := s.seen[key]; !ok {
			s.seen[key] = e
		}
		s.mu.Unlock()
	}
	return e, err
}
