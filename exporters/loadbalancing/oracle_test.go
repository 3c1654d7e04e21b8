package loadbalancing

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sieveobs/sieve/exporters/loadbalancing/internal/metadata"
)

// TestOracleLogsFollowContribSpans is the reference test: contrib's traces exporter and Sieve's
// logs exporter, configured alike with three real OTLP/gRPC endpoints, get spans and log records
// of the same random trace IDs; every log record must reach the endpoint its trace's spans
// reached. Contrib's own logs exporter is run too, to show what this fixes.
func TestOracleLogsFollowContribSpans(t *testing.T) {
	const traces = 200
	backends := []*backend{startBackend(t), startBackend(t), startBackend(t)}
	var hosts []any
	for _, b := range backends {
		hosts = append(hosts, b.addr)
	}
	cfg := testConfig(t, map[string]any{
		"routing_key": "traceID",
		"protocol":    map[string]any{"otlp": syncOTLP()},
		"resolver":    map[string]any{"static": map[string]any{"hostnames": hosts}},
	})
	ctx := context.Background()
	set := exportertest.NewNopSettings(metadata.Type)
	host := componenttest.NewNopHost()

	spansExp, err := contribFactory.CreateTraces(ctx, set, &cfg.Config)
	require.NoError(t, err)
	logsExp, err := NewFactory().CreateLogs(ctx, set, cfg)
	require.NoError(t, err)
	contribLogs, err := contribFactory.CreateLogs(ctx, set, &cfg.Config)
	require.NoError(t, err)
	require.NoError(t, spansExp.Start(ctx, host))
	require.NoError(t, logsExp.Start(ctx, host))
	require.NoError(t, contribLogs.Start(ctx, host))
	defer func() {
		require.NoError(t, spansExp.Shutdown(ctx))
		require.NoError(t, logsExp.Shutdown(ctx))
		require.NoError(t, contribLogs.Shutdown(ctx))
	}()

	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]pcommon.TraceID, traces)
	td := ptrace.NewTraces()
	ld := plog.NewLogs()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	// Two resources, so records of one trace also come from separate resource and scope runs.
	recsA := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	rlB := ld.ResourceLogs().AppendEmpty()
	rlB.Resource().Attributes().PutStr("service.name", "b")
	recsB := rlB.ScopeLogs().AppendEmpty().LogRecords()
	for i := range ids {
		for j := range ids[i] {
			ids[i][j] = byte(rng.IntN(256))
		}
		for range 2 {
			s := spans.AppendEmpty()
			s.SetTraceID(ids[i])
			s.SetName("op")
		}
		for _, recs := range []plog.LogRecordSlice{recsA, recsB} {
			r := recs.AppendEmpty()
			r.SetTraceID(ids[i])
			r.Body().SetStr("msg")
		}
	}
	// Records without a trace ID are spread and must all arrive somewhere.
	for range 30 {
		recsA.AppendEmpty().Body().SetStr("no trace")
	}
	require.NoError(t, spansExp.ConsumeTraces(ctx, td))
	require.NoError(t, logsExp.ConsumeLogs(ctx, ld))

	spanAt := func(id pcommon.TraceID) int {
		at := -1
		for i, b := range backends {
			if b.spans[id] > 0 {
				require.Equal(t, -1, at, "contrib sent the spans of one trace to two endpoints")
				at = i
			}
		}
		return at
	}
	used := map[int]bool{}
	total := 0
	for _, id := range ids {
		at := spanAt(id)
		require.NotEqual(t, -1, at)
		used[at] = true
		for i, b := range backends {
			if i == at {
				require.Equal(t, 2, b.logs[id], "trace %s: both log records with its spans on endpoint %d", id, at)
			} else {
				require.Zero(t, b.logs[id], "trace %s: log records on endpoint %d, spans on endpoint %d", id, i, at)
			}
		}
	}
	require.Len(t, used, 3, "trace IDs spread over the three endpoints")
	noTrace := 0
	for _, b := range backends {
		noTrace += b.logs[pcommon.NewTraceIDEmpty()]
		total += b.logRecords
	}
	require.Equal(t, 30, noTrace)
	require.Equal(t, 2*traces+30, total)

	// Contrib's logs routing, for the record: how many traces it separates from their spans.
	for _, b := range backends {
		b.mu.Lock()
		b.logs = map[pcommon.TraceID]int{}
		b.mu.Unlock()
	}
	require.NoError(t, contribLogs.ConsumeLogs(ctx, ld))
	apart := 0
	for _, id := range ids {
		if backends[spanAt(id)].logs[id] != 2 {
			apart++
		}
	}
	t.Logf("contrib's logs exporter: %d of %d traces' logs away from their spans; Sieve's: 0", apart, traces)
}
