package tracesampling

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/sieveobs/sieve/internal/policy/engine"
	"github.com/sieveobs/sieve/processors/tracesampling/internal/metadata"
)

const benchPolicy = `
default_rate: 0.1
services:
  checkout: {rate: 0.25, operations: {"POST /pay": 1, "GET /cart": 0.5}}
  payments: {rate: 0.01}
rules:
  - {name: health, action: never, span_name: "GET /healthz"}
adaptive:
  - {service: search, target_spans_per_second: 1000}
`

func benchSpans(n int) ptrace.Traces {
	services := []string{"checkout", "payments", "search", "web"}
	names := []string{"GET /cart", "POST /pay", "GET /", "db.query"}
	spans := make([]spanIn, n)
	for i := range spans {
		spans[i] = spanIn{service: services[i%4], name: names[(i/4)%4], r: uint64(i+1) * 0x9e3779b97f4a7c15, child: i%3 != 0}
	}
	return buildTraces(spans...)
}

// BenchmarkDecide measures one span decision on the hot path: rule check, rate lookup,
// consistent comparison and tracestate encoding of kept spans.
func BenchmarkDecide(b *testing.B) {
	for _, tc := range []struct {
		name       string
		rules      bool
		tracestate string
	}{
		{"no_rules", false, ""},
		{"with_rules", true, ""},
	} {
		b.Run(tc.name, func(b *testing.B) {
			doc := "default_rate: 0.1\nservices:\n  checkout: {rate: 0.25, operations: {\"POST /pay\": 1}}\n"
			if tc.rules {
				doc = benchPolicy
			}
			snap := compile(b, doc)
			p, err := newTraceSampler(processortest.NewNopSettings(metadata.Type), &Config{Rate: 1}, consumertest.NewNop(), time.Now)
			require.NoError(b, err)
			p.engine = engine.New(snap)
			td := benchSpans(1024)
			type item struct {
				ent     *engine.Entry
				service string
				rs      ptrace.ResourceSpans
				span    ptrace.Span
			}
			items := make([]item, 0, 1024)
			for i := 0; i < td.ResourceSpans().Len(); i++ {
				rs := td.ResourceSpans().At(i)
				svc := serviceName(rs.Resource())
				items = append(items, item{snap.Lookup(svc), svc, rs, rs.ScopeSpans().At(0).Spans().At(0)})
			}
			var c batchCounts
			kept := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				it := &items[i&1023]
				it.span.TraceState().FromRaw(tc.tracestate)
				if ok, _ := p.decide(context.Background(), snap, it.ent, it.rs, it.rs.ScopeSpans().At(0), it.service, it.span, false, &c); ok {
					kept++
				}
			}
			b.StopTimer()
			if b.N >= 1024 {
				require.Positive(b, kept, "the benchmark must exercise kept spans")
			}
		})
	}
}

// BenchmarkProcessTraces measures whole batches through the processor; ns/span is reported.
func BenchmarkProcessTraces(b *testing.B) {
	const batch = 1000
	proc := newProcessor(b, engine.New(compile(b, benchPolicy)), nil, nil)
	src := benchSpans(batch)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		td := ptrace.NewTraces()
		src.CopyTo(td)
		b.StartTimer()
		require.NoError(b, proc.ConsumeTraces(context.Background(), td))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/span")
}
