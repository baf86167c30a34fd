package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsCoverEveryValue(t *testing.T) {
	prev := -1
	for _, d := range []time.Duration{0, 1, 127, 128, 129, 255, 256, 1000, time.Microsecond, time.Millisecond, time.Second, time.Minute} {
		b := bucketOf(d)
		if b < prev || b >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d: not monotonic or out of range", d, b)
		}
		prev = b
		if mid := bucketMid(b); d >= subSize && (float64(mid) < float64(d)*0.99 || float64(mid) > float64(d)*1.01) {
			t.Errorf("bucketMid(bucketOf(%d)) = %d, more than 1%% off", d, mid)
		}
	}
	if b := bucketOf(time.Hour); b != numBuckets-1 {
		t.Errorf("an hour lands in bucket %d, want the last", b)
	}
}

func TestQuantilesWithinOnePercent(t *testing.T) {
	var h histogram
	values := make([]time.Duration, 100000)
	for i := range values {
		// Log-uniform between 10 µs and 100 ms, like real latencies.
		values[i] = time.Duration(10e3 * math.Pow(10, 4*rand.Float64()))
		h.record(values[i])
	}
	slices.Sort(values)
	for _, q := range []float64{0.5, 0.9, 0.99} {
		want := values[int(q*float64(len(values)))-1]
		got := h.quantile(q)
		if diff := float64(got-want) / float64(want); diff < -0.01 || diff > 0.01 {
			t.Errorf("p%.0f = %s, exact %s: off by %.2f%%", 100*q, got, want, 100*diff)
		}
	}
	if h.max != values[len(values)-1] {
		t.Errorf("max = %s, want %s", h.max, values[len(values)-1])
	}
	var other histogram
	other.record(time.Hour)
	h.merge(&other)
	if h.total != uint64(len(values))+1 || h.max != time.Hour || h.quantile(1) != time.Hour {
		t.Errorf("after merge: total %d, max %s, p100 %s", h.total, h.max, h.quantile(1))
	}
}
