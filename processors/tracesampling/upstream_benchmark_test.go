package tracesampling

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/probabilisticsamplerprocessor"

	"github.com/sieveobs/sieve/internal/policy/engine"
)

// groupedSpans is a batch shaped like an SDK export: a few services, each with many spans.
func groupedSpans(perService int) ptrace.Traces {
	td := ptrace.NewTraces()
	names := []string{"GET /cart", "POST /pay", "GET /", "db.query"}
	r := uint64(1)
	for _, svc := range []string{"checkout", "payments", "search", "web"} {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", svc)
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for i := range perService {
			r *= 0x9e3779b97f4a7c15
			sp := spans.AppendEmpty()
			sp.SetName(names[i%len(names)])
			sp.SetTraceID(traceID(r))
			sp.SetSpanID(pcommon.SpanID{byte(i), 2, 3})
			sp.Attributes().PutStr("http.route", names[i%len(names)])
		}
	}
	return td
}

// BenchmarkVersusUpstream runs the same batches through trace_sampling at a policy rate of 10%
// and through contrib's probabilistic_sampler at 10%, both ending in a no-op consumer.
func BenchmarkVersusUpstream(b *testing.B) {
	const perService = 250
	ctx := context.Background()
	ours := newProcessor(b, engine.New(compile(b, "default_rate: 0.1\n")), nil, nil)

	f := probabilisticsamplerprocessor.NewFactory()
	cfg := f.CreateDefaultConfig()
	require.NoError(b, confmap.NewFromStringMap(map[string]any{"sampling_percentage": 10}).Unmarshal(cfg))
	upstream, err := f.CreateTraces(ctx, processortest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
	require.NoError(b, err)
	require.NoError(b, upstream.Start(ctx, componenttest.NewNopHost()))
	b.Cleanup(func() { require.NoError(b, upstream.Shutdown(ctx)) })

	for _, tc := range []struct {
		name string
		c    consumer.Traces
	}{{"trace_sampling", ours}, {"probabilistic_sampler", upstream}} {
		b.Run(tc.name, func(b *testing.B) {
			src := groupedSpans(perService)
			copies := make([]ptrace.Traces, 64)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%len(copies) == 0 {
					b.StopTimer()
					for j := range copies {
						copies[j] = ptrace.NewTraces()
						src.CopyTo(copies[j])
					}
					b.StartTimer()
				}
				_ = tc.c.ConsumeTraces(ctx, copies[i%len(copies)])
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*4*perService), "ns/span")
		})
	}
}

// TestUpstreamComparisonKeepsTheSameSpans makes the comparison fair: at the same rate on the
// same trace IDs both keep the same spans.
func TestUpstreamComparisonKeepsTheSameSpans(t *testing.T) {
	ctx := context.Background()
	ourSink, upSink := new(consumertest.TracesSink), new(consumertest.TracesSink)
	ours := newProcessor(t, engine.New(compile(t, "default_rate: 0.1\n")), nil, ourSink)
	f := probabilisticsamplerprocessor.NewFactory()
	cfg := f.CreateDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(map[string]any{"sampling_percentage": 10, "mode": "equalizing"}).Unmarshal(cfg))
	upstream, err := f.CreateTraces(ctx, processortest.NewNopSettings(f.Type()), cfg, upSink)
	require.NoError(t, err)
	require.NoError(t, upstream.Start(ctx, componenttest.NewNopHost()))
	defer func() { require.NoError(t, upstream.Shutdown(ctx)) }()

	src := groupedSpans(5000)
	in := ptrace.NewTraces()
	src.CopyTo(in)
	require.NoError(t, ours.ConsumeTraces(ctx, in))
	in = ptrace.NewTraces()
	src.CopyTo(in)
	require.NoError(t, upstream.ConsumeTraces(ctx, in))

	ids := func(s *consumertest.TracesSink) map[pcommon.TraceID]bool {
		out := map[pcommon.TraceID]bool{}
		for _, td := range s.AllTraces() {
			for i := 0; i < td.ResourceSpans().Len(); i++ {
				spans := td.ResourceSpans().At(i).ScopeSpans().At(0).Spans()
				for j := 0; j < spans.Len(); j++ {
					out[spans.At(j).TraceID()] = true
				}
			}
		}
		return out
	}
	got, want := ids(ourSink), ids(upSink)
	require.InDelta(t, 2000, len(got), 200, "10% of 20,000")
	require.Equal(t, want, got)
}
