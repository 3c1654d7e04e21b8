package finehistogram

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/lightstep/go-expohisto/structure"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sieveobs/sieve/connectors/finehistogram/internal/expohist"
	"github.com/sieveobs/sieve/connectors/finehistogram/internal/metadata"
	"github.com/sieveobs/sieve/connectors/finehistogram/internal/metadatatest"
)

// benchSetups are the histogram configurations the per-item benchmarks compare.
var benchSetups = []struct {
	name   string
	mutate func(*Config)
}{
	{KindExplicit, func(c *Config) { c.Histogram.Kind = KindExplicit }},
	{"exponential/dense", func(c *Config) {
		c.Histogram.Kind = KindExponential
		c.Histogram.Exponential.Layout = LayoutDense
	}},
	{"exponential/sparse", func(c *Config) {
		c.Histogram.Kind = KindExponential
		c.Histogram.Exponential.Layout = LayoutSparse
	}},
}

// BenchmarkObserve measures recording one observation into an existing series, the per-item
// cost that the ≤30 ns / 0 allocs target is about.
func BenchmarkObserve(b *testing.B) {
	values := lognormalValues(rand.New(rand.NewPCG(1, 2)), 4096, 0.05, 0.6)
	for _, setup := range benchSetups {
		b.Run(setup.name, func(b *testing.B) {
			tc := newTestConnector(&testing.T{}, setup.mutate)
			s, _, _ := tc.agg.create(tc.agg.metric("span.duration"), []byte("k"), epoch)
			now := epoch
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tc.agg.record(s, values[i&4095], 1, now)
			}
		})
	}
	// The record path as it was with go-expohisto's structure, for comparison.
	b.Run("exponential/go-expohisto", func(b *testing.B) {
		s := &series{}
		expo := new(structure.Float64)
		expo.Init(structure.NewConfig(structure.WithMaxSize(160)))
		now := epoch
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			v := values[i&4095]
			s.lastSeen = now
			if s.count == 0 {
				s.min, s.max = v, v
			} else {
				s.min, s.max = math.Min(s.min, v), math.Max(s.max, v)
			}
			s.count++
			s.sum += v
			expo.UpdateByIncr(v, 1)
		}
	})
}

// BenchmarkExpohistoUpdate is the exponential structure's own cost per observation, the floor
// under BenchmarkObserve/exponential, with go-expohisto's for comparison.
func BenchmarkExpohistoUpdate(b *testing.B) {
	values := lognormalValues(rand.New(rand.NewPCG(1, 2)), 4096, 0.05, 0.6)
	for _, layout := range []struct {
		name string
		l    expohist.Layout
	}{{"dense", expohist.Dense}, {"sparse", expohist.Sparse}} {
		b.Run(layout.name, func(b *testing.B) {
			var h expohist.Histogram
			h.Init(layout.l, 160)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				h.UpdateByIncr(values[i&4095], 1)
			}
		})
	}
	b.Run("go-expohisto", func(b *testing.B) {
		h := new(structure.Float64)
		h.Init(structure.NewConfig(structure.WithMaxSize(160)))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			h.UpdateByIncr(values[i&4095], 1)
		}
	})
}

// BenchmarkSeriesMemory reports the heap held per exponential series filled to 160 buckets
// (values spread over 9.9 octaves: 159 buckets at scale 4): "B/series" with the series'
// bookkeeping, "B/histogram" the bucket structure alone. A first pass, not measured, builds the
// mapping tables, which are shared by the whole process.
func BenchmarkSeriesMemory(b *testing.B) {
	const n = 2000
	rng := rand.New(rand.NewPCG(5, 6))
	values := make([]float64, 20_000)
	for i := range values {
		values[i] = 1e-3 * math.Exp2(9.9*rng.Float64())
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	measure := func(b *testing.B, unit string, fill func() any) {
		for it := 0; it < b.N; it++ {
			runtime.KeepAlive(fill())
			before := heap()
			kept := fill()
			after := heap()
			b.ReportMetric(float64(after-before)/n, unit)
			runtime.KeepAlive(kept)
		}
	}
	for _, setup := range benchSetups[1:] {
		b.Run(setup.name, func(b *testing.B) {
			measure(b, "B/series", func() any {
				tc := newTestConnector(&testing.T{}, func(c *Config) {
					setup.mutate(c)
					c.CardinalityLimit = 0
				})
				m := tc.agg.metric("span.duration")
				for i := 0; i < n; i++ {
					s, _, _ := tc.agg.create(m, []byte(strconv.Itoa(i)), epoch)
					for _, v := range values {
						tc.agg.record(s, v, 1, epoch)
					}
				}
				return tc
			})
		})
	}
	for _, layout := range []struct {
		name string
		l    expohist.Layout
	}{{"histogram-only/dense", expohist.Dense}, {"histogram-only/sparse", expohist.Sparse}} {
		b.Run(layout.name, func(b *testing.B) {
			measure(b, "B/histogram", func() any {
				all := make([]*expohist.Histogram, n)
				for i := range all {
					all[i] = new(expohist.Histogram)
					all[i].Init(layout.l, 160)
					for _, v := range values {
						all[i].Update(v)
					}
				}
				return all
			})
		})
	}
	b.Run("histogram-only/go-expohisto", func(b *testing.B) {
		measure(b, "B/histogram", func() any {
			all := make([]*structure.Float64, n)
			for i := range all {
				all[i] = new(structure.Float64)
				all[i].Init(structure.NewConfig(structure.WithMaxSize(160)))
				for _, v := range values {
					all[i].Update(v)
				}
			}
			return all
		})
	})
}

// BenchmarkConsumeSpan measures the whole per-span path: series key, lookup, weight, record.
func BenchmarkConsumeSpan(b *testing.B) {
	for _, setup := range benchSetups {
		b.Run(setup.name, func(b *testing.B) {
			t := &testing.T{}
			tc := newTestConnector(t, func(c *Config) {
				setup.mutate(c)
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
