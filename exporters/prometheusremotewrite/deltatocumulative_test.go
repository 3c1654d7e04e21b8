package prometheusremotewrite

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func deltaSum(start, ts pcommon.Timestamp, v int64, series string) pmetric.Metrics {
	md := pmetric.NewMetrics()
	sm := newResource(md, "svc", "i-1")
	m := sm.Metrics().AppendEmpty()
	m.SetName("requests")
	s := m.SetEmptySum()
	s.SetIsMonotonic(true)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	dp := s.DataPoints().AppendEmpty()
	dp.SetStartTimestamp(start)
	dp.SetTimestamp(ts)
	dp.SetIntValue(v)
	dp.Attributes().PutStr("series", series)
	return md
}

type evictions map[string]int

func (e evictions) add(reason string) { e[reason]++ }

func TestDeltaSumToCumulative(t *testing.T) {
	clock := newTestClock()
	ev := evictions{}
	d := newDeltaToCumulative(DeltaToCumulativeConfig{MaxSeries: 10, MaxStale: time.Minute}, clock.now, ev.add)
	type step struct {
		start, ts int
		v         int64
		wantKept  bool
		wantValue int64
		wantStart int
	}
	steps := []step{
		{start: 0, ts: 10, v: 5, wantKept: true, wantValue: 5, wantStart: 0},
		{start: 10, ts: 20, v: 3, wantKept: true, wantValue: 8, wantStart: 0},
		// Late point: folded into the total, not emitted.
		{start: 5, ts: 15, v: 2, wantKept: false},
		{start: 20, ts: 30, v: 1, wantKept: true, wantValue: 11, wantStart: 0},
	}
	for i, st := range steps {
		md := deltaSum(tsAt(st.start), tsAt(st.ts), st.v, "a")
		d.convert(md)
		m := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0)
		require.Equal(t, pmetric.AggregationTemporalityCumulative, m.Sum().AggregationTemporality(), "step %d", i)
		if !st.wantKept {
			require.Equal(t, 0, m.Sum().DataPoints().Len(), "step %d", i)
			continue
		}
		require.Equal(t, 1, m.Sum().DataPoints().Len(), "step %d", i)
		dp := m.Sum().DataPoints().At(0)
		require.Equal(t, st.wantValue, dp.IntValue(), "step %d", i)
		require.Equal(t, tsAt(st.wantStart), dp.StartTimestamp(), "step %d", i)
	}
	require.Empty(t, ev)
}

func TestDeltaStateIsBounded(t *testing.T) {
	clock := newTestClock()
	ev := evictions{}
	d := newDeltaToCumulative(DeltaToCumulativeConfig{MaxSeries: 2, MaxStale: time.Minute}, clock.now, ev.add)
	for i, s := range []string{"a", "b", "c"} {
		d.convert(deltaSum(tsAt(0), tsAt(i+1), 1, s))
	}
	require.Equal(t, 2, d.len())
	require.Equal(t, evictions{reasonCapacity: 1}, ev)

	// "a" was evicted: it restarts from its own delta, with a new start.
	md := deltaSum(tsAt(3), tsAt(4), 7, "a")
	d.convert(md)
	dp := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints().At(0)
	require.Equal(t, int64(7), dp.IntValue())
	require.Equal(t, tsAt(3), dp.StartTimestamp())

	clock.advance(2 * time.Minute)
	d.convert(deltaSum(tsAt(5), tsAt(6), 1, "z"))
	require.Equal(t, 1, d.len())
	require.Equal(t, 2, ev[reasonExpired])
}

func TestDeltaHistogramToCumulative(t *testing.T) {
	clock := newTestClock()
	ev := evictions{}
	d := newDeltaToCumulative(DeltaToCumulativeConfig{MaxSeries: 10, MaxStale: time.Minute}, clock.now, ev.add)
	mk := func(ts int, bounds []float64, counts []uint64, sum float64) pmetric.Metrics {
		md := pmetric.NewMetrics()
		m := newResource(md, "svc", "").Metrics().AppendEmpty()
		m.SetName("lat")
		h := m.SetEmptyHistogram()
		h.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		dp := h.DataPoints().AppendEmpty()
		dp.SetTimestamp(tsAt(ts))
		dp.ExplicitBounds().FromRaw(bounds)
		dp.BucketCounts().FromRaw(counts)
		var n uint64
		for _, c := range counts {
			n += c
		}
		dp.SetCount(n)
		dp.SetSum(sum)
		dp.SetMin(0.1)
		return md
	}
	get := func(md pmetric.Metrics) pmetric.HistogramDataPoint {
		return md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Histogram().DataPoints().At(0)
	}
	d.convert(mk(1, []float64{1, 2}, []uint64{1, 0, 2}, 5))
	md := mk(2, []float64{1, 2}, []uint64{0, 3, 1}, 7)
	d.convert(md)
	dp := get(md)
	require.Equal(t, []uint64{1, 3, 3}, dp.BucketCounts().AsRaw())
	require.Equal(t, uint64(7), dp.Count())
	require.InDelta(t, 12.0, dp.Sum(), 1e-9)
	require.False(t, dp.HasMin(), "an interval's min is not the run's min")

	md = mk(3, []float64{1, 5}, []uint64{1, 1, 1}, 3)
	d.convert(md)
	dp = get(md)
	require.Equal(t, []uint64{1, 1, 1}, dp.BucketCounts().AsRaw(), "changed bounds start a new run")
	require.Equal(t, tsAt(3), dp.StartTimestamp())
	require.Equal(t, evictions{reasonBoundsChanged: 1}, ev)
}

func TestDeltaExponentialHistogramToCumulative(t *testing.T) {
	clock := newTestClock()
	d := newDeltaToCumulative(DeltaToCumulativeConfig{MaxSeries: 10, MaxStale: time.Minute}, clock.now, func(string) {})
	mk := func(ts int, scale, offset int32, counts []uint64, zero uint64) pmetric.Metrics {
		md := pmetric.NewMetrics()
		m := newResource(md, "svc", "").Metrics().AppendEmpty()
		m.SetName("lat")
		h := m.SetEmptyExponentialHistogram()
		h.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		dp := h.DataPoints().AppendEmpty()
		dp.SetTimestamp(tsAt(ts))
		dp.SetScale(scale)
		dp.SetZeroCount(zero)
		dp.Positive().SetOffset(offset)
		dp.Positive().BucketCounts().FromRaw(counts)
		n := zero
		for _, c := range counts {
			n += c
		}
		dp.SetCount(n)
		dp.SetSum(float64(n))
		return md
	}
	get := func(md pmetric.Metrics) pmetric.ExponentialHistogramDataPoint {
		return md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).ExponentialHistogram().DataPoints().At(0)
	}
	d.convert(mk(1, 3, 4, []uint64{1, 2}, 1))
	// A coarser delta forces the run down to scale 2: indexes 4,5 at
	// scale 3 become 2 at scale 2; the new delta covers indexes 1 and 2.
	md := mk(2, 2, 1, []uint64{5, 1}, 2)
	d.convert(md)
	dp := get(md)
	require.Equal(t, int32(2), dp.Scale())
	require.Equal(t, int32(1), dp.Positive().Offset())
	require.Equal(t, []uint64{5, 4}, dp.Positive().BucketCounts().AsRaw())
	require.Equal(t, uint64(3), dp.ZeroCount())
	require.Equal(t, uint64(12), dp.Count())

	// A finer delta is merged down to the run's scale.
	md = mk(3, 4, 8, []uint64{1, 1, 1, 1}, 0)
	d.convert(md)
	dp = get(md)
	require.Equal(t, int32(2), dp.Scale())
	require.Equal(t, []uint64{5, 8}, dp.Positive().BucketCounts().AsRaw(), "indexes 8..11 at scale 4 are index 2 at scale 2")
	require.Equal(t, uint64(16), dp.Count())
}

func TestDownscaleNegativeIndexes(t *testing.T) {
	got := downscale(expBuckets{offset: -3, counts: []uint64{1, 2, 3, 4}}, 1)
	// -3>>1=-2, -2>>1=-1, -1>>1=-1, 0>>1=0
	require.Equal(t, expBuckets{offset: -2, counts: []uint64{1, 5, 4}}, got)
}

func TestCumulativeDataIsUntouched(t *testing.T) {
	d := newDeltaToCumulative(DeltaToCumulativeConfig{MaxSeries: 1, MaxStale: time.Minute}, time.Now, func(string) {})
	md := goldenCases()["sums"]()
	want := pmetric.NewMetrics()
	md.CopyTo(want)
	d.convert(md)
	require.Equal(t, want, md)
	require.Zero(t, d.len())
}

func TestDeltaExponentialHistogramStaysBounded(t *testing.T) {
	d := newDeltaToCumulative(DeltaToCumulativeConfig{MaxSeries: 10, MaxStale: time.Minute}, newTestClock().now, func(string) {})
	tests := []struct {
		offset int32
		counts []uint64
	}{
		{offset: math.MinInt32 + 1, counts: []uint64{1, 1}},
		{offset: math.MaxInt32 - 3, counts: []uint64{2, 2}},
		{offset: 0, counts: make([]uint64, 1000)},
	}
	var total uint64
	for i, tt := range tests {
		md := pmetric.NewMetrics()
		m := newResource(md, "svc", "").Metrics().AppendEmpty()
		m.SetName("lat")
		h := m.SetEmptyExponentialHistogram()
		h.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		dp := h.DataPoints().AppendEmpty()
		dp.SetTimestamp(tsAt(i + 1))
		dp.SetScale(0)
		dp.Positive().SetOffset(tt.offset)
		dp.Positive().BucketCounts().FromRaw(tt.counts)
		d.convert(md)
		out := h.DataPoints().At(0)
		require.LessOrEqual(t, out.Positive().BucketCounts().Len(), maxExpBuckets)
		for _, c := range tt.counts {
			total += c
		}
		var sum uint64
		for _, c := range out.Positive().BucketCounts().AsRaw() {
			sum += c
		}
		require.Equal(t, total, sum, "merging must not lose counts (step %d)", i)
	}
}
