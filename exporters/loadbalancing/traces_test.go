package loadbalancing

import (
	"context"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sieveobs/sieve/exporters/loadbalancing/internal/metadata"
)

func traceSpans(ids ...pcommon.TraceID) ptrace.Traces {
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for _, id := range ids {
		s := spans.AppendEmpty()
		s.SetTraceID(id)
		s.SetName("op")
	}
	return td
}

// TestOracleTracesRouteAsContrib: Sieve's traces exporter sends every trace to the endpoint
// contrib's traces exporter sends it to, over the same three endpoints.
func TestOracleTracesRouteAsContrib(t *testing.T) {
	ours := []*backend{startBackend(t), startBackend(t), startBackend(t)}
	// Sieve's run first, then contrib's on the same endpoints, the counts reset in between.
	var hosts []any
	for _, b := range ours {
		hosts = append(hosts, b.addr)
	}
	cfg := testConfig(t, map[string]any{
		"routing_key": "traceID",
		"protocol":    map[string]any{"otlp": syncOTLP()},
		"resolver":    map[string]any{"static": map[string]any{"hostnames": hosts}},
	})
	ctx := context.Background()
	set := exportertest.NewNopSettings(metadata.Type)
	rng := rand.New(rand.NewPCG(7, 8))
	ids := make([]pcommon.TraceID, 200)
	for i := range ids {
		for j := range ids[i] {
			ids[i][j] = byte(rng.IntN(256))
		}
	}
	sieveExp, err := NewFactory().CreateTraces(ctx, set, cfg)
	require.NoError(t, err)
	require.NoError(t, sieveExp.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, sieveExp.ConsumeTraces(ctx, traceSpans(ids...)))
	require.NoError(t, sieveExp.Shutdown(ctx))
	sieveAt := map[pcommon.TraceID]int{}
	for i, b := range ours {
		b.mu.Lock()
		for id := range b.spans {
			sieveAt[id] = i
		}
		b.spans = map[pcommon.TraceID]int{}
		b.mu.Unlock()
	}

	contribExp, err := contribFactory.CreateTraces(ctx, set, &cfg.Config)
	require.NoError(t, err)
	require.NoError(t, contribExp.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, contribExp.ConsumeTraces(ctx, traceSpans(ids...)))
	require.NoError(t, contribExp.Shutdown(ctx))
	used := map[int]bool{}
	for _, id := range ids {
		at := -1
		for i, b := range ours {
			if b.spans[id] > 0 {
				at = i
			}
		}
		require.Equal(t, at, sieveAt[id], "trace %s", id)
		used[at] = true
	}
	require.Len(t, used, 3)
}

// With one endpoint down, the error carries only that endpoint's spans for the retry; the
// others were delivered.
func TestTracesPartialFailure(t *testing.T) {
	bs := []*backend{startBackend(t), startBackend(t), startBackend(t)}
	var hosts []any
	for _, b := range bs {
		hosts = append(hosts, b.addr)
	}
	cfg := testConfig(t, map[string]any{
		"protocol": map[string]any{"otlp": syncOTLP()},
		"resolver": map[string]any{"static": map[string]any{"hostnames": hosts}},
	})
	exp, err := NewFactory().CreateTraces(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, exp.Start(ctx, componenttest.NewNopHost()))
	defer func() { require.NoError(t, exp.Shutdown(ctx)) }()

	down := bs[1]
	down.srv.Stop()
	ids := randomIDs(90)
	err = exp.ConsumeTraces(ctx, traceSpans(ids...))
	require.Error(t, err)
	require.False(t, consumererror.IsPermanent(err))
	var part consumererror.Traces
	require.ErrorAs(t, err, &part)
	sorted := make([]string, len(hosts))
	for i, h := range hosts {
		sorted[i] = h.(string)
	}
	sort.Strings(sorted)
	r := newRing(sorted)
	wantRetry := 0
	for _, id := range ids {
		if r.endpointFor(id[:]) == down.addr {
			wantRetry++
		}
	}
	require.Positive(t, wantRetry)
	require.Equal(t, wantRetry, part.Data().SpanCount(), "only the spans of the endpoint down are retried")
	delivered := 0
	for _, b := range []*backend{bs[0], bs[2]} {
		b.mu.Lock()
		for _, n := range b.spans {
			delivered += n
		}
		b.mu.Unlock()
	}
	require.Equal(t, len(ids)-wantRetry, delivered)
}
