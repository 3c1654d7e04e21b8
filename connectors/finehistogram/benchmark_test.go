package finehistogram

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sieveobs/sieve/connectors/finehistogram/internal/metadata"
	"github.com/sieveobs/sieve/connectors/finehistogram/internal/metadatatest"
)

// BenchmarkObserve measures recording one observation into an existing series, the per-item
// cost that the ≤30 ns / 0 allocs target is about.
func BenchmarkObserve(b *testing.B) {
	for _, kind := range []string{KindExplicit, KindExponential} {
		b.Run(kind, func(b *testing.B) {
			cfg := createDefaultConfig().(*Config)
			cfg.Histogram.Kind = kind
			tc := newTestConnector(&testing.T{}, func(c *Config) { *c = *cfg })
			s, _, _ := tc.agg.create(tc.agg.metric("span.duration"), []byte("k"), epoch)
			values := lognormalValues(rand.New(rand.NewPCG(1, 2)), 4096, 0.05, 0.6)
			now := epoch
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tc.agg.record(s, values[i&4095], 1, now)
			}
		})
	}
}

// BenchmarkExpohistoUpdate is the exponential library's own cost per observation, the floor
// under BenchmarkObserve/exponential.
func BenchmarkExpohistoUpdate(b *testing.B) {
	cfg := createDefaultConfig().(*Config)
	cfg.Histogram.Kind = KindExponential
	tc := newTestConnector(&testing.T{}, func(c *Config) { *c = *cfg })
	s, _, _ := tc.agg.create(tc.agg.metric("span.duration"), []byte("k"), epoch)
	values := lognormalValues(rand.New(rand.NewPCG(1, 2)), 4096, 0.05, 0.6)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.expo.UpdateByIncr(values[i&4095], 1)
	}
}

// BenchmarkConsumeSpan measures the whole per-span path: series key, lookup, weight, record.
func BenchmarkConsumeSpan(b *testing.B) {
	for _, kind := range []string{KindExplicit, KindExponential} {
		b.Run(kind, func(b *testing.B) {
			t := &testing.T{}
			tc := newTestConnector(t, func(c *Config) {
				c.Histogram.Kind = kind
				c.Dimensions = []string{"http.route"}
			})
			td := benchSpans(t)
			require.NoError(b, tc.ConsumeTraces(context.Background(), td))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += 1024 {
				_ = tc.ConsumeTraces(context.Background(), td)
			}
			b.StopTimer()
			// One op is one span, whatever b.N is rounded to.
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64((b.N+1023)/1024*1024), "ns/span")
		})
	}
}

// BenchmarkConsumeSpanJournaled is BenchmarkConsumeSpan with storage set: the cost of writing
// each request to the journal on contrib's file_storage before counting it.
func BenchmarkConsumeSpanJournaled(b *testing.B) {
	t := &testing.T{}
	host, ext := startStorage(t, b.TempDir())
	defer func() { _ = ext.Shutdown(context.Background()) }()
	cfg := createDefaultConfig().(*Config)
	cfg.Dimensions = []string{"http.route"}
	cfg.Storage = &storageID
	set := metadatatest.NewSettings(componenttest.NewTelemetry())
	set.ID = component.NewID(metadata.Type)
	c, err := newConnector(set, cfg, new(consumertest.MetricsSink), newFakeClock())
	require.NoError(b, err)
	require.NoError(b, c.Start(context.Background(), host))
	defer func() { _ = c.Shutdown(context.Background()) }()
	td := benchSpans(t)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 1024 {
		if err := c.ConsumeTraces(context.Background(), td); err != nil {
			b.Fatal(err)
		}
		if i%(64*1024) == 0 {
			// A flush every 64 requests keeps the journal at a steady size, as the flush
			// interval does in a running gateway.
			c.flush(context.Background())
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64((b.N+1023)/1024*1024), "ns/span")
}

// benchSpans is one request of 1,024 spans of four routes with lognormal durations and a sampling
// threshold in their tracestate (ot=th:fd70a), which the span benchmarks consume again and again.
func benchSpans(t *testing.T) ptrace.Traces {
	rng := rand.New(rand.NewPCG(3, 4))
	values := lognormalValues(rng, 1024, 0.05, 0.6)
	specs := make([]spanSpec, 1024)
	for i := range specs {
		specs[i] = spanSpec{
			svc: "checkout", name: "GET /cart", kind: ptrace.SpanKindServer,
			dur:        time.Duration(values[i] * 1e9),
			attrs:      map[string]any{"http.route": []string{"/a", "/b", "/c", "/d"}[i%4]},
			traceState: "ot=th:fd70a",
			id:         byte(i),
		}
	}
	return buildTraces(t, specs...)
}
