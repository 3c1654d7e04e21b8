package finehistogram

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBucketQuantileReimplementation(t *testing.T) {
	inf := math.Inf(+1)
	tests := []struct {
		name    string
		q       float64
		buckets []classicBucket
		want    float64
	}{
		{name: "first bucket interpolates from zero", q: 0.5, buckets: []classicBucket{{0.1, 10}, {0.2, 20}, {inf, 20}}, want: 0.1},
		{name: "linear inside a bucket", q: 0.75, buckets: []classicBucket{{0.1, 10}, {0.2, 20}, {inf, 20}}, want: 0.15},
		{name: "unsorted input is sorted", q: 0.75, buckets: []classicBucket{{inf, 20}, {0.2, 20}, {0.1, 10}}, want: 0.15},
		{name: "+Inf bucket returns the highest finite bound", q: 0.9, buckets: []classicBucket{{0.1, 10}, {inf, 20}}, want: 0.1},
		{name: "no +Inf bucket", q: 0.5, buckets: []classicBucket{{0.1, 10}, {0.2, 20}}, want: math.NaN()},
		{name: "non-monotonic counts are flattened", q: 0.5, buckets: []classicBucket{{0.1, 10}, {0.2, 8}, {0.4, 20}, {inf, 20}}, want: 0.1},
		{name: "q above one", q: 1.5, buckets: []classicBucket{{0.1, 10}, {inf, 20}}, want: inf},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bucketQuantile(tt.q, tt.buckets)
			if math.IsNaN(tt.want) {
				require.True(t, math.IsNaN(got), "got %v", got)
				return
			}
			require.InDelta(t, tt.want, got, 1e-12)
		})
	}
}

func TestHistogramQuantileReimplementation(t *testing.T) {
	one := &nativeHistogram{Schema: 0, ZeroThreshold: defaultZeroThreshold, Count: 4, Sum: 6,
		Positive: []nativeBucket{{Lower: 1, Upper: 2, Count: 4}}}
	two := &nativeHistogram{Schema: 0, ZeroThreshold: defaultZeroThreshold, ZeroCount: 2, Count: 10, Sum: 30,
		Positive: []nativeBucket{{Lower: 1, Upper: 2, Count: 4}, {Lower: 4, Upper: 8, Count: 4}}}
	tests := []struct {
		name string
		q    float64
		h    *nativeHistogram
		want float64
	}{
		// The example of the HistogramQuantile documentation: the middle of (1,2] is √2.
		{name: "exponential interpolation, reverse iterator", q: 0.5, h: one, want: math.Sqrt2},
		{name: "exponential interpolation, forward iterator", q: 0.25, h: one, want: math.Pow(2, 0.25)},
		{name: "zero bucket interpolates linearly from 0", q: 0.1, h: two, want: defaultZeroThreshold / 2},
		// Reverse iteration: rank 1 from the top of a 4-count bucket is 3/4 of the way up.
		{name: "reverse rank inside the top bucket", q: 0.9, h: two, want: math.Pow(2, 2+0.75)},
		{name: "forward rank crosses the zero bucket", q: 0.4, h: two, want: math.Pow(2, 0.5)},
		{name: "q=1 is the upper bound of the last bucket", q: 1, h: two, want: 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.InDelta(t, tt.want, histogramQuantile(tt.q, tt.h), 1e-12*math.Max(1, tt.want))
		})
	}
}

func TestExponentialBound(t *testing.T) {
	for _, tt := range []struct {
		idx, schema int32
		want        float64
	}{
		{0, 0, 1}, {1, 0, 2}, {-1, 0, 0.5}, {8, 3, 2}, {-1, 3, math.Pow(2, -1.0/8)}, {3, 2, math.Pow(2, 0.75)}, {1, -1, 4},
	} {
		require.InDelta(t, tt.want, exponentialBound(tt.idx, tt.schema), 1e-15, "idx %d schema %d", tt.idx, tt.schema)
	}
}
