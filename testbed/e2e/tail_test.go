package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/bridges/otelzap"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/sieveobs/sieve/testbed/backends"
	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/sieveproc"
)

// tailPolicy keeps 10% of ordinary traces (an exact threshold: a trace is kept by rate iff the
// low 56 bits of its ID are at least 0.9·2^56, the SDK setting no ot=rv), every trace with a
// span over 400 ms, and the classic log tiers.
const tailPolicy = `version: %s
default_rate: %g
latency_threshold: 400ms
log_tiers:
  - name: errors
    condition: severity_number >= SEVERITY_NUMBER_ERROR or Int(attributes["http.response.status_code"]) >= 500
    percent: 100
  - name: warn
    condition: severity_number >= SEVERITY_NUMBER_WARN
    percent: 10
  - name: rest
    percent: 0.1
`

var tailServices = []string{"tl-frontend", "tl-checkout", "tl-payment", "tl-catalog"}

func keptByRate(tid trace.TraceID, rate float64) bool {
	r := binary.BigEndian.Uint64(tid[8:]) & (1<<56 - 1)
	return float64(r) >= (1-rate)*(1<<56)
}

// tailClients is one SDK tracer provider and one zap logger (through otelzap and the SDK's log
// pipeline) per service, as four instrumented processes would have.
type tailClients struct {
	tracers map[string]trace.Tracer
	loggers map[string]*zap.Logger
	flush   []func(context.Context) error
}

func newTailClients(t *testing.T, ctx context.Context, endpoint string, ids sdktrace.IDGenerator) *tailClients {
	c := &tailClients{tracers: map[string]trace.Tracer{}, loggers: map[string]*zap.Logger{}}
	for _, svc := range tailServices {
		res := resource.NewSchemaless(attribute.String("service.name", svc))
		exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure())
		require.NoError(t, err)
		tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSampler(sdktrace.AlwaysSample()),
			sdktrace.WithIDGenerator(ids),
			sdktrace.WithBatcher(exp, sdktrace.WithMaxQueueSize(100_000), sdktrace.WithBlocking()))
		le, err := otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(endpoint), otlploggrpc.WithInsecure())
		require.NoError(t, err)
		lp := sdklog.NewLoggerProvider(sdklog.WithResource(res),
			sdklog.WithProcessor(sdklog.NewBatchProcessor(le, sdklog.WithMaxQueueSize(100_000))))
		c.tracers[svc] = tp.Tracer("tail-e2e")
		c.loggers[svc] = zap.New(otelzap.NewCore("tail-e2e", otelzap.WithLoggerProvider(lp)))
		c.flush = append(c.flush, tp.ForceFlush, lp.ForceFlush)
		t.Cleanup(func() {
			_ = tp.Shutdown(context.Background())
			_ = lp.Shutdown(context.Background())
		})
	}
	return c
}

func (c *tailClients) forceFlush(t *testing.T, ctx context.Context) {
	for _, f := range c.flush {
		require.NoError(t, f(ctx))
	}
}

// sentTrace is what the test sent of one trace.
type sentTrace struct {
	id       trace.TraceID
	spans    map[trace.SpanID]sentSpan
	err      bool // an error span
	slow     bool // a span over the latency threshold
	errorLog bool // an error log but no error span
	logs     int
	root     trace.SpanID
	rootCtx  context.Context
	base     time.Time
}

// sendTrace sends frontend GET /checkout → checkout POST /orders → {payment charge, catalog GET
// /items} with explicit timestamps, and one zap log per span carrying its trace context.
func (c *tailClients) sendTrace(ctx context.Context, i int, t0 time.Time, failed, slow, errorLog bool) *sentTrace {
	st := &sentTrace{spans: map[trace.SpanID]sentSpan{}, err: failed, slow: slow, errorLog: errorLog, base: t0}
	start := func(parent context.Context, svc, name string, at time.Time) (context.Context, trace.Span) {
		cx, sp := c.tracers[svc].Start(parent, name, trace.WithTimestamp(at), trace.WithAttributes(attribute.Int("e2e.trace", i)))
		var parentID string
		if p := trace.SpanContextFromContext(parent); p.IsValid() {
			parentID = p.SpanID().String()
		}
		st.spans[sp.SpanContext().SpanID()] = sentSpan{service: svc, name: name, parent: parentID}
		return cx, sp
	}
	logAt := func(cx context.Context, svc string, lvl zap.AtomicLevel, msg string) {
		fields := []zap.Field{zap.String("uid", fmt.Sprintf("u%d", i)), zap.Int("e2e.trace", i), zap.Any("ctx", cx)}
		switch lvl.Level() {
		case zap.ErrorLevel:
			c.loggers[svc].Error(msg, fields...)
		default:
			c.loggers[svc].Info(msg, fields...)
		}
		st.logs++
	}
	info := zap.NewAtomicLevelAt(zap.InfoLevel)
	rootCtx, root := start(ctx, "tl-frontend", "GET /checkout", t0)
	st.id, st.root, st.rootCtx = root.SpanContext().TraceID(), root.SpanContext().SpanID(), rootCtx
	logAt(rootCtx, "tl-frontend", info, "checkout requested")
	orderCtx, order := start(rootCtx, "tl-checkout", "POST /orders", t0.Add(2*time.Millisecond))
	logAt(orderCtx, "tl-checkout", info, "order created")
	chargeCtx, charge := start(orderCtx, "tl-payment", "charge", t0.Add(10*time.Millisecond))
	chargeEnd := t0.Add(30 * time.Millisecond)
	switch {
	case failed:
		charge.SetStatus(codes.Error, "card declined")
		s := st.spans[charge.SpanContext().SpanID()]
		s.err = true
		st.spans[charge.SpanContext().SpanID()] = s
		logAt(chargeCtx, "tl-payment", zap.NewAtomicLevelAt(zap.ErrorLevel), "card declined")
	case errorLog:
		// An error logged in a trace without an error span: the log's tier keeps it even when
		// the trace is dropped.
		logAt(chargeCtx, "tl-payment", zap.NewAtomicLevelAt(zap.ErrorLevel), "retrying after a timeout")
	default:
		logAt(chargeCtx, "tl-payment", info, "card charged")
	}
	charge.End(trace.WithTimestamp(chargeEnd))
	itemsCtx, items := start(orderCtx, "tl-catalog", "GET /items", t0.Add(31*time.Millisecond))
	itemsEnd := t0.Add(38 * time.Millisecond)
	if slow {
		itemsEnd = t0.Add(631 * time.Millisecond)
	}
	logAt(itemsCtx, "tl-catalog", info, "items listed")
	items.End(trace.WithTimestamp(itemsEnd))
	order.End(trace.WithTimestamp(itemsEnd.Add(2 * time.Millisecond)))
	root.End(trace.WithTimestamp(itemsEnd.Add(4 * time.Millisecond)))
	return st
}

// TestGatewayTailSampling runs the shipped gateway (tail sampling at the gateway) between real
// Jaeger v2, Loki and Prometheus, and sends four-service traces from the OpenTelemetry Go SDK with
// zap logs through otelzap: 3% with an error span, 2% with a slow span, 1% with only an error log.
// It checks that every error and slow trace is in Jaeger whole, the others are kept whole at the
// policy's rate, every log record of every kept trace is in Loki while dropped traces' logs follow
// their tiers, the histograms in Prometheus counted every span, exemplars open kept traces, late
// spans follow their trace's decision, and a policy change applies to the next decisions.
func TestGatewayTailSampling(t *testing.T) {
	var (
		jaeger *backends.Jaeger
		loki   *backends.Loki
		prom   *backends.Prometheus
	)
	startBackendsInParallel(t, &jaeger, &loki, &prom)
	const rate = 0.1
	policyPath := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(policyPath, fmt.Appendf(nil, tailPolicy, "tail-1", rate), 0o600))
	sieve := sieveproc.StartT(t, sieveproc.Options{
		Config: harness.RepoPath("configs/gateway.yaml"),
		Env: map[string]string{
			"SIEVE_LOKI_PUSH_URL":            loki.PushURL(),
			"SIEVE_PROMETHEUS_RW_URL":        prom.RemoteWriteURL(),
			"SIEVE_TRACES_OTLP_ENDPOINT":     jaeger.OTLPGRPC,
			"SIEVE_POLICY_FILE":              policyPath,
			"SIEVE_HISTOGRAM_FLUSH_INTERVAL": "1s",
			"SIEVE_TAIL_DECISION_WAIT":       "1s",
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	clients := newTailClients(t, ctx, sieve.OTLPGRPC, &seededIDs{rng: rand.New(rand.NewPCG(20, 26))})

	const traces = 3000
	rng := rand.New(rand.NewPCG(3, 5))
	base := time.Now().Add(-3 * time.Minute)
	var sent []*sentTrace
	for i := range traces {
		p := rng.Float64()
		sent = append(sent, clients.sendTrace(ctx, i, base.Add(time.Duration(i)*20*time.Millisecond), p < 0.03, p >= 0.03 && p < 0.05, p >= 0.05 && p < 0.06))
	}
	clients.forceFlush(t, ctx)
	sentSpans := 0
	for _, s := range sent {
		sentSpans += len(s.spans)
	}

	// Every trace decided: the tail sampler's counters add up to every span sent.
	require.Eventually(t, func() bool {
		return harness.SumAt(t, sieve.TelemetryURL, "otelcol_processor_trace_sampling_spans_kept")+
			harness.SumAt(t, sieve.TelemetryURL, "otelcol_processor_trace_sampling_spans_dropped") == float64(sentSpans)
	}, time.Minute, 200*time.Millisecond, "every span decided")
	require.Zero(t, harness.SumAt(t, sieve.TelemetryURL, "otelcol_processor_trace_sampling_early_decisions"), "the buffer was large enough")

	want := map[trace.TraceID]*sentTrace{}
	var errN, slowN, ordinary, ordinaryKept int
	for _, s := range sent {
		switch {
		case s.err:
			errN++
			want[s.id] = s
		case s.slow:
			slowN++
			want[s.id] = s
		default:
			ordinary++
			if keptByRate(s.id, rate) {
				ordinaryKept++
				want[s.id] = s
			}
		}
	}
	// The rate: a binomial count within its 99.9% bound (3.29 standard deviations).
	bound := 3.29 * math.Sqrt(float64(ordinary)*rate*(1-rate))
	require.InDelta(t, float64(ordinary)*rate, float64(ordinaryKept), bound, "the seeded trace IDs are not a fair sample")
	require.Equal(t, float64(len(want)), harness.SumAt(t, sieve.TelemetryURL, "otelcol_processor_trace_sampling_traces_kept"))

	// Jaeger: every kept trace whole, with each span's service, name, parent and status; no
	// dropped trace at all.
	got := map[trace.TraceID][]backends.JaegerSpan{}
	var incomplete int
	require.Eventually(t, func() bool {
		incomplete = 0
		for tid, s := range want {
			if len(got[tid]) == len(s.spans) {
				continue
			}
			js, err := jaeger.Trace(ctx, tid.String())
			if err != nil {
				return false
			}
			got[tid] = js
			if len(js) != len(s.spans) {
				incomplete++
			}
		}
		return incomplete == 0
	}, time.Minute, 500*time.Millisecond, "kept traces missing or incomplete in Jaeger")
	for tid, s := range want {
		for _, js := range got[tid] {
			sid, err := trace.SpanIDFromHex(js.SpanID)
			require.NoError(t, err)
			w, ok := s.spans[sid]
			require.True(t, ok, "trace %s: span %s was never sent", tid, js.SpanID)
			require.Equal(t, w.service, js.Service)
			require.Equal(t, w.name, js.Operation)
			require.Equal(t, w.parent, js.ParentSpanID)
			require.Equal(t, w.err, js.Error())
			if !s.err && !s.slow {
				require.Equal(t, "th:e666", otelTraceState(js.Tags["w3c.tracestate"]), "trace %s kept by rate carries its threshold", tid)
			}
		}
	}
	var droppedChecked int
	for _, s := range sent {
		if _, kept := want[s.id]; kept || droppedChecked >= 50 {
			continue
		}
		js, err := jaeger.Trace(ctx, s.id.String())
		require.NoError(t, err)
		require.Empty(t, js, "dropped trace %s reached Jaeger", s.id)
		droppedChecked++
	}

	// Loki: every record of every kept trace; of the dropped traces only the error logs (the
	// others' tiers, 10% and 0.1%, draw on the same randomness as the 10% trace rate, so a trace
	// dropped at 10% fails them too).
	inLoki := map[string]int{}
	wantLogs := 0
	for _, s := range sent {
		switch {
		case want[s.id] != nil:
			wantLogs += s.logs
		case s.errorLog:
			wantLogs++
		}
	}
	require.Eventually(t, func() bool {
		clear(inLoki)
		n := 0
		for _, svc := range tailServices {
			streams, err := loki.QueryRange(ctx, "", fmt.Sprintf(`{service_name=%q}`, svc), base.Add(-time.Minute), time.Now().Add(time.Minute))
			if err != nil {
				return false
			}
			for _, st := range streams {
				for _, e := range st.Entries {
					inLoki[e.Metadata["trace_id"]]++
					n++
				}
			}
		}
		return n >= wantLogs
	}, time.Minute, time.Second, "log records of kept traces in Loki")
	var followedOnly int
	for _, s := range sent {
		n := inLoki[s.id.String()]
		switch {
		case want[s.id] != nil:
			require.Equal(t, s.logs, n, "trace %s (error %v, slow %v): every record of a kept trace", s.id, s.err, s.slow)
			followedOnly++
		case s.errorLog:
			require.Equal(t, 1, n, "trace %s: its error log is kept by its tier though the trace was dropped", s.id)
		default:
			require.Zero(t, n, "trace %s was dropped: its info logs fail their tier", s.id)
		}
	}
	require.Positive(t, harness.SumAt(t, sieve.TelemetryURL, "otelcol_processor_tiered_sampling_held_decisions"))

	// Prometheus: the histograms counted every span, kept or not.
	require.Eventually(t, func() bool {
		res, err := prom.Query(ctx, `sum(span_duration_seconds_count{service_name="tl-payment"})`, time.Now())
		return err == nil && len(res) == 1 && res[0].Value == traces
	}, time.Minute, time.Second, "every payment span counted in Prometheus")

	// Exemplars open traces that exist in Jaeger.
	var exs []promExemplar
	require.Eventually(t, func() bool {
		var err error
		exs, err = queryExemplars(ctx, prom.URL, `span_duration_seconds_bucket{service_name=~"tl-.*"}`, time.Now().Add(-10*time.Minute), time.Now())
		return err == nil && len(exs) > 0
	}, time.Minute, time.Second, "exemplars in Prometheus")
	for _, e := range exs {
		tid, err := trace.TraceIDFromHex(e.Labels["trace_id"])
		require.NoError(t, err)
		_, kept := want[tid]
		require.True(t, kept, "exemplar trace %s was not kept", tid)
		js, err := jaeger.Trace(ctx, tid.String())
		require.NoError(t, err)
		require.NotEmpty(t, js, "exemplar trace %s not in Jaeger", tid)
	}

	// Late spans follow their trace's decision: sent after the decisions above.
	var lateKept, lateDropped []*sentTrace
	for _, s := range sent {
		if s.err || s.slow || s.errorLog {
			continue
		}
		if want[s.id] != nil && len(lateKept) < 5 {
			lateKept = append(lateKept, s)
		} else if want[s.id] == nil && len(lateDropped) < 5 {
			lateDropped = append(lateDropped, s)
		}
	}
	late := map[trace.TraceID]trace.SpanID{}
	for _, s := range append(lateKept, lateDropped...) {
		_, sp := clients.tracers["tl-catalog"].Start(s.rootCtx, "late audit", trace.WithTimestamp(s.base.Add(time.Second)))
		sp.End(trace.WithTimestamp(s.base.Add(time.Second + time.Millisecond)))
		late[s.id] = sp.SpanContext().SpanID()
	}
	clients.forceFlush(t, ctx)
	require.Eventually(t, func() bool {
		return harness.SumAt(t, sieve.TelemetryURL, "otelcol_processor_trace_sampling_late_spans") == 10
	}, 30*time.Second, 200*time.Millisecond, "late spans counted")
	require.Eventually(t, func() bool {
		for _, s := range lateKept {
			js, err := jaeger.Trace(ctx, s.id.String())
			if err != nil || len(js) != len(s.spans)+1 {
				return false
			}
		}
		return true
	}, 30*time.Second, 500*time.Millisecond, "the late spans of kept traces in Jaeger")
	for _, s := range lateDropped {
		js, err := jaeger.Trace(ctx, s.id.String())
		require.NoError(t, err)
		require.Empty(t, js, "the late span of dropped trace %s", s.id)
	}

	// A new policy applies to the traces decided after it is in force.
	written := time.Now()
	require.NoError(t, os.WriteFile(policyPath+".tmp", fmt.Appendf(nil, tailPolicy, "tail-2", 1.0), 0o600))
	require.NoError(t, os.Rename(policyPath+".tmp", policyPath))
	require.Eventually(t, func() bool {
		resp, err := http.Get(sieve.SamplingURL + "/policy")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return err == nil && strings.Contains(string(body), "tail-2")
	}, 5*time.Second, 20*time.Millisecond, "the new policy in force")
	inForce := time.Since(written)
	before := harness.SumAt(t, sieve.TelemetryURL, "otelcol_processor_trace_sampling_traces_kept")
	var second []*sentTrace
	for i := range 200 {
		second = append(second, clients.sendTrace(ctx, traces+i, time.Now().Add(-time.Minute+time.Duration(i)*time.Millisecond), false, false, false))
	}
	clients.forceFlush(t, ctx)
	require.Eventually(t, func() bool {
		return harness.SumAt(t, sieve.TelemetryURL, "otelcol_processor_trace_sampling_traces_kept")-before == float64(len(second))
	}, 30*time.Second, 200*time.Millisecond, "every trace kept at the new rate of 1")

	var kept int
	for _, s := range sent {
		if want[s.id] != nil {
			kept++
		}
	}
	sentLogs := 0
	for _, s := range sent {
		sentLogs += s.logs
	}
	t.Logf("sent %d traces (%d spans, %d log records, %d of them expected in Loki): %d error, %d slow, %d ordinary of which %d kept at %.0f%% (99.9%% bound ±%.0f); %d traces whole in Jaeger, %d with every log record in Loki; %d exemplars, all in Jaeger; policy change in force after %s",
		traces, sentSpans, sentLogs, wantLogs, errN, slowN, ordinary, ordinaryKept, 100*rate, bound, kept, followedOnly, len(exs), inForce.Round(time.Millisecond))
}

// otelTraceState returns the ot entry of a W3C tracestate ("" when none).
func otelTraceState(ts string) string {
	for _, kv := range strings.Split(ts, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(kv), "ot="); ok {
			return v
		}
	}
	return ""
}
