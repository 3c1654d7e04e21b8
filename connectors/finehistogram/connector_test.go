package finehistogram

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"

	"github.com/sieveobs/sieve/connectors/finehistogram/internal/metadatatest"
)

var classicBounds = []float64{0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5}

func tracestateFor(t *testing.T, p float64) string {
	t.Helper()
	th, err := sampling.ProbabilityToThreshold(p)
	require.NoError(t, err)
	return "ot=th:" + th.TValue()
}

func TestTracesGolden(t *testing.T) {
	ms := time.Millisecond
	server, client := ptrace.SpanKindServer, ptrace.SpanKindClient
	ok, failed := ptrace.StatusCodeOk, ptrace.StatusCodeError
	tests := []struct {
		name   string
		mutate func(*Config)
		spans  []spanSpec
	}{
		{
			name: "traces_explicit_classic",
			mutate: func(c *Config) {
				c.Histogram.Explicit.Bounds = classicBounds
				c.Dimensions = []string{"http.route", "deployment.environment.name"}
			},
			spans: []spanSpec{
				{svc: "checkout", name: "GET /cart", kind: server, status: ok, dur: 5 * ms, attrs: map[string]any{"http.route": "/cart"}},
				{svc: "checkout", name: "GET /cart", kind: server, status: ok, dur: 20 * ms, attrs: map[string]any{"http.route": "/cart"}},
				{svc: "checkout", name: "GET /cart", kind: server, status: ok, dur: 21 * ms, attrs: map[string]any{"http.route": "/cart"}},
				{svc: "checkout", name: "GET /cart", kind: server, status: failed, dur: 700 * ms, attrs: map[string]any{"http.route": "/cart"}},
				{svc: "payment", name: "charge", kind: client, status: ok, dur: 120 * ms},
			},
		},
		{
			name: "traces_exponential",
			mutate: func(c *Config) {
				c.Histogram.Kind = KindExponential
				c.Histogram.Exponential.Layout = LayoutDense
				c.Histogram.Exponential.MaxSize = 20
			},
			spans: []spanSpec{
				{svc: "checkout", name: "GET /cart", kind: server, status: ok, dur: 10 * ms},
				{svc: "checkout", name: "GET /cart", kind: server, status: ok, dur: 11 * ms},
				{svc: "checkout", name: "GET /cart", kind: server, status: ok, dur: 40 * ms},
				{svc: "checkout", name: "GET /cart", kind: server, status: ok, dur: 0},
			},
		},
		{
			name:   "traces_weighted",
			mutate: func(c *Config) { c.Histogram.Explicit.Bounds = classicBounds },
			spans: []spanSpec{
				{svc: "checkout", name: "GET /cart", kind: server, status: ok, dur: 15 * ms, traceState: tracestateFor(t, 0.01)},
				{svc: "checkout", name: "GET /cart", kind: server, status: ok, dur: 45 * ms, traceState: tracestateFor(t, 0.5)},
				{svc: "checkout", name: "GET /cart", kind: server, status: ok, dur: 45 * ms},
			},
		},
		{
			name: "traces_exemplars",
			mutate: func(c *Config) {
				c.Histogram.Explicit.Bounds = classicBounds
				c.Exemplars = ExemplarsConfig{Enabled: true, MaxPerDataPoint: 2}
			},
			spans: []spanSpec{
				{svc: "checkout", name: "GET /cart", kind: server, status: ok, dur: 15 * ms, id: 1},
				{svc: "checkout", name: "GET /cart", kind: server, status: ok, dur: 25 * ms, id: 2},
				{svc: "checkout", name: "GET /cart", kind: server, status: ok, dur: 35 * ms, id: 3},
			},
		},
		{
			name: "traces_overflow",
			mutate: func(c *Config) {
				c.Histogram.Explicit.Bounds = classicBounds
				c.CardinalityLimit = 2
			},
			spans: []spanSpec{
				{svc: "a", name: "op", kind: server, status: ok, dur: 15 * ms},
				{svc: "b", name: "op", kind: server, status: ok, dur: 15 * ms},
				{svc: "c", name: "op", kind: server, status: ok, dur: 15 * ms},
				{svc: "d", name: "op", kind: server, status: ok, dur: 250 * ms},
				{svc: "a", name: "op", kind: server, status: ok, dur: 15 * ms},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := newTestConnector(t, tt.mutate)
			require.NoError(t, tc.ConsumeTraces(context.Background(), buildTraces(t, tt.spans...)))
			requireGolden(t, tt.name, tc.flushNow(t))
		})
	}
}

func TestExplicitBucketCounts(t *testing.T) {
	tc := newTestConnector(t, func(c *Config) { c.Histogram.Explicit.Bounds = classicBounds })
	durs := []time.Duration{5, 10, 10, 11, 20, 499, 500, 501, 3000}
	var spans []spanSpec
	var sum float64
	for _, d := range durs {
		spans = append(spans, spanSpec{svc: "s", name: "op", dur: d * time.Millisecond})
		sum += float64(d) / 1000
	}
	require.NoError(t, tc.ConsumeTraces(context.Background(), buildTraces(t, spans...)))
	dps := histPoints(t, tc.flushNow(t), "span.duration")
	require.Equal(t, 1, dps.Len())
	dp := dps.At(0)
	// Upper bounds are inclusive: 10 ms counts in le=0.01 and 500 ms in le=0.5.
	require.Equal(t, []uint64{3, 2, 0, 0, 0, 0, 0, 0, 0, 2, 2}, dp.BucketCounts().AsRaw())
	require.Equal(t, uint64(len(durs)), dp.Count())
	require.InDelta(t, sum, dp.Sum(), 1e-9)
	require.InDelta(t, 0.005, dp.Min(), 1e-12)
	require.InDelta(t, 3.0, dp.Max(), 1e-12)
}

func TestLogsGolden(t *testing.T) {
	tc := newTestConnector(t, func(c *Config) {
		c.Histogram.Explicit.Bounds = classicBounds
		c.Logs = []LogMetricConfig{
			{MetricName: "http.server.request.duration", Attribute: "latency_ms", Unit: "ms"},
			{MetricName: "db.client.operation.duration", Attribute: "db_us", Unit: "us"},
		}
		c.Dimensions = []string{"http.route"}
		c.Exemplars = ExemplarsConfig{Enabled: true, MaxPerDataPoint: 1}
	})
	ld := buildLogs(t,
		logSpec{svc: "api", attrs: map[string]any{"latency_ms": 12, "http.route": "/a"}, id: 1},
		logSpec{svc: "api", attrs: map[string]any{"latency_ms": 12.5, "http.route": "/a"}},
		logSpec{svc: "api", attrs: map[string]any{"latency_ms": "250", "http.route": "/b", "db_us": 1500}},
		logSpec{svc: "api", attrs: map[string]any{"latency_ms": "slow", "http.route": "/b"}},
		logSpec{svc: "api", attrs: map[string]any{"latency_ms": -3, "http.route": "/b"}},
		logSpec{svc: "api", attrs: map[string]any{"message": "no latency field"}},
		logSpec{svc: "api", attrs: map[string]any{"latency_ms": 40, "http.route": "/a", "sampling.threshold": "8"}},
	)
	require.NoError(t, tc.ConsumeLogs(context.Background(), ld))
	md := tc.flushNow(t)
	requireGolden(t, "logs_two_metrics", md)

	counts := map[string]uint64{}
	dps := histPoints(t, md, "http.server.request.duration")
	for i := 0; i < dps.Len(); i++ {
		route, _ := dps.At(i).Attributes().Get("http.route")
		counts[route.Str()] = dps.At(i).Count()
	}
	// /a: 12 ms, 12.5 ms and a 50%-sampled 40 ms counted twice; /b: only the parsable 250.
	require.Equal(t, map[string]uint64{"/a": 4, "/b": 1}, counts)
	db := histPoints(t, md, "db.client.operation.duration")
	require.Equal(t, 1, db.Len())
	require.InDelta(t, 0.0015, db.At(0).Sum(), 1e-12)

	metadatatest.AssertEqualConnectorFineHistogramDropped(t, tc.tel, []metricdata.DataPoint[int64]{{
		Attributes: attribute.NewSet(attribute.String("metric", "http.server.request.duration"), attribute.String("reason", reasonInvalidValue)),
		Value:      2,
	}}, metricdatatest.IgnoreTimestamp())
}

func TestTemporality(t *testing.T) {
	tests := []struct {
		name        string
		temporality string
		wantCounts  []uint64 // per flush; 0 means nothing emitted
		wantStarts  []time.Duration
	}{
		{name: "cumulative", temporality: TemporalityCumulative, wantCounts: []uint64{2, 3, 3}, wantStarts: []time.Duration{0, 0, 0}},
		{name: "delta", temporality: TemporalityDelta, wantCounts: []uint64{2, 1, 0}, wantStarts: []time.Duration{0, time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := newTestConnector(t, func(c *Config) { c.AggregationTemporality = tt.temporality })
			span := spanSpec{svc: "s", name: "op", dur: 30 * time.Millisecond}
			batches := []int{2, 1, 0}
			for i, n := range batches {
				var spans []spanSpec
				for j := 0; j < n; j++ {
					spans = append(spans, span)
				}
				require.NoError(t, tc.ConsumeTraces(context.Background(), buildTraces(t, spans...)))
				tc.clock.advance(time.Minute)
				md := tc.flushNow(t)
				if tt.wantCounts[i] == 0 {
					require.Zero(t, md.DataPointCount())
					continue
				}
				dps := histPoints(t, md, "span.duration")
				require.Equal(t, 1, dps.Len())
				require.Equal(t, tt.wantCounts[i], dps.At(0).Count())
				require.Equal(t, epoch.Add(tt.wantStarts[i]), dps.At(0).StartTimestamp().AsTime())
				require.Equal(t, tc.clock.now, dps.At(0).Timestamp().AsTime())
			}
		})
	}
}

func TestSeriesExpiry(t *testing.T) {
	tc := newTestConnector(t, func(c *Config) { c.SeriesExpiration = 5 * time.Minute })
	require.NoError(t, tc.ConsumeTraces(context.Background(), buildTraces(t, spanSpec{svc: "old", name: "op", dur: time.Millisecond})))
	tc.clock.advance(4 * time.Minute)
	require.NoError(t, tc.ConsumeTraces(context.Background(), buildTraces(t, spanSpec{svc: "new", name: "op", dur: time.Millisecond})))
	tc.clock.advance(2 * time.Minute)
	dps := histPoints(t, tc.flushNow(t), "span.duration")
	require.Equal(t, 1, dps.Len())
	svc, _ := dps.At(0).Attributes().Get("service.name")
	require.Equal(t, "new", svc.Str())
	require.Equal(t, int64(1), tc.active.Load())
	metadatatest.AssertEqualConnectorFineHistogramSeriesExpired(t, tc.tel, []metricdata.DataPoint[int64]{{
		Attributes: attribute.NewSet(attribute.String("metric", "span.duration")), Value: 1,
	}}, metricdatatest.IgnoreTimestamp())

	tc.clock.advance(10 * time.Minute)
	require.Zero(t, tc.flushNow(t).DataPointCount())
	require.Zero(t, tc.active.Load(), "memory of expired series must be released")
}

func TestOverflowTelemetry(t *testing.T) {
	tc := newTestConnector(t, func(c *Config) { c.CardinalityLimit = 1 })
	spans := []spanSpec{
		{svc: "a", name: "op", dur: time.Millisecond},
		{svc: "b", name: "op", dur: time.Millisecond},
		{svc: "c", name: "op", dur: time.Millisecond},
		{svc: "a", name: "op", dur: time.Millisecond},
	}
	require.NoError(t, tc.ConsumeTraces(context.Background(), buildTraces(t, spans...)))
	dps := histPoints(t, tc.flushNow(t), "span.duration")
	require.Equal(t, 2, dps.Len())
	overflow := dps.At(1)
	v, ok := overflow.Attributes().Get(overflowAttr)
	require.True(t, ok)
	require.True(t, v.Bool())
	require.Equal(t, uint64(2), overflow.Count())
	require.Equal(t, uint64(2), dps.At(0).Count())
	metadatatest.AssertEqualConnectorFineHistogramOverflowed(t, tc.tel, []metricdata.DataPoint[int64]{{
		Attributes: attribute.NewSet(attribute.String("metric", "span.duration")), Value: 2,
	}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualConnectorFineHistogramSeriesActive(t, tc.tel, []metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp())
}

func TestAdjustedCountWeighting(t *testing.T) {
	tests := []struct {
		name       string
		traceState string
		disabled   bool
		want       uint64
	}{
		{name: "no tracestate", want: 1},
		{name: "other vendor only", traceState: "vendor=abc", want: 1},
		{name: "one percent", traceState: tracestateFor(t, 0.01), want: 100},
		{name: "half", traceState: "ot=th:8", want: 2},
		{name: "always sampled", traceState: "ot=th:0", want: 1},
		{name: "with randomness and vendor", traceState: "ot=rv:abcdefabcdefab;th:c,vendor=x", want: 4},
		{name: "malformed threshold", traceState: "ot=th:zz", want: 1},
		{name: "weighting disabled", traceState: "ot=th:8", disabled: true, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := newTestConnector(t, func(c *Config) { c.WeightByAdjustedCount = !tt.disabled })
			span := spanSpec{svc: "s", name: "op", dur: 42 * time.Millisecond, traceState: tt.traceState}
			// Twice, so that the one-entry tracestate cache is exercised too.
			require.NoError(t, tc.ConsumeTraces(context.Background(), buildTraces(t, span, span)))
			dp := histPoints(t, tc.flushNow(t), "span.duration").At(0)
			require.Equal(t, 2*tt.want, dp.Count())
			require.InDelta(t, 2*float64(tt.want)*0.042, dp.Sum(), 1e-9)
		})
	}
}

func TestInvalidSpanDurationCounted(t *testing.T) {
	tc := newTestConnector(t, nil)
	td := buildTraces(t, spanSpec{svc: "s", name: "op", dur: time.Millisecond})
	sp := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	sp.SetEndTimestamp(sp.StartTimestamp() - 1)
	require.NoError(t, tc.ConsumeTraces(context.Background(), td))
	require.Zero(t, tc.flushNow(t).DataPointCount())
	metadatatest.AssertEqualConnectorFineHistogramDropped(t, tc.tel, []metricdata.DataPoint[int64]{{
		Attributes: attribute.NewSet(attribute.String("metric", "span.duration"), attribute.String("reason", reasonInvalidValue)),
		Value:      1,
	}}, metricdatatest.IgnoreTimestamp())
}

func TestFlushLoopAndShutdown(t *testing.T) {
	delta := func(c *Config) { c.AggregationTemporality = TemporalityDelta }
	span := spanSpec{svc: "s", name: "op", dur: time.Millisecond}

	t.Run("tick flushes", func(t *testing.T) {
		tc := newTestConnector(t, delta)
		require.NoError(t, tc.Start(context.Background(), componenttest.NewNopHost()))
		require.NoError(t, tc.ConsumeTraces(context.Background(), buildTraces(t, span, span)))
		// The ticker channel is unbuffered and Shutdown waits for the loop, so the tick's flush
		// has completed when Shutdown returns; the final flush then has nothing new to emit.
		tc.clock.tick <- tc.clock.now
		require.NoError(t, tc.Shutdown(context.Background()))
		all := tc.sink.AllMetrics()
		require.Len(t, all, 1)
		require.Equal(t, uint64(2), histPoints(t, all[0], "span.duration").At(0).Count())
	})
	t.Run("shutdown flushes the remainder", func(t *testing.T) {
		tc := newTestConnector(t, delta)
		require.NoError(t, tc.Start(context.Background(), componenttest.NewNopHost()))
		require.NoError(t, tc.ConsumeTraces(context.Background(), buildTraces(t, span)))
		require.NoError(t, tc.Shutdown(context.Background()))
		require.Len(t, tc.sink.AllMetrics(), 1)
	})
	t.Run("shutdown without start", func(t *testing.T) {
		tc := newTestConnector(t, nil)
		require.NoError(t, tc.ConsumeTraces(context.Background(), buildTraces(t, span)))
		require.NoError(t, tc.Shutdown(context.Background()))
		require.Empty(t, tc.sink.AllMetrics())
	})
}

func TestExponentialMaxScale(t *testing.T) {
	durs := []time.Duration{10 * time.Millisecond, 11 * time.Millisecond, 40 * time.Millisecond}
	tests := []struct {
		maxScale int32
	}{{maxScale: 20}, {maxScale: 8}, {maxScale: 1}, {maxScale: -1}}
	for _, tt := range tests {
		t.Run(strconv.Itoa(int(tt.maxScale)), func(t *testing.T) {
			tc := newTestConnector(t, func(c *Config) {
				c.Histogram.Kind = KindExponential
				c.Histogram.Exponential.MaxSize = 20
				c.Histogram.Exponential.MaxScale = tt.maxScale
			})
			var spans []spanSpec
			for _, d := range durs {
				spans = append(spans, spanSpec{svc: "s", name: "op", dur: d})
			}
			require.NoError(t, tc.ConsumeTraces(context.Background(), buildTraces(t, spans...)))
			dp := expoPoints(t, tc.flushNow(t), "span.duration").At(0)
			require.LessOrEqual(t, dp.Scale(), tt.maxScale)
			// Every value must sit in the bucket (base^i, base^(i+1)] the emitted scale assigns it.
			want := map[int32]uint64{}
			for _, d := range durs {
				v := d.Seconds()
				idx := int32(math.Ceil(math.Log2(v)*math.Exp2(float64(dp.Scale())))) - 1
				want[idx]++
			}
			got := map[int32]uint64{}
			for i := 0; i < dp.Positive().BucketCounts().Len(); i++ {
				if n := dp.Positive().BucketCounts().At(i); n > 0 {
					got[dp.Positive().Offset()+int32(i)] = n
				}
			}
			require.Equal(t, want, got)
		})
	}
}

func TestWarmupDerivesBounds(t *testing.T) {
	tests := []struct {
		name        string
		n           int
		wantDerived bool
	}{
		{name: "warm-up completes", n: 200, wantDerived: true},
		{name: "too few before the first flush", n: 50, wantDerived: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := newTestConnector(t, func(c *Config) { c.Histogram.Explicit.WarmupObservations = 200 })
			var spans []spanSpec
			values := lognormalValues(rand.New(rand.NewPCG(7, 8)), tt.n, 0.3, 0.5)
			for _, v := range values {
				spans = append(spans, spanSpec{svc: "s", name: "op", dur: time.Duration(v * 1e9)})
			}
			require.NoError(t, tc.ConsumeTraces(context.Background(), buildTraces(t, spans...)))
			dp := histPoints(t, tc.flushNow(t), "span.duration").At(0)
			bounds := dp.ExplicitBounds().AsRaw()
			require.Len(t, bounds, len(defaultBounds()), "the number of bounds is kept")
			require.NoError(t, validateBounds(bounds))
			if tt.wantDerived {
				sorted := slices.Clone(values)
				for i := range sorted {
					sorted[i] = time.Duration(sorted[i] * 1e9).Seconds()
				}
				slices.Sort(sorted)
				require.InEpsilon(t, sorted[len(sorted)/200], bounds[0], 0.005)
				require.InEpsilon(t, 2*sorted[len(sorted)-1], bounds[len(bounds)-1], 0.005)
			} else {
				require.Equal(t, defaultBounds(), bounds)
			}
			// Every buffered observation was replayed into the bucket its value belongs to.
			want := make([]uint64, len(bounds)+1)
			for _, v := range values {
				v = time.Duration(v * 1e9).Seconds()
				i := 0
				for i < len(bounds) && v > bounds[i] {
					i++
				}
				want[i]++
			}
			require.Equal(t, want, dp.BucketCounts().AsRaw())
			require.Equal(t, uint64(tt.n), dp.Count())
		})
	}
}

func TestFractionalAdjustedCountsStayUnbiased(t *testing.T) {
	th, err := sampling.ProbabilityToThreshold(0.3)
	require.NoError(t, err)
	ac := th.AdjustedCount()
	require.NotEqual(t, math.Round(ac), ac, "the case needs a non-integer adjusted count")
	tc := newTestConnector(t, nil)
	span := spanSpec{svc: "s", name: "op", dur: 10 * time.Millisecond, traceState: "ot=th:" + th.TValue()}
	spans := make([]spanSpec, 300)
	for i := range spans {
		spans[i] = span
	}
	require.NoError(t, tc.ConsumeTraces(context.Background(), buildTraces(t, spans...)))
	dp := histPoints(t, tc.flushNow(t), "span.duration").At(0)
	// Rounding each item to 3 would lose a tenth of the traffic; carrying the fraction keeps the
	// total within one of the exact sum.
	require.InDelta(t, 300*ac, float64(dp.Count()), 1)
	var inBuckets uint64
	for _, n := range dp.BucketCounts().AsRaw() {
		inBuckets += n
	}
	require.Equal(t, dp.Count(), inBuckets)
}
