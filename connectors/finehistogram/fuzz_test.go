package finehistogram

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzMergeExponential feeds arbitrary exponential points from "agents": whatever arrives, the
// merge must neither panic nor lose or invent observations it accepted.
func FuzzMergeExponential(f *testing.F) {
	f.Add(int32(3), int32(0), []byte{1, 2, 3, 4}, uint64(0), int32(1), int32(4), []byte{9, 9})
	f.Add(int32(20), int32(-1000), []byte{255}, uint64(5), int32(-10), int32(0), []byte{1})
	f.Add(int32(0), int32(1023), []byte{1}, uint64(0), int32(0), int32(-1074), []byte{1})
	f.Fuzz(func(t *testing.T, scaleA, offsetA int32, rawA []byte, zero uint64, scaleB, offsetB int32, rawB []byte) {
		for _, layout := range []string{LayoutDense, LayoutSparse} {
			fuzzMergeExponential(t, layout, scaleA, offsetA, rawA, zero, scaleB, offsetB, rawB)
		}
	})
}

func fuzzMergeExponential(t *testing.T, layout string, scaleA, offsetA int32, rawA []byte, zero uint64, scaleB, offsetB int32, rawB []byte) {
	tc := newTestConnector(t, func(c *Config) {
		c.Histogram.Kind = KindExponential
		c.Histogram.Exponential.Layout = layout
		c.Histogram.Exponential.MaxSize = 16
	})
	var accepted uint64
	for _, p := range []struct {
		scale, offset int32
		raw           []byte
		zero          uint64
	}{{scaleA, offsetA, rawA, zero % 1000}, {scaleB, offsetB, rawB, 0}} {
		if len(p.raw) > 64 {
			p.raw = p.raw[:64]
		}
		counts := make([]uint64, 0, len(p.raw))
		for i := range p.raw {
			counts = append(counts, uint64(p.raw[i]))
		}
		md, ms := agentMetrics("agent")
		addExponential(ms, p.scale, p.offset, counts, p.zero)
		dp := ms.At(0).ExponentialHistogram().DataPoints().At(0)
		valid := p.scale >= minScale && p.scale <= maxScale && midpointsFinite(dp)
		require.NoError(t, tc.ConsumeMetrics(context.Background(), md))
		if valid {
			accepted += dp.Count()
		}
	}
	out := tc.flushNow(t)
	if accepted == 0 && out.DataPointCount() == 0 {
		return
	}
	got := expoPoints(t, out, "span.duration").At(0)
	require.Equal(t, accepted, got.Count())
	total := got.ZeroCount()
	for _, n := range got.Positive().BucketCounts().AsRaw() {
		total += n
	}
	require.Equal(t, accepted, total)
	populated := 0
	for _, n := range got.Positive().BucketCounts().AsRaw() {
		if n > 0 {
			populated++
		}
	}
	require.LessOrEqual(t, populated, 16)
	if layout == LayoutDense {
		require.LessOrEqual(t, got.Positive().BucketCounts().Len(), 16)
	} else {
		// The emitted array of a sparse series is bounded at 8 times its budget.
		require.LessOrEqual(t, got.Positive().BucketCounts().Len(), 8*16)
	}
}
