package pool

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
)

// sendTailTrace sends one three-hop trace with one info log per span carrying the trace
// context; failed sets an error status on the last hop.
func (c *client) sendTailTrace(ctx context.Context, i int, failed bool) trace.TraceID {
	end := time.Now()
	var tid trace.TraceID
	var spans []trace.Span
	for h := range hops {
		start := end.Add(-time.Duration(h+1) * 5 * time.Millisecond)
		var span trace.Span
		ctx, span = c.tracers[h].Start(ctx, hops[h].operation, trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start))
		tid = span.SpanContext().TraceID()
		c.loggers[h].Info("request served", zap.String("uid", fmt.Sprintf("tail-%d", i)), zap.Any("ctx", ctx))
		if failed && h == len(hops)-1 {
			span.SetStatus(codes.Error, "declined")
		}
		spans = append(spans, span)
	}
	for _, s := range spans {
		s.End(trace.WithTimestamp(end))
	}
	return tid
}

// TestPoolTailSamplesWholeTraces sends traces through an agent to three gateways, each deciding
// the traces it receives: every error trace reaches Jaeger whole, with every one of its log
// records in Loki, though its spans and logs came from three services; ordinary traces are kept
// at the policy's 1%, whole; and every gateway of the pool took a share of the decisions.
func TestPoolTailSamplesWholeTraces(t *testing.T) {
	f := startFleetWith(t, 3, true)
	cl := newClient(t, f.agent.OTLPGRPC)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	const traces = 1200
	failed := map[trace.TraceID]bool{}
	var all []trace.TraceID
	for i := range traces {
		bad := i%20 == 0
		tid := cl.sendTailTrace(ctx, i, bad)
		all = append(all, tid)
		if bad {
			failed[tid] = true
		}
	}
	cl.forceFlush(t)

	spans := float64(traces * len(hops))
	require.Eventually(t, func() bool {
		return sum(f.scrapeAll(t, "otelcol_processor_trace_sampling_spans_kept"))+
			sum(f.scrapeAll(t, "otelcol_processor_trace_sampling_spans_dropped")) == spans
	}, 2*time.Minute, 200*time.Millisecond, "every span decided by one gateway")
	byGateway := f.scrapeAll(t, "otelcol_processor_trace_sampling_traces_kept")
	dropped := f.scrapeAll(t, "otelcol_processor_trace_sampling_traces_dropped")
	for g := range f.gateways {
		require.Positive(t, byGateway[g]+dropped[g], "gateway-%d decided no trace", g)
	}
	require.Equal(t, float64(len(failed)), sum(f.scrapeAll(t, "otelcol_processor_trace_sampling_traces_kept", "reason", "error")),
		"every error trace decided once, whole, by one gateway")

	// Jaeger: every error trace whole; the rest at the 1% default rate, each whole.
	for tid := range failed {
		require.Eventually(t, func() bool {
			js, err := f.jaeger.Trace(ctx, tid.String())
			return err == nil && len(js) == len(hops)
		}, time.Minute, 200*time.Millisecond, "error trace %s whole in Jaeger", tid)
	}
	var ordinaryKept int
	for _, tid := range all {
		if failed[tid] {
			continue
		}
		js, err := f.jaeger.Trace(ctx, tid.String())
		require.NoError(t, err)
		if len(js) > 0 {
			require.Len(t, js, len(hops), "trace %s kept, but not whole", tid)
			ordinaryKept++
		}
	}
	ordinary := float64(traces - len(failed))
	require.InDelta(t, 0.01*ordinary, float64(ordinaryKept), 3.29*math.Sqrt(ordinary*0.01*0.99)+1, "ordinary traces kept at 1%%")

	// Loki: the three info records of every error trace (their tier keeps 0.1%); they followed
	// their trace on the gateway that decided it.
	for tid := range failed {
		require.Eventually(t, func() bool {
			s, err := f.loki.QueryMetric(ctx, "", fmt.Sprintf(`sum(count_over_time({service_name=~"pool-.*"} | trace_id=%q [10m]))`, tid.String()), time.Now())
			return err == nil && len(s) == 1 && s[0].Value == float64(len(hops))
		}, time.Minute, 500*time.Millisecond, "the logs of error trace %s in Loki", tid)
	}
	t.Logf("%d traces through 3 gateways: kept per gateway %v, dropped %v; %d error traces whole in Jaeger with their logs in Loki; %d of %.0f ordinary traces kept",
		traces, byGateway, dropped, len(failed), ordinaryKept, ordinary)
}
