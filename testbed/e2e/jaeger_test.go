package e2e

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/sieveobs/sieve/testbed/backends"
	"github.com/sieveobs/sieve/testbed/sieveproc"
)

// jaegerPolicy gives each service of the test a fixed rate whose consistent-probability
// threshold is exact (1, 1/2, 1/4), so the test can tell which spans trace_sampling keeps: a span
// is kept iff its trace's randomness (the low 56 bits of the trace ID, as the SDK sets no
// ot=rv) is at least (1-rate)·2^56. No adaptive rule: errors are sampled like the rest.
const jaegerPolicy = `version: jaeger-e2e
default_rate: 0.25
services:
  jg-frontend:
    rate: 1
  jg-checkout:
    rate: 0.5
  jg-payment:
    rate: 0.25
`

var jaegerRates = map[string]float64{"jg-frontend": 1, "jg-checkout": 0.5, "jg-payment": 0.25, "jg-catalog": 0.25}

// keptByPolicy is trace_sampling's decision under jaegerPolicy.
func keptByPolicy(tid trace.TraceID, service string) bool {
	r := binary.BigEndian.Uint64(tid[8:]) & (1<<56 - 1)
	return r >= uint64((1-jaegerRates[service])*(1<<56))
}

// seededIDs makes the SDK's trace and span IDs reproducible from run to run.
type seededIDs struct {
	mu  sync.Mutex
	rng *rand.Rand
}

func (g *seededIDs) NewIDs(context.Context) (trace.TraceID, trace.SpanID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var tid trace.TraceID
	binary.BigEndian.PutUint64(tid[:8], g.rng.Uint64())
	binary.BigEndian.PutUint64(tid[8:], g.rng.Uint64())
	return tid, g.spanID()
}

func (g *seededIDs) NewSpanID(context.Context, trace.TraceID) trace.SpanID {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.spanID()
}

func (g *seededIDs) spanID() trace.SpanID {
	var sid trace.SpanID
	for sid == (trace.SpanID{}) {
		binary.BigEndian.PutUint64(sid[:], g.rng.Uint64())
	}
	return sid
}

// sentSpan is what the test sent of one span.
type sentSpan struct {
	service, name, parent string
	err                   bool
}

// TestGatewayKeptTracesReachJaeger runs the shipped gateway between real Jaeger v2, Loki and
// Prometheus, sends multi-span traces over four services from the OpenTelemetry Go SDK (a fifth
// of them with an error span in payment) and reads every trace back from Jaeger's query API:
// Jaeger holds exactly the spans trace_sampling kept (its own counter agrees), each with its
// service, name, parent and status, while fine_histogram still counted every span in Prometheus.
// trace_sampling decides span by span (head sampling per service rate): the test measures, and
// only logs, how many error traces reach Jaeger whole, which tail sampling would raise to all.
func TestGatewayKeptTracesReachJaeger(t *testing.T) {
	var (
		jaeger *backends.Jaeger
		loki   *backends.Loki
		prom   *backends.Prometheus
	)
	startBackendsInParallel(t, &jaeger, &loki, &prom)
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(policy, []byte(jaegerPolicy), 0o600))
	sieve := sieveproc.StartT(t, sieveproc.Options{
		Config: sieveproc.RepoPath("configs/gateway.yaml"),
		Env: map[string]string{
			"SIEVE_LOKI_PUSH_URL":            loki.PushURL(),
			"SIEVE_PROMETHEUS_RW_URL":        prom.RemoteWriteURL(),
			"SIEVE_TRACES_OTLP_ENDPOINT":     jaeger.OTLPGRPC,
			"SIEVE_POLICY_FILE":              policy,
			"SIEVE_HISTOGRAM_FLUSH_INTERVAL": "1s",
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// One tracer provider per service, as four instrumented processes would have.
	ids := &seededIDs{rng: rand.New(rand.NewPCG(16, 4))}
	tracers := map[string]trace.Tracer{}
	var providers []*sdktrace.TracerProvider
	for _, svc := range []string{"jg-frontend", "jg-checkout", "jg-payment", "jg-catalog"} {
		exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(sieve.OTLPGRPC), otlptracegrpc.WithInsecure())
		require.NoError(t, err)
		tp := sdktrace.NewTracerProvider(
			sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", svc))),
			sdktrace.WithSampler(sdktrace.AlwaysSample()),
			sdktrace.WithIDGenerator(ids),
			sdktrace.WithBatcher(exp, sdktrace.WithMaxQueueSize(100_000), sdktrace.WithBlocking()))
		tracers[svc] = tp.Tracer("jaeger-e2e")
		providers = append(providers, tp)
	}
	t.Cleanup(func() {
		for _, tp := range providers {
			_ = tp.Shutdown(context.Background())
		}
	})

	// frontend GET /checkout → checkout POST /orders → { checkout db.query, payment charge,
	// catalog GET /items }, explicit timestamps; every fifth payment charge fails.
	const traces = 1000
	sent := map[trace.TraceID]map[trace.SpanID]sentSpan{}
	var errorTraces []trace.TraceID
	base := time.Now().Add(-2 * time.Minute)
	for i := range traces {
		t0 := base.Add(time.Duration(i) * 50 * time.Millisecond)
		failed := i%5 == 0
		spans := map[trace.SpanID]sentSpan{}
		start := func(parent context.Context, svc, name string, at time.Time, kind trace.SpanKind) (context.Context, trace.Span) {
			c, sp := tracers[svc].Start(parent, name, trace.WithTimestamp(at), trace.WithSpanKind(kind),
				trace.WithAttributes(attribute.Int("e2e.trace", i)))
			var parentID string
			if p := trace.SpanContextFromContext(parent); p.IsValid() {
				parentID = p.SpanID().String()
			}
			spans[sp.SpanContext().SpanID()] = sentSpan{service: svc, name: name, parent: parentID}
			return c, sp
		}
		rootCtx, root := start(ctx, "jg-frontend", "GET /checkout", t0, trace.SpanKindServer)
		orderCtx, order := start(rootCtx, "jg-checkout", "POST /orders", t0.Add(2*time.Millisecond), trace.SpanKindServer)
		_, db := start(orderCtx, "jg-checkout", "db.query", t0.Add(3*time.Millisecond), trace.SpanKindClient)
		db.End(trace.WithTimestamp(t0.Add(9 * time.Millisecond)))
		_, charge := start(orderCtx, "jg-payment", "charge", t0.Add(10*time.Millisecond), trace.SpanKindServer)
		if failed {
			charge.SetStatus(codes.Error, "card declined")
			s := spans[charge.SpanContext().SpanID()]
			s.err = true
			spans[charge.SpanContext().SpanID()] = s
			errorTraces = append(errorTraces, charge.SpanContext().TraceID())
		}
		charge.End(trace.WithTimestamp(t0.Add(30 * time.Millisecond)))
		_, items := start(orderCtx, "jg-catalog", "GET /items", t0.Add(31*time.Millisecond), trace.SpanKindServer)
		items.End(trace.WithTimestamp(t0.Add(38 * time.Millisecond)))
		order.End(trace.WithTimestamp(t0.Add(40 * time.Millisecond)))
		root.End(trace.WithTimestamp(t0.Add(42 * time.Millisecond)))
		sent[root.SpanContext().TraceID()] = spans
	}
	for _, tp := range providers {
		require.NoError(t, tp.ForceFlush(ctx))
	}
	sentAt := time.Now()

	// What trace_sampling must keep, span by span.
	want := map[trace.TraceID]map[trace.SpanID]sentSpan{}
	var totalSpans, wantKept int
	for tid, spans := range sent {
		for sid, s := range spans {
			totalSpans++
			if keptByPolicy(tid, s.service) {
				if want[tid] == nil {
					want[tid] = map[trace.SpanID]sentSpan{}
				}
				want[tid][sid] = s
				wantKept++
			}
		}
	}
	require.Eventually(t, func() bool {
		kept := telemetrySum(t, sieve.TelemetryURL, "otelcol_processor_trace_sampling_spans_kept")
		dropped := telemetrySum(t, sieve.TelemetryURL, "otelcol_processor_trace_sampling_spans_dropped")
		return kept+dropped == float64(totalSpans)
	}, 30*time.Second, 200*time.Millisecond, "trace_sampling must see all %d spans", totalSpans)
	kept := telemetrySum(t, sieve.TelemetryURL, "otelcol_processor_trace_sampling_spans_kept")
	require.Equal(t, float64(wantKept), kept, "trace_sampling kept other spans than its policy says")

	// Jaeger: every kept trace, each with exactly its kept spans.
	got := map[trace.TraceID][]backends.JaegerSpan{}
	var missing []trace.TraceID
	require.Eventually(t, func() bool {
		missing = missing[:0]
		for tid, spans := range want {
			if len(got[tid]) == len(spans) {
				continue
			}
			js, err := jaeger.Trace(ctx, tid.String())
			if err != nil {
				t.Logf("jaeger: %v", err)
				return false
			}
			got[tid] = js
			if len(js) < len(spans) {
				missing = append(missing, tid)
			}
		}
		return len(missing) == 0
	}, 30*time.Second, 500*time.Millisecond, "%d of %d kept traces incomplete or missing in Jaeger", len(missing), len(want))
	delivered := time.Since(sentAt)

	var inJaeger int
	for tid, spans := range want {
		js := got[tid]
		require.Len(t, js, len(spans), "trace %s: spans in Jaeger", tid)
		for _, s := range js {
			sid, err := trace.SpanIDFromHex(s.SpanID)
			require.NoError(t, err)
			w, ok := spans[sid]
			require.True(t, ok, "trace %s: span %s in Jaeger was not kept by trace_sampling", tid, s.SpanID)
			require.Equal(t, w.service, s.Service, "trace %s span %s", tid, s.SpanID)
			require.Equal(t, w.name, s.Operation, "trace %s span %s", tid, s.SpanID)
			require.Equal(t, w.parent, s.ParentSpanID, "trace %s span %s", tid, s.SpanID)
			require.Equal(t, w.err, s.Error(), "trace %s span %s: error status", tid, s.SpanID)
			inJaeger++
		}
	}
	require.Equal(t, wantKept, inJaeger)
	// No trace Sieve dropped entirely reached Jaeger either (frontend's rate is 1: none is).
	require.Len(t, want, traces, "every trace keeps at least its frontend span")

	// Error traces: their error span reaches Jaeger only when payment's rate keeps that trace.
	var errorSpanKept, errorTraceWhole int
	for _, tid := range errorTraces {
		if len(got[tid]) == len(sent[tid]) {
			errorTraceWhole++
		}
		for _, s := range got[tid] {
			if s.Error() {
				errorSpanKept++
			}
		}
	}
	t.Logf("sent %d traces, %d spans; trace_sampling kept %.0f spans (telemetry) = %d in Jaeger, across %d traces; delivered within %s of the last flush",
		traces, totalSpans, kept, inJaeger, len(want), delivered.Round(time.Millisecond))
	t.Logf("error traces: %d sent, %d with their error span in Jaeger, %d whole in Jaeger (head sampling per span; tail sampling would keep all %d)",
		len(errorTraces), errorSpanKept, errorTraceWhole, len(errorTraces))

	// Jaeger's search by service finds the traces of a sampled-down service too.
	found, err := jaeger.FindTraces(ctx, "jg-payment", base.Add(-time.Minute), time.Now().Add(time.Minute), traces)
	require.NoError(t, err)
	var wantPayment int
	for _, spans := range want {
		for _, s := range spans {
			if s.service == "jg-payment" {
				wantPayment++
				break
			}
		}
	}
	require.Len(t, found, wantPayment, "traces with a payment span found by service")

	// fine_histogram counted every span before sampling: Prometheus holds all of payment's.
	require.Eventually(t, func() bool {
		res, err := prom.Query(ctx, `sum(span_duration_seconds_count{service_name="jg-payment"})`, time.Now())
		return err == nil && len(res) == 1 && res[0].Value == traces
	}, 30*time.Second, time.Second, "every payment span counted in Prometheus")
}

// startBackendsInParallel starts Jaeger, Loki and Prometheus at once (Loki is the slowest) and
// stops them at the test's cleanup.
func startBackendsInParallel(t *testing.T, jaeger **backends.Jaeger, loki **backends.Loki, prom **backends.Prometheus) {
	t.Helper()
	var wg sync.WaitGroup
	var jErr, lErr, pErr error
	wg.Add(3)
	go func() {
		defer wg.Done()
		*jaeger, jErr = backends.NewJaeger(context.Background(), backends.JaegerOptions{})
	}()
	go func() {
		defer wg.Done()
		*loki, lErr = backends.NewLoki(context.Background(), backends.LokiOptions{})
	}()
	go func() {
		defer wg.Done()
		*prom, pErr = backends.NewPrometheus(context.Background(), backends.PrometheusOptions{})
	}()
	wg.Wait()
	t.Cleanup(func() {
		var errs []error
		if *jaeger != nil {
			errs = append(errs, (*jaeger).Close())
		}
		if *loki != nil {
			errs = append(errs, (*loki).Close())
		}
		if *prom != nil {
			errs = append(errs, (*prom).Close())
		}
		if err := errors.Join(errs...); err != nil {
			t.Errorf("stop backends: %v", err)
		}
	})
	require.NoError(t, errors.Join(jErr, lErr, pErr))
}
