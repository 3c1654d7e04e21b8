package finehistogram

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/sieveobs/sieve/connectors/finehistogram/internal/metadatatest"
)

// agentMetrics returns one ResourceMetrics per agent, as a gateway receives them.
func agentMetrics(agent string) (pmetric.Metrics, pmetric.MetricSlice) {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("host.name", agent)
	return md, rm.ScopeMetrics().AppendEmpty().Metrics()
}

func addExplicit(ms pmetric.MetricSlice, temporality pmetric.AggregationTemporality, bounds []float64, counts []uint64, sum float64, route string) {
	m := ms.AppendEmpty()
	m.SetName("span.duration")
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(temporality)
	dp := h.DataPoints().AppendEmpty()
	dp.Attributes().PutStr("span.name", "op")
	dp.Attributes().PutStr("http.route", route)
	dp.ExplicitBounds().FromRaw(bounds)
	dp.BucketCounts().FromRaw(counts)
	var n uint64
	for _, c := range counts {
		n += c
	}
	dp.SetCount(n)
	dp.SetSum(sum)
}

func TestMergeExplicit(t *testing.T) {
	tc := newTestConnector(t, func(c *Config) { c.Histogram.Explicit.Bounds = []float64{0.1, 0.2, 0.5} })
	delta := pmetric.AggregationTemporalityDelta

	a, msA := agentMetrics("agent-a")
	addExplicit(msA, delta, []float64{0.1, 0.2, 0.5}, []uint64{1, 2, 3, 4}, 5, "/x")
	b, msB := agentMetrics("agent-b")
	addExplicit(msB, delta, []float64{0.1, 0.2, 0.5}, []uint64{10, 0, 0, 1}, 2, "/x")
	// Attribute order differs from agent-a; the series must still be the same.
	dp := msB.At(0).Histogram().DataPoints().At(0)
	attrs := dp.Attributes().AsRaw()
	dp.Attributes().Clear()
	dp.Attributes().PutStr("http.route", attrs["http.route"].(string))
	dp.Attributes().PutStr("span.name", attrs["span.name"].(string))
	addExplicit(msB, delta, []float64{0.1, 0.25, 0.5}, []uint64{1, 1, 1, 1}, 1, "/x")
	addExplicit(msB, pmetric.AggregationTemporalityCumulative, []float64{0.1, 0.2, 0.5}, []uint64{1, 1, 1, 1}, 1, "/x")
	gauge := msB.AppendEmpty()
	gauge.SetName("queue.size")
	gauge.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(3)

	require.NoError(t, tc.ConsumeMetrics(context.Background(), a))
	require.NoError(t, tc.ConsumeMetrics(context.Background(), b))
	md := tc.flushNow(t)
	requireGolden(t, "merge_explicit", md)
	dps := histPoints(t, md, "span.duration")
	require.Equal(t, 1, dps.Len())
	require.Equal(t, []uint64{11, 2, 3, 5}, dps.At(0).BucketCounts().AsRaw())
	require.Equal(t, uint64(21), dps.At(0).Count())
	require.InDelta(t, 7.0, dps.At(0).Sum(), 1e-12)

	reason := func(metric, r string, v int64) metricdata.DataPoint[int64] {
		return metricdata.DataPoint[int64]{Attributes: attribute.NewSet(attribute.String("metric", metric), attribute.String("reason", r)), Value: v}
	}
	metadatatest.AssertEqualConnectorFineHistogramDropped(t, tc.tel, []metricdata.DataPoint[int64]{
		reason("span.duration", reasonBoundsMismatch, 1),
		reason("span.duration", reasonNonDeltaInput, 1),
		reason("queue.size", reasonUnsupportedType, 1),
	}, metricdatatest.IgnoreTimestamp())
}

func addExponential(ms pmetric.MetricSlice, scale, offset int32, counts []uint64, zero uint64) {
	m := ms.AppendEmpty()
	m.SetName("span.duration")
	h := m.SetEmptyExponentialHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	dp := h.DataPoints().AppendEmpty()
	dp.Attributes().PutStr("span.name", "op")
	dp.SetScale(scale)
	dp.SetZeroCount(zero)
	dp.Positive().SetOffset(offset)
	dp.Positive().BucketCounts().FromRaw(counts)
	n := zero
	for _, c := range counts {
		n += c
	}
	dp.SetCount(n)
	dp.SetSum(1)
}

func TestMergeExponentialDownscales(t *testing.T) {
	tc := newTestConnector(t, func(c *Config) {
		c.Histogram.Kind = KindExponential
		// Dense: the budget is the range, which the two agents' points exceed together.
		c.Histogram.Exponential.Layout = LayoutDense
		c.Histogram.Exponential.MaxSize = 8
	})
	// agent-a: scale 3, eight buckets covering (1, 2]; agent-b: scale 1, four buckets covering
	// (4, 16]. Together they span indexes 0..7 at scale 1, which is the finest scale at which
	// eight buckets hold both, so the merge must downscale agent-a by 2.
	a, msA := agentMetrics("agent-a")
	countsA := []uint64{1, 2, 3, 4, 5, 6, 7, 8}
	addExponential(msA, 3, 0, countsA, 2)
	b, msB := agentMetrics("agent-b")
	countsB := []uint64{10, 20, 30, 40}
	addExponential(msB, 1, 4, countsB, 0)

	require.NoError(t, tc.ConsumeMetrics(context.Background(), a))
	require.NoError(t, tc.ConsumeMetrics(context.Background(), b))
	md := tc.flushNow(t)
	requireGolden(t, "merge_exponential", md)

	want := map[int32]uint64{}
	for i, n := range countsA {
		want[int32(i)>>2] += n
	}
	for i, n := range countsB {
		want[4+int32(i)] += n
	}
	dp := expoPoints(t, md, "span.duration").At(0)
	require.Equal(t, int32(1), dp.Scale())
	got := map[int32]uint64{}
	for i := 0; i < dp.Positive().BucketCounts().Len(); i++ {
		if n := dp.Positive().BucketCounts().At(i); n > 0 {
			got[dp.Positive().Offset()+int32(i)] = n
		}
	}
	require.Equal(t, want, got)
	require.Equal(t, uint64(2), dp.ZeroCount())
	require.Equal(t, uint64(138), dp.Count())
}

// TestMergeExponentialSparseKeepsScale: two agents' points far apart (about 30 ms and 4 s, scale
// 3) exceed a dense range of 8 buckets but hold 8 populated buckets within the sparse range cap
// (8·8): the sparse layout merges them at their scale, the dense one must fall to scale 0.
func TestMergeExponentialSparseKeepsScale(t *testing.T) {
	for _, tt := range []struct {
		layout string
		scale  int32
	}{{LayoutDense, 0}, {LayoutSparse, 3}} {
		t.Run(tt.layout, func(t *testing.T) {
			tc := newTestConnector(t, func(c *Config) {
				c.Histogram.Kind = KindExponential
				c.Histogram.Exponential.Layout = tt.layout
				c.Histogram.Exponential.MaxSize = 8
			})
			a, msA := agentMetrics("agent-a")
			addExponential(msA, 3, -40, []uint64{1, 2, 3, 4}, 0)
			b, msB := agentMetrics("agent-b")
			addExponential(msB, 3, 16, []uint64{5, 6, 7, 8}, 0)
			require.NoError(t, tc.ConsumeMetrics(context.Background(), a))
			require.NoError(t, tc.ConsumeMetrics(context.Background(), b))
			dp := expoPoints(t, tc.flushNow(t), "span.duration").At(0)
			require.Equal(t, tt.scale, dp.Scale())
			require.Equal(t, uint64(36), dp.Count())
			got := map[int32]uint64{}
			for i, n := range dp.Positive().BucketCounts().AsRaw() {
				if n > 0 {
					got[dp.Positive().Offset()+int32(i)] += n
				}
			}
			// Every input bucket lands whole in the bucket holding it at the merged scale.
			want := map[int32]uint64{}
			for i, n := range []uint64{1, 2, 3, 4} {
				want[(-40+int32(i))>>(3-tt.scale)] += n
			}
			for i, n := range []uint64{5, 6, 7, 8} {
				want[(16+int32(i))>>(3-tt.scale)] += n
			}
			require.Equal(t, want, got)
		})
	}
}

func TestMergeKeepsConfiguredResourceDimension(t *testing.T) {
	tc := newTestConnector(t, func(c *Config) {
		c.Histogram.Explicit.Bounds = []float64{0.1}
		c.Dimensions = []string{"k8s.cluster.name"}
	})
	for _, cluster := range []string{"eu", "us", "eu"} {
		md, ms := agentMetrics("agent")
		md.ResourceMetrics().At(0).Resource().Attributes().PutStr("k8s.cluster.name", cluster)
		addExplicit(ms, pmetric.AggregationTemporalityDelta, []float64{0.1}, []uint64{1, 1}, 0.3, "/x")
		require.NoError(t, tc.ConsumeMetrics(context.Background(), md))
	}
	dps := histPoints(t, tc.flushNow(t), "span.duration")
	got := map[string]uint64{}
	for i := 0; i < dps.Len(); i++ {
		v, ok := dps.At(i).Attributes().Get("k8s.cluster.name")
		require.True(t, ok)
		got[v.Str()] = dps.At(i).Count()
	}
	require.Equal(t, map[string]uint64{"eu": 4, "us": 2}, got)
}

func TestMergeBoundsMetricNames(t *testing.T) {
	tc := newTestConnector(t, func(c *Config) { c.Histogram.Explicit.Bounds = []float64{0.1} })
	md, ms := agentMetrics("agent")
	for i := 0; i <= maxMergedMetrics; i++ {
		addExplicit(ms, pmetric.AggregationTemporalityDelta, []float64{0.1}, []uint64{1, 0}, 0.05, "/x")
		ms.At(i).SetName("m" + strconv.Itoa(i))
	}
	require.NoError(t, tc.ConsumeMetrics(context.Background(), md))
	require.Equal(t, maxMergedMetrics, tc.flushNow(t).MetricCount())
	metadatatest.AssertEqualConnectorFineHistogramDropped(t, tc.tel, []metricdata.DataPoint[int64]{{
		Attributes: attribute.NewSet(attribute.String("metric", "m"+strconv.Itoa(maxMergedMetrics)), attribute.String("reason", reasonTooManyMetrics)),
		Value:      1,
	}}, metricdatatest.IgnoreTimestamp())
}

func TestMergeRefusesImpossibleExponentialPoints(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(pmetric.ExponentialHistogramDataPoint)
	}{
		{name: "negative buckets", mutate: func(dp pmetric.ExponentialHistogramDataPoint) { dp.Negative().BucketCounts().FromRaw([]uint64{1}) }},
		{name: "scale above 20", mutate: func(dp pmetric.ExponentialHistogramDataPoint) { dp.SetScale(21) }},
		{name: "offset beyond float64", mutate: func(dp pmetric.ExponentialHistogramDataPoint) { dp.Positive().SetOffset(1 << 20) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := newTestConnector(t, func(c *Config) { c.Histogram.Kind = KindExponential })
			md, ms := agentMetrics("agent")
			addExponential(ms, 0, 0, []uint64{1, 2}, 0)
			tt.mutate(ms.At(0).ExponentialHistogram().DataPoints().At(0))
			require.NoError(t, tc.ConsumeMetrics(context.Background(), md))
			require.Zero(t, tc.flushNow(t).DataPointCount())
			metadatatest.AssertEqualConnectorFineHistogramDropped(t, tc.tel, []metricdata.DataPoint[int64]{{
				Attributes: attribute.NewSet(attribute.String("metric", "span.duration"), attribute.String("reason", reasonInvalidValue)),
				Value:      1,
			}}, metricdatatest.IgnoreTimestamp())
		})
	}
}

func TestMergeRefusesOverflowingCounts(t *testing.T) {
	huge := uint64(1) << 61
	t.Run("exponential", func(t *testing.T) {
		tc := newTestConnector(t, func(c *Config) { c.Histogram.Kind = KindExponential })
		for i := 0; i < 3; i++ {
			md, ms := agentMetrics("agent")
			addExponential(ms, 0, 0, []uint64{huge}, 0)
			require.NoError(t, tc.ConsumeMetrics(context.Background(), md))
		}
		// Totals must stay below 2^62: the first 2^61 fits, the next two would reach it.
		require.Equal(t, huge, expoPoints(t, tc.flushNow(t), "span.duration").At(0).Count())
		metadatatest.AssertEqualConnectorFineHistogramDropped(t, tc.tel, []metricdata.DataPoint[int64]{{
			Attributes: attribute.NewSet(attribute.String("metric", "span.duration"), attribute.String("reason", reasonInvalidValue)),
			Value:      2,
		}}, metricdatatest.IgnoreTimestamp())
	})
}
