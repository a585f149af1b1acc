package main

import (
	"math"
	"math/bits"
)

// Latency histogram in nanoseconds with 64 buckets per power of two (under 1.6 % error), so that
// many slots can record without sharing anything and the harness can merge rounds and processes.
const (
	subBits    = 6
	subBuckets = 1 << subBits
	maxExp     = 44 // 2^44 ns is about 4.9 hours: longer latencies land in the last bucket
	numBuckets = (maxExp - subBits + 2) * subBuckets
)

type histogram struct {
	counts [numBuckets]uint64
	total  uint64
	sumNs  float64
	maxNs  uint64
}

func bucketOf(ns uint64) int {
	if ns < subBuckets {
		return int(ns)
	}
	shift := bits.Len64(ns) - subBits - 1 // ns>>shift is in [64, 128)
	idx := (shift+1)*subBuckets + int(ns>>uint(shift)) - subBuckets
	if idx >= numBuckets {
		return numBuckets - 1
	}
	return idx
}

// bucketMid is the value a bucket stands for: the middle of the nanoseconds it holds.
func bucketMid(idx int) float64 {
	if idx < subBuckets {
		return float64(idx)
	}
	shift := idx/subBuckets - 1
	low := uint64(idx%subBuckets+subBuckets) << uint(shift)
	width := uint64(1) << uint(shift)
	return float64(low) + float64(width-1)/2
}

func (h *histogram) record(ns uint64) {
	h.counts[bucketOf(ns)]++
	h.total++
	h.sumNs += float64(ns)
	if ns > h.maxNs {
		h.maxNs = ns
	}
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.sumNs += o.sumNs
	if o.maxNs > h.maxNs {
		h.maxNs = o.maxNs
	}
}

// quantile in nanoseconds, q in [0, 1]: the smallest bucket with at least q of the values at or
// below it (the same nearest-rank rule as the harness's percentile()).
func (h *histogram) quantile(q float64) float64 {
	if h.total == 0 {
		return math.NaN()
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return bucketMid(i)
		}
	}
	return float64(h.maxNs)
}

// sparse lists the non-empty buckets as [microseconds, count] pairs.
func (h *histogram) sparse() [][2]float64 {
	out := make([][2]float64, 0, 64)
	for i, c := range h.counts {
		if c != 0 {
			out = append(out, [2]float64{bucketMid(i) / 1e3, float64(c)})
		}
	}
	return out
}
