package watch_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/kv"
	"github.com/gokv-service/gokv/internal/watch"
)

// BenchmarkFanOut follows one bucket with many watchers while a
// publisher publishes in committer-sized batches; every watcher checks it
// receives every event, in order. One op is eventsPerOp events published
// and received by every watcher.
func BenchmarkFanOut(b *testing.B) {
	const (
		watchers    = 1000
		eventsPerOp = 4096 // within the default history, so no watcher falls behind
	)
	h := watch.NewHub(0, watch.Options{})
	defer h.Close()
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()

	// Each watcher marks received done at the end of every op; any gap
	// or disorder fails the benchmark.
	var received sync.WaitGroup
	failed := make(chan error, watchers)
	for range watchers {
		w, err := h.Subscribe(ctx, "bucket", kv.WatchOptions{})
		if err != nil {
			b.Fatal(err)
		}
		go follow(w, eventsPerOp, &received, failed)
	}

	value := []byte("value of a typical size, shared by every event and watcher")
	rnd := rand.New(rand.NewPCG(1, 2))
	batch := make([]kv.Event, 16)
	var (
		version   uint64
		batches   int
		ops       int
		publishNs time.Duration
	)
	for b.Loop() {
		received.Add(watchers)
		for sent := 0; sent < eventsPerOp; {
			n := min(1+rnd.IntN(16), eventsPerOp-sent)
			for i := range batch[:n] {
				version++
				batch[i] = kv.Event{Type: kv.EventPut, Bucket: "bucket", Key: "key", Version: version, Value: value}
			}
			start := time.Now()
			h.Publish(batch[:n])
			publishNs += time.Since(start)
			batches++
			sent += n
		}
		received.Wait()
		select {
		case err := <-failed:
			b.Fatal(err)
		default:
		}
		ops++
	}
	elapsed := b.Elapsed().Seconds()
	b.ReportMetric(float64(watchers)*float64(eventsPerOp)*float64(ops)/elapsed, "delivered/s")
	b.ReportMetric(float64(publishNs.Nanoseconds())/float64(batches), "ns/publish")
}

// follow receives w's events, checking that versions run 1, 2, 3, ...,
// and marks received done each time it has a whole op.
func follow(w kv.Watcher, eventsPerOp uint64, received *sync.WaitGroup, failed chan<- error) {
	var next uint64 = 1
	for ev := range w.Events() {
		if ev.Version != next {
			failed <- fmt.Errorf("got version %d, want %d", ev.Version, next)
			received.Done()
			return
		}
		if next%eventsPerOp == 0 {
			received.Done()
		}
		next++
	}
	if err := w.Err(); !errors.Is(err, context.Canceled) && !errors.Is(err, kv.ErrClosed) {
		failed <- fmt.Errorf("watch ended at version %d: %w", next, err)
		received.Done()
	}
}
