package e2e

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// TestGatewayTailOverload sends the shipped gateway, its tail buffer cut to 300 traces and 1 MiB,
// ten times more concurrent traces than it holds: the buffer stays within both bounds, the
// traces that did not fit are decided early (counted), and every error trace reaches Jaeger
// whole, since each arrives whole and the early decision sees its error span.
func TestGatewayTailOverload(t *testing.T) {
	var (
		jaeger *backends.Jaeger
		loki   *backends.Loki
		prom   *backends.Prometheus
	)
	startBackendsInParallel(t, &jaeger, &loki, &prom)
	raw, err := os.ReadFile(harness.RepoPath("configs/gateway.yaml"))
	require.NoError(t, err)
	cfg := string(raw)
	for old, repl := range map[string]string{"max_traces: 100000": "max_traces: 300", "max_bytes: 268435456": "max_bytes: 1048576"} {
		require.Contains(t, cfg, old)
		cfg = strings.Replace(cfg, old, repl, 1)
	}
	cfgPath := filepath.Join(t.TempDir(), "gateway.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
	sieve := sieveproc.StartT(t, sieveproc.Options{
		Config: cfgPath,
		Env: map[string]string{
			"SIEVE_LOKI_PUSH_URL":        loki.PushURL(),
			"SIEVE_PROMETHEUS_RW_URL":    prom.RemoteWriteURL(),
			"SIEVE_TRACES_OTLP_ENDPOINT": jaeger.OTLPGRPC,
			"SIEVE_POLICY_FILE":          harness.RepoPath("configs/policy.yaml"),
		},
	})
	conn, err := grpc.NewClient(sieve.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The buffer's gauges, read while the load runs.
	var (
		mu                  sync.Mutex
		maxBytes, maxTraces float64
		stop                = make(chan struct{})
		done                = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			b := harness.SumAt(t, sieve.TelemetryURL, "otelcol_processor_trace_sampling_buffered_bytes")
			n := harness.SumAt(t, sieve.TelemetryURL, "otelcol_processor_trace_sampling_buffered_traces")
			mu.Lock()
			maxBytes, maxTraces = max(maxBytes, b), max(maxTraces, n)
			mu.Unlock()
		}
	}()

	// 3,000 whole five-span traces over three services, 100 per request, 3% with an error span.
	const traces, perRequest = 3000, 100
	rng := rand.New(rand.NewPCG(8, 1))
	errTraces := map[pcommon.TraceID]int{}
	end := time.Now()
	for sent := 0; sent < traces; sent += perRequest {
		td := ptrace.NewTraces()
		byService := map[string]ptrace.SpanSlice{}
		spansOf := func(svc string) ptrace.SpanSlice {
			if s, ok := byService[svc]; ok {
				return s
			}
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", svc)
			s := rs.ScopeSpans().AppendEmpty().Spans()
			byService[svc] = s
			return s
		}
		for range perRequest {
			var tid pcommon.TraceID
			binary.BigEndian.PutUint64(tid[:8], rng.Uint64())
			binary.BigEndian.PutUint64(tid[8:], rng.Uint64())
			failed := rng.Float64() < 0.03
			for k := range 5 {
				sp := spansOf([]string{"ov-frontend", "ov-checkout", "ov-payment"}[k%3]).AppendEmpty()
				sp.SetTraceID(tid)
				sp.SetSpanID(pcommon.SpanID{byte(k + 1), byte(sent), byte(sent >> 8), 1})
				if k > 0 {
					sp.SetParentSpanID(pcommon.SpanID{1, byte(sent), byte(sent >> 8), 1})
				}
				sp.SetName("op")
				sp.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-10 * time.Millisecond)))
				sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
				sp.Attributes().PutStr("padding", strings.Repeat("x", 200))
				if failed && k == 4 {
					sp.Status().SetCode(ptrace.StatusCodeError)
				}
			}
			if failed {
				errTraces[tid] = 5
			}
		}
		_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		return harness.SumAt(t, sieve.TelemetryURL, "otelcol_processor_trace_sampling_spans_kept")+
			harness.SumAt(t, sieve.TelemetryURL, "otelcol_processor_trace_sampling_spans_dropped") == traces*5
	}, time.Minute, 100*time.Millisecond, "every span decided")
	close(stop)
	<-done
	early := harness.SumAt(t, sieve.TelemetryURL, "otelcol_processor_trace_sampling_early_decisions")
	mu.Lock()
	defer mu.Unlock()
	require.LessOrEqual(t, maxTraces, 300.0)
	require.LessOrEqual(t, maxBytes, float64(1<<20))
	require.Positive(t, early, "the traces that did not fit were decided early")

	for tid, n := range errTraces {
		require.Eventually(t, func() bool {
			js, err := jaeger.Trace(ctx, tid.String())
			return err == nil && len(js) == n
		}, 30*time.Second, 200*time.Millisecond, "error trace %s whole in Jaeger", tid)
	}
	t.Logf("%d traces sent at once into a buffer of 300 traces / 1 MiB: %.0f decided early; buffer peak %.0f traces, %.0f bytes; %d error traces, all whole in Jaeger",
		traces, early, maxTraces, maxBytes, len(errTraces))
}
