package main

import (
	"math"
	"testing"
)

func TestBucketsHoldTheirValuesWithinPrecision(t *testing.T) {
	for _, ns := range []uint64{0, 1, 63, 64, 65, 127, 128, 1000, 123456, 987654321, 1 << 40} {
		mid := bucketMid(bucketOf(ns))
		if ns >= subBuckets && math.Abs(mid-float64(ns))/float64(ns) > 1.0/subBuckets {
			t.Errorf("%d ns stands as %.1f", ns, mid)
		}
		if ns < subBuckets && mid != float64(ns) {
			t.Errorf("%d ns stands as %.1f", ns, mid)
		}
	}
}

func TestQuantilesAndMerge(t *testing.T) {
	var a, b histogram
	for i := uint64(1); i <= 50; i++ {
		a.record(i * 1000)
		b.record((i + 50) * 1000)
	}
	a.merge(&b)
	if a.total != 100 || a.maxNs != 100000 {
		t.Fatalf("total %d max %d", a.total, a.maxNs)
	}
	for q, want := range map[float64]float64{0.5: 50000, 0.99: 99000, 1: 100000} {
		if got := a.quantile(q); math.Abs(got-want)/want > 1.0/subBuckets {
			t.Errorf("q%.2f = %.0f, want about %.0f", q, got, want)
		}
	}
	var counted float64
	for _, p := range a.sparse() {
		counted += p[1]
	}
	if counted != 100 {
		t.Errorf("sparse histogram holds %v values", counted)
	}
}
