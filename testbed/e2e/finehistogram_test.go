package e2e

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sieveobs/sieve/testbed/backends"
	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/sieveproc"
)

// TestSpanLatencyP99FromPrometheus sends spans with known durations through the gateway pipeline
// and reads P99 back from real Prometheus with histogram_quantile, as a dashboard would. The
// shipped policy keeps 1% of this service's traces: the test checks that trace_sampling really
// dropped about 99% of the spans in the same run, while the histogram still counts all of them.
func TestSpanLatencyP99FromPrometheus(t *testing.T) {
	prom := backends.StartPrometheus(t, backends.PrometheusOptions{})
	loki := backends.StartLoki(t, backends.LokiOptions{})
	sieve := sieveproc.StartT(t, sieveproc.Options{
		Config: harness.RepoPath("configs/gateway.yaml"),
		Env: map[string]string{
			"SIEVE_LOKI_PUSH_URL":            loki.PushURL(),
			"SIEVE_PROMETHEUS_RW_URL":        prom.RemoteWriteURL(),
			"SIEVE_HISTOGRAM_FLUSH_INTERVAL": "1s",
		},
	})
	conn, err := grpc.NewClient(sieve.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// Lognormal latencies, median 50 ms: the shape of a typical RPC.
	const spans, perRequest = 100_000, 1000
	rng := rand.New(rand.NewPCG(7, 9))
	durations := make([]float64, 0, spans)
	end := time.Now()
	for sent := 0; sent < spans; sent += perRequest {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "latency-e2e")
		ss := rs.ScopeSpans().AppendEmpty().Spans()
		for i := range perRequest {
			d := 0.05 * math.Exp(0.6*rng.NormFloat64())
			durations = append(durations, d)
			sp := ss.AppendEmpty()
			var tid [16]byte
			var sid [8]byte
			for k := range tid {
				tid[k] = byte(rng.Uint32())
			}
			sid[0], sid[1] = byte(i), byte(sent>>8)
			sp.SetTraceID(pcommon.TraceID(tid))
			sp.SetSpanID(pcommon.SpanID(sid))
			sp.SetName("GET /items")
			sp.SetKind(ptrace.SpanKindServer)
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-time.Duration(d * float64(time.Second)))))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
		}
		_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
		require.NoError(t, err)
	}
	sort.Float64s(durations)
	exact := durations[int(math.Ceil(0.99*float64(len(durations))))-1]

	countQ := `sum(span_duration_seconds_count{service_name="latency-e2e"})`
	require.Eventually(t, func() bool {
		res, err := prom.Query(ctx, countQ, time.Now())
		return err == nil && len(res) == 1 && res[0].Value == spans
	}, 2*time.Minute, time.Second, "every span must be counted once in Prometheus")

	// Tail sampling decides each trace decision_wait after its last span.
	var kept, dropped float64
	require.Eventually(t, func() bool {
		kept = harness.SumAt(t, sieve.TelemetryURL, "otelcol_processor_trace_sampling_spans_kept")
		dropped = harness.SumAt(t, sieve.TelemetryURL, "otelcol_processor_trace_sampling_spans_dropped")
		return kept+dropped == float64(spans)
	}, time.Minute, 200*time.Millisecond, "trace_sampling must see every span once")
	// configs/policy.yaml: default_rate 0.01. Five standard deviations of a binomial count.
	const rate = 0.01
	bound := 5 * math.Sqrt(spans*rate*(1-rate))
	require.InDelta(t, spans*rate, kept, bound, "trace_sampling must keep about 1%% of the spans")

	res, err := prom.Query(ctx, `histogram_quantile(0.99, sum by (le) (span_duration_seconds_bucket{service_name="latency-e2e"}))`, time.Now())
	require.NoError(t, err)
	require.Len(t, res, 1)
	relErr := (res[0].Value - exact) / exact
	t.Logf("P99 exact %.6fs, from Prometheus %.6fs, relative error %+.3f%%; trace_sampling kept %.0f of %d spans (%.2f%%)",
		exact, res[0].Value, 100*relErr, kept, spans, 100*kept/spans)
	require.LessOrEqual(t, math.Abs(relErr), 0.02, fmt.Sprintf("P99 off by %.3f%%", 100*relErr))
}
