package watch

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gokv-service/gokv/internal/kv"
)

// The history alone bounds a hub's memory, so it must keep within both
// bounds after every Publish, evict only what it has to, oldest first,
// and keep no value of an evicted event.
func TestHistoryBounds(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		maxValue int
	}{
		{"by count", Options{HistoryEvents: 16, HistoryBytes: 1 << 20}, 100},
		{"by bytes", Options{HistoryEvents: 4096, HistoryBytes: 1000}, 100},
		{"by both", Options{HistoryEvents: 20, HistoryBytes: 600}, 100},
		{"values larger than the history", Options{HistoryEvents: 1000, HistoryBytes: 50}, 80},
		{"defaults", Options{}, 4096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const start = 7
			h := NewHub(start, tt.opts)
			defer h.Close()
			rnd := rand.New(rand.NewPCG(1, 2))
			sizes := map[uint64]int{} // value size by version, of everything published
			version := uint64(start)
			for range 1000 {
				batch := make([]kv.Event, 1+rnd.IntN(16))
				for i := range batch {
					version++
					size := rnd.IntN(tt.maxValue + 1)
					batch[i] = kv.Event{Type: kv.EventPut, Bucket: "b", Key: "k", Version: version, Value: make([]byte, size)}
					sizes[version] = size
				}
				h.Publish(batch)
				if err := checkHistory(h, start, version, sizes); err != nil {
					t.Fatalf("after publishing up to version %d: %v", version, err)
				}
			}
		})
	}
}

func checkHistory(h *Hub, start, last uint64, sizes map[uint64]int) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	head, tail := h.head.Load(), h.tail.Load()
	if n := tail - head; n > uint64(h.maxEvents) || len(h.ring) > h.maxEvents {
		return fmt.Errorf("%d events retained in a ring of %d, bound %d", n, len(h.ring), h.maxEvents)
	}
	if h.bytes > h.maxBytes {
		return fmt.Errorf("%d value bytes retained, bound %d", h.bytes, h.maxBytes)
	}
	// Retained: exactly the versions after floor, in order, each in
	// its slot.
	var bytes int64
	for seq := head; seq < tail; seq++ {
		e := h.slot(seq).Load()
		if e == nil || e.seq != seq {
			return fmt.Errorf("slot of retained event %d holds %+v", seq, e)
		}
		if want := h.floor + seq - head + 1; e.ev.Version != want {
			return fmt.Errorf("event %d of the history has version %d, want %d (floor %d)", seq, e.ev.Version, want, h.floor)
		}
		bytes += int64(len(e.ev.Value))
	}
	if h.floor+tail-head != last || h.last != last {
		return fmt.Errorf("history reaches %d, last %d, want %d", h.floor+tail-head, h.last, last)
	}
	if bytes != h.bytes {
		return fmt.Errorf("retained values hold %d bytes, accounted %d", bytes, h.bytes)
	}
	// Evicted only when needed: the newest evicted event would not fit
	// next to what is retained.
	if h.floor > start {
		size := int64(sizes[h.floor])
		if tail-head+1 <= uint64(h.maxEvents) && h.bytes+size <= h.maxBytes {
			return fmt.Errorf("version %d (%d bytes) was evicted though it fits next to %d events of %d bytes",
				h.floor, size, tail-head, h.bytes)
		}
	}
	// The other slots hold nothing: no evicted value stays reachable.
	for seq := tail; seq < head+uint64(len(h.ring)); seq++ {
		if e := h.slot(seq).Load(); e != nil {
			return fmt.Errorf("free slot %d still holds version %d", seq%uint64(len(h.ring)), e.ev.Version)
		}
	}
	return nil
}
