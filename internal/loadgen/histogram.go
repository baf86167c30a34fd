package loadgen

import (
	"math/bits"
	"time"
)

// histogram records latencies in log-linear buckets, HdrHistogram style:
// every power of two is split into 2^subBits buckets, so a recorded value
// is known to within 1/128 (under 0.8%) whatever its size, in a fixed
// 32 KiB per histogram however long the run.
type histogram struct {
	counts [numBuckets]uint64
	total  uint64
	sum    time.Duration
	max    time.Duration
}

const (
	subBits = 7
	subSize = 1 << subBits
	// maxShift covers latencies up to 2^(maxShift+subBits+1) ns, about
	// 68 s; longer ones land in the last bucket.
	maxShift   = 28
	numBuckets = (maxShift + 2) * subSize
)

func bucketOf(d time.Duration) int {
	if d < 0 {
		d = 0
	}
	v := uint64(d)
	if v < subSize {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	if shift > maxShift {
		return numBuckets - 1
	}
	return (shift+1)*subSize + int(v>>shift) - subSize
}

// bucketMid is the middle of the values that fall into bucket i.
func bucketMid(i int) time.Duration {
	if i < subSize {
		return time.Duration(i)
	}
	shift := i/subSize - 1
	low := uint64(i%subSize+subSize) << shift
	return time.Duration(low + (uint64(1)<<shift)/2)
}

func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(d)]++
	h.total++
	h.sum += d
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// quantile returns the latency below which a share q of the recorded
// values lie; never more than the largest value recorded.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q*float64(h.total) + 0.5)
	if rank >= h.total {
		return h.max
	}
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(bucketMid(i), h.max)
		}
	}
	return h.max
}

func (h *histogram) mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return h.sum / time.Duration(h.total)
}
