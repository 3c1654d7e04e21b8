package tracesampling

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sieveobs/sieve/internal/policy"
	"github.com/sieveobs/sieve/internal/policy/engine"
	"github.com/sieveobs/sieve/internal/resend"
	"github.com/sieveobs/sieve/processors/tracesampling/internal/metadata"
	"github.com/sieveobs/sieve/processors/tracesampling/internal/metadatatest"
)

const tailPolicy = `
default_rate: 0.1
latency_threshold: 2s
services:
  checkout:
    rate: 0.01
    operation_latency_thresholds: {"POST /pay": 500ms}
rules:
  - {name: health, action: never, span_name: "GET /healthz"}
  - {name: debug, action: always, attribute: sieve.debug, value: "true"}
  - name: batch-jobs
    action: never
    condition: resource.attributes["service.name"] == "batch" and IsMatch(name, "^nightly")
`

// manualClock is the tail sampler's clock in tests: time moves only when a test moves it.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type tailRig struct {
	p     *traceSampler
	eng   *engine.Engine
	clock *manualClock
	sink  *consumertest.TracesSink
	tel   *componenttest.Telemetry
}

func newTailRig(t *testing.T, doc string, mod func(*TailConfig)) *tailRig {
	cfg := createDefaultConfig().(*Config)
	cfg.Policy = policyID
	cfg.Tail.Enabled = true
	cfg.Tail.DecisionWait = time.Second
	cfg.Tail.MaxTraceAge = 10 * time.Second
	if mod != nil {
		mod(&cfg.Tail)
	}
	require.NoError(t, cfg.Validate())
	r := &tailRig{
		eng:   engine.New(compile(t, doc)),
		clock: &manualClock{t: time.Unix(1000, 0)},
		sink:  new(consumertest.TracesSink),
		tel:   componenttest.NewTelemetry(),
	}
	p, err := newTraceSampler(metadatatest.NewSettings(r.tel), cfg, r.sink, r.clock.now)
	require.NoError(t, err)
	r.p = p
	require.NoError(t, p.start(context.Background(), host{Host: componenttest.NewNopHost(), ext: map[component.ID]component.Component{policyID: fakeProvider{r.eng}}}))
	t.Cleanup(func() {
		require.NoError(t, p.shutdown(context.Background()))
		require.NoError(t, r.tel.Shutdown(context.Background()))
	})
	return r
}

// consume passes a request through the processor as processorhelper would: what it returns goes
// to the sink at once.
func (r *tailRig) consume(t *testing.T, td ptrace.Traces) {
	out, err := r.p.processTraces(context.Background(), td)
	if errors.Is(err, errSkip) {
		return
	}
	require.NoError(t, err)
	require.NoError(t, r.sink.ConsumeTraces(context.Background(), out))
}

func (r *tailRig) sweep(d time.Duration) {
	r.clock.advance(d)
	r.p.tail.sweep(context.Background(), r.clock.now())
}

// keptSpans maps each kept span, named "<trace r>/<span name>", to its tracestate.
func (r *tailRig) keptSpans() map[string]string {
	out := map[string]string{}
	for _, td := range r.sink.AllTraces() {
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					s := spans.At(k)
					out[fmt.Sprintf("%x/%s", s.TraceID(), s.Name())] = s.TraceState().AsRaw()
				}
			}
		}
	}
	return out
}

type tspan struct {
	service, name string
	root          bool
	err           bool
	dur           time.Duration
	attrs         map[string]any
	tracestate    string
}

func tailTraces(id pcommon.TraceID, spans ...tspan) ptrace.Traces {
	td := ptrace.NewTraces()
	for i, s := range spans {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", s.service)
		rs.Resource().Attributes().PutStr("host.name", "node-1")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("lib")
		sp := ss.Spans().AppendEmpty()
		sp.SetName(s.name)
		sp.SetTraceID(id)
		sp.SetSpanID(pcommon.SpanID{byte(i + 1)})
		if !s.root {
			sp.SetParentSpanID(pcommon.SpanID{0xff})
		}
		sp.SetStartTimestamp(pcommon.Timestamp(1e18))
		d := s.dur
		if d == 0 {
			d = time.Millisecond
		}
		sp.SetEndTimestamp(pcommon.Timestamp(1e18 + int64(d)))
		sp.TraceState().FromRaw(s.tracestate)
		if s.err {
			sp.Status().SetCode(ptrace.StatusCodeError)
		}
		_ = sp.Attributes().FromRaw(s.attrs)
	}
	return td
}

func sumBy(t *testing.T, tel *componenttest.Telemetry, name, key, value string) int64 {
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		if v, ok := dp.Attributes.Value(attribute.Key(key)); ok && v.AsString() == value {
			n += dp.Value
		}
	}
	return n
}

func gauge(t *testing.T, tel *componenttest.Telemetry, name string) int64 {
	m, err := tel.GetMetric(name)
	require.NoError(t, err)
	return m.Data.(metricdata.Gauge[int64]).DataPoints[0].Value
}

// A trace is decided whole, decision_wait after its last span: every span of a trace with an
// error anywhere is kept, across requests and services.
func TestTailKeepsErrorTraceWhole(t *testing.T) {
	r := newTailRig(t, tailPolicy, nil)
	id := traceID(1) // randomness 1: dropped by any rate below 1
	r.consume(t, tailTraces(id, tspan{service: "frontend", name: "GET /", root: true}))
	r.sweep(900 * time.Millisecond)
	r.consume(t, tailTraces(id, tspan{service: "checkout", name: "POST /pay"}, tspan{service: "db", name: "SELECT", err: true}))
	r.sweep(900 * time.Millisecond)
	require.Empty(t, r.keptSpans(), "decided before decision_wait after the last span")
	require.EqualValues(t, 1, gauge(t, r.tel, "otelcol_processor_trace_sampling_buffered_traces"))
	require.EqualValues(t, 3, gauge(t, r.tel, "otelcol_processor_trace_sampling_buffered_spans"))
	r.sweep(200 * time.Millisecond)
	kept := r.keptSpans()
	require.Len(t, kept, 3)
	for name, ts := range kept {
		require.Empty(t, ts, "%s: an error keep is not a probability draw and carries no threshold", name)
	}
	require.EqualValues(t, 1, sumBy(t, r.tel, "otelcol_processor_trace_sampling_traces_kept", "reason", "error"))
	require.EqualValues(t, 3, sumBy(t, r.tel, "otelcol_processor_trace_sampling_spans_kept", "reason", "error"))
	// Resources are held once per request and put back on release.
	services := map[string]bool{}
	for _, td := range r.sink.AllTraces() {
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			attrs := td.ResourceSpans().At(i).Resource().Attributes().AsRaw()
			require.Equal(t, "node-1", attrs["host.name"])
			services[attrs["service.name"].(string)] = true
		}
	}
	require.Equal(t, map[string]bool{"frontend": true, "checkout": true, "db": true}, services)
	require.EqualValues(t, 0, gauge(t, r.tel, "otelcol_processor_trace_sampling_buffered_bytes"))
	d, ok := r.eng.TraceDecision(id)
	require.True(t, ok)
	require.True(t, d.Kept, "the decision is published for logs and exemplars")
}

func TestTailReasons(t *testing.T) {
	slowPay := tspan{service: "checkout", name: "POST /pay", dur: 600 * time.Millisecond}
	tests := []struct {
		name   string
		spans  []tspan
		kept   bool
		reason string
	}{
		{"http 5xx as int", []tspan{{service: "a", name: "GET", root: true}, {service: "b", name: "x", attrs: map[string]any{"http.response.status_code": 503}}}, true, "error"},
		{"http 5xx as text, old name", []tspan{{service: "a", name: "GET", root: true, attrs: map[string]any{"http.status_code": "502"}}}, true, "error"},
		{"http 4xx", []tspan{{service: "a", name: "GET", root: true, attrs: map[string]any{"http.response.status_code": 404}}}, false, "rate"},
		{"slow operation", []tspan{{service: "frontend", name: "GET", root: true}, slowPay}, true, "slow"},
		{"operation under its own threshold", []tspan{{service: "checkout", name: "POST /pay", root: true, dur: 400 * time.Millisecond}}, false, "rate"},
		{"slow under the policy default", []tspan{{service: "search", name: "q", root: true, dur: 3 * time.Second}}, true, "slow"},
		{"always rule", []tspan{{service: "a", name: "GET", root: true}, {service: "b", name: "x", attrs: map[string]any{"sieve.debug": "true"}}}, true, "always_rule"},
		{"never rule", []tspan{{service: "a", name: "GET /healthz", root: true}}, false, "never_rule"},
		{"error beats never", []tspan{{service: "a", name: "GET /healthz", root: true, err: true}}, true, "error"},
		{"never rule as an OTTL condition", []tspan{{service: "batch", name: "nightly", root: true}}, false, "never_rule"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTailRig(t, tailPolicy, nil)
			id := traceID(uint64(i + 1))
			r.consume(t, tailTraces(id, tt.spans...))
			r.sweep(time.Second)
			if tt.kept {
				require.Len(t, r.keptSpans(), len(tt.spans))
				require.EqualValues(t, 1, sumBy(t, r.tel, "otelcol_processor_trace_sampling_traces_kept", "reason", tt.reason))
			} else {
				require.Empty(t, r.keptSpans())
				require.EqualValues(t, 1, sumBy(t, r.tel, "otelcol_processor_trace_sampling_traces_dropped", "reason", tt.reason))
			}
		})
	}
}

// The rate of the trace is the root's operation's, and the kept spans carry its threshold.
func TestTailRateFromRootWithThreshold(t *testing.T) {
	r := newTailRig(t, tailPolicy, nil)
	high := traceID(th10 + 1)  // kept at 10% (the default rate), dropped at 1%
	higher := traceID(th1 + 1) // kept at 1% too
	r.consume(t, tailTraces(high, tspan{service: "frontend", name: "GET", root: true}, tspan{service: "checkout", name: "x", tracestate: "vendor=a"}))
	r.consume(t, tailTraces(traceID(th10+2), tspan{service: "checkout", name: "GET /cart", root: true}, tspan{service: "frontend", name: "y"}))
	r.consume(t, tailTraces(higher, tspan{service: "checkout", name: "GET /cart", root: true}))
	r.sweep(time.Second)
	kept := r.keptSpans()
	require.Len(t, kept, 3)
	require.Equal(t, "ot=th:e666", kept[fmt.Sprintf("%x/GET", high)])
	require.Equal(t, "ot=th:e666,vendor=a", kept[fmt.Sprintf("%x/x", high)])
	require.Equal(t, "ot=th:fd70a", kept[fmt.Sprintf("%x/GET /cart", higher)])
	require.EqualValues(t, 2, sumBy(t, r.tel, "otelcol_processor_trace_sampling_traces_kept", "reason", "rate"))
	require.EqualValues(t, 1, sumBy(t, r.tel, "otelcol_processor_trace_sampling_traces_dropped", "reason", "rate"))
}

// An upstream head sampler's threshold and randomness are honoured: the stricter threshold wins.
func TestTailHonoursUpstreamTraceState(t *testing.T) {
	r := newTailRig(t, tailPolicy, nil)
	// rv ff... passes any threshold; the upstream th (fd70a, 1%) is stricter than 10%.
	r.consume(t, tailTraces(traceID(1), tspan{service: "frontend", name: "GET", root: true, tracestate: "ot=rv:fffffffffffff0;th:fd70a"}))
	r.sweep(time.Second)
	kept := r.keptSpans()
	require.Len(t, kept, 1)
	for _, ts := range kept {
		require.Equal(t, "ot=rv:fffffffffffff0;th:fd70a", ts)
	}
}

func TestTailLateSpansFollowDecision(t *testing.T) {
	r := newTailRig(t, tailPolicy, nil)
	kept, dropped := traceID(th10+5), traceID(7)
	r.consume(t, tailTraces(kept, tspan{service: "frontend", name: "GET", root: true}))
	r.consume(t, tailTraces(dropped, tspan{service: "frontend", name: "GET", root: true}))
	r.sweep(time.Second)
	require.Len(t, r.keptSpans(), 1)
	r.consume(t, tailTraces(kept, tspan{service: "db", name: "late"}))
	r.consume(t, tailTraces(dropped, tspan{service: "db", name: "late", err: true}))
	spans := r.keptSpans()
	require.Len(t, spans, 2, "the late span of the kept trace passes at once")
	require.Equal(t, "ot=th:e666", spans[fmt.Sprintf("%x/late", kept)])
	require.EqualValues(t, 1, sumBy(t, r.tel, "otelcol_processor_trace_sampling_late_spans", "decision", "kept"))
	require.EqualValues(t, 1, sumBy(t, r.tel, "otelcol_processor_trace_sampling_late_spans", "decision", "dropped"))
	require.EqualValues(t, 0, gauge(t, r.tel, "otelcol_processor_trace_sampling_buffered_traces"))
}

// More traces than max_traces: the oldest are decided early, every span is accounted for, and
// error traces that were in the buffer are kept whole even so.
func TestTailOverflowDecidesOldestEarly(t *testing.T) {
	r := newTailRig(t, tailPolicy, func(c *TailConfig) { c.MaxTraces = 10 })
	for i := range 25 {
		id := traceID(uint64(100 + i))
		r.consume(t, tailTraces(id, tspan{service: "frontend", name: "GET", root: true, err: i%5 == 0}))
	}
	require.EqualValues(t, 10, gauge(t, r.tel, "otelcol_processor_trace_sampling_buffered_traces"))
	require.EqualValues(t, 15, sumBy(t, r.tel, "otelcol_processor_trace_sampling_early_decisions", "cause", "max_traces"))
	r.sweep(time.Second)
	require.Len(t, r.keptSpans(), 5, "every error trace kept, early or not")
	require.EqualValues(t, 5, sumBy(t, r.tel, "otelcol_processor_trace_sampling_traces_kept", "reason", "error"))
	require.EqualValues(t, 20, sumBy(t, r.tel, "otelcol_processor_trace_sampling_traces_dropped", "reason", "rate"))
}

func TestTailByteBudget(t *testing.T) {
	r := newTailRig(t, tailPolicy, func(c *TailConfig) { c.MaxBytes = 1 << 20 })
	big := make([]byte, 64<<10)
	for i := range 40 {
		r.consume(t, tailTraces(traceID(uint64(500+i)), tspan{service: "frontend", name: "GET", root: true, attrs: map[string]any{"payload": string(big)}}))
		require.LessOrEqual(t, gauge(t, r.tel, "otelcol_processor_trace_sampling_buffered_bytes"), int64(1<<20))
	}
	require.Positive(t, sumBy(t, r.tel, "otelcol_processor_trace_sampling_early_decisions", "cause", "max_bytes"))
}

// A trace whose spans keep arriving is decided at max_trace_age; its later spans follow.
func TestTailMaxTraceAge(t *testing.T) {
	r := newTailRig(t, tailPolicy, func(c *TailConfig) { c.MaxTraceAge = 3 * time.Second })
	id := traceID(2)
	r.consume(t, tailTraces(id, tspan{service: "frontend", name: "GET", root: true}))
	for range 4 {
		r.sweep(800 * time.Millisecond)
		r.consume(t, tailTraces(id, tspan{service: "frontend", name: "poll", err: true}))
	}
	require.EqualValues(t, 1, sumBy(t, r.tel, "otelcol_processor_trace_sampling_early_decisions", "cause", "max_trace_age"))
	require.EqualValues(t, 1, sumBy(t, r.tel, "otelcol_processor_trace_sampling_late_spans", "decision", "kept"))
	require.Len(t, r.keptSpans(), 2, "GET and poll (the poll spans share a name)")
	require.EqualValues(t, 5, sumBy(t, r.tel, "otelcol_processor_trace_sampling_spans_kept", "reason", "error"))
}

// A new policy applies to the traces decided after it, including those already held.
func TestTailPolicyChangeAppliesAtDecision(t *testing.T) {
	r := newTailRig(t, tailPolicy, nil)
	id := traceID(th10 + 9) // kept at 10%, dropped at 1%
	r.consume(t, tailTraces(id, tspan{service: "frontend", name: "GET", root: true}))
	r.eng.Swap(compile(t, "default_rate: 0.01\n"))
	r.sweep(time.Second)
	require.Empty(t, r.keptSpans())
	require.EqualValues(t, 1, sumBy(t, r.tel, "otelcol_processor_trace_sampling_traces_dropped", "reason", "rate"))
}

// Shutdown decides what is held and sends the kept traces before returning.
func TestTailShutdownReleases(t *testing.T) {
	r := newTailRig(t, tailPolicy, nil)
	r.consume(t, tailTraces(traceID(3), tspan{service: "frontend", name: "GET", root: true, err: true}))
	require.NoError(t, r.p.shutdown(context.Background()))
	require.Len(t, r.keptSpans(), 1)
	require.EqualValues(t, 1, sumBy(t, r.tel, "otelcol_processor_trace_sampling_early_decisions", "cause", "shutdown"))
}

// refusingSink refuses every request with err while err is set, then passes them to the sink.
type refusingSink struct {
	consumertest.TracesSink
	mu  sync.Mutex
	err error
}

func (r *refusingSink) set(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

func (r *refusingSink) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	r.mu.Lock()
	err := r.err
	r.mu.Unlock()
	if err != nil {
		return err
	}
	return r.TracesSink.ConsumeTraces(ctx, td)
}

// A release the next consumer refuses with a retryable error is kept and sent again at the next
// sweep: the spans were acknowledged when they arrived. Meanwhile new spans are refused, so the
// senders retry them instead of the buffer growing behind a consumer that takes nothing.
func TestTailRefusedReleaseSentAgain(t *testing.T) {
	r := newTailRig(t, tailPolicy, nil)
	next := &refusingSink{err: errors.New("sending queue is full")}
	r.p.tail.next = next
	r.consume(t, tailTraces(traceID(4), tspan{service: "frontend", name: "GET", root: true, err: true}, tspan{service: "b", name: "x"}))
	r.sweep(time.Second)
	require.Zero(t, next.SpanCount())
	require.Zero(t, sumBy(t, r.tel, "otelcol_processor_trace_sampling_spans_dropped", "reason", "export_failed"))
	_, spans, bytes := r.p.tail.observe()
	require.EqualValues(t, 2, spans, "waiting spans count as held")
	require.Positive(t, bytes)

	_, err := r.p.processTraces(context.Background(), tailTraces(traceID(5), tspan{service: "frontend", name: "GET", root: true}))
	require.ErrorIs(t, err, errNextRefusing)
	require.False(t, consumererror.IsPermanent(err), "the sender must retry")

	r.sweep(time.Second) // still refused: still waiting
	require.Zero(t, next.SpanCount())
	next.set(nil)
	r.sweep(time.Second)
	require.Equal(t, 2, next.SpanCount())
	_, spans, bytes = r.p.tail.observe()
	require.Zero(t, spans)
	require.Zero(t, bytes)
	require.Zero(t, sumBy(t, r.tel, "otelcol_processor_trace_sampling_spans_dropped", "reason", "export_failed"))
	_, err = r.p.processTraces(context.Background(), tailTraces(traceID(5), tspan{service: "frontend", name: "GET", root: true}))
	require.ErrorIs(t, err, errSkip, "accepted and held again")
}

// What cannot wait is lost and counted: a permanent refusal, refused batches past max_bytes, and
// whatever is still refused at shutdown.
func TestTailFailedReleaseCounted(t *testing.T) {
	errTrace := func(id uint64) ptrace.Traces {
		return tailTraces(traceID(id), tspan{service: "frontend", name: "GET", root: true, err: true}, tspan{service: "b", name: "x"})
	}
	t.Run("permanent", func(t *testing.T) {
		r := newTailRig(t, tailPolicy, nil)
		r.p.tail.next = consumertest.NewErr(consumererror.NewPermanent(errors.New("bad data")))
		r.consume(t, errTrace(4))
		r.sweep(time.Second)
		require.EqualValues(t, 2, sumBy(t, r.tel, "otelcol_processor_trace_sampling_spans_dropped", "reason", "export_failed"))
		_, spans, _ := r.p.tail.observe()
		require.Zero(t, spans)
	})
	t.Run("past max_bytes", func(t *testing.T) {
		r := newTailRig(t, tailPolicy, nil)
		r.p.tail.next = consumertest.NewErr(errors.New("sending queue is full"))
		r.consume(t, errTrace(4))
		r.p.tail.unsent = resend.New[struct{}](8) // smaller than any encoded batch
		r.sweep(time.Second)
		require.EqualValues(t, 2, sumBy(t, r.tel, "otelcol_processor_trace_sampling_spans_dropped", "reason", "export_failed"))
	})
	t.Run("shutdown", func(t *testing.T) {
		r := newTailRig(t, tailPolicy, nil)
		r.p.tail.next = consumertest.NewErr(errors.New("sending queue is full"))
		r.consume(t, errTrace(4))
		r.sweep(time.Second)
		require.Zero(t, sumBy(t, r.tel, "otelcol_processor_trace_sampling_spans_dropped", "reason", "export_failed"))
		require.NoError(t, r.p.shutdown(context.Background()))
		require.EqualValues(t, 2, sumBy(t, r.tel, "otelcol_processor_trace_sampling_spans_dropped", "reason", "export_failed"))
	})
}

// Decisions reach subscribers after they can be looked up, so a subscriber that checks first and
// then waits cannot miss one.
func TestTailPublishesDecisions(t *testing.T) {
	r := newTailRig(t, tailPolicy, nil)
	var got []policy.Decision
	stop := r.eng.SubscribeDecisions(func(ds []policy.Decision) {
		for _, d := range ds {
			_, ok := r.eng.TraceDecision(d.TraceID)
			require.True(t, ok)
		}
		got = append(got, ds...)
	})
	defer stop()
	r.consume(t, tailTraces(traceID(th10+1), tspan{service: "frontend", name: "GET", root: true}))
	r.consume(t, tailTraces(traceID(5), tspan{service: "frontend", name: "GET", root: true}))
	r.sweep(time.Second)
	require.Len(t, got, 2)
	kept := map[bool]int{}
	for _, d := range got {
		kept[d.Kept]++
		if d.Kept {
			th, err := sampling.TValueToThreshold(d.TValue)
			require.NoError(t, err)
			require.InDelta(t, 0.1, th.Probability(), 1e-4)
		}
	}
	require.Equal(t, map[bool]int{true: 1, false: 1}, kept)
	require.True(t, r.eng.TraceKept(traceID(th10+1), "frontend"))
	require.False(t, r.eng.TraceKept(traceID(5), "frontend"))
}

// The whole processor with its own goroutine, as the collector runs it.
func TestTailThroughFactory(t *testing.T) {
	sink := new(consumertest.TracesSink)
	cfg := createDefaultConfig().(*Config)
	cfg.Rate = 1
	cfg.Tail.Enabled = true
	cfg.Tail.DecisionWait = 20 * time.Millisecond
	cfg.Tail.MaxTraceAge = time.Second
	p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, p.ConsumeTraces(context.Background(), tailTraces(traceID(6), tspan{service: "a", name: "GET", root: true}, tspan{service: "b", name: "x"})))
	require.Eventually(t, func() bool { return sink.SpanCount() == 2 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, p.Shutdown(context.Background()))
}

// A span arriving after its trace left the buffer but before the decision was released follows
// the decision: the decision is recorded while the trace is taken out, under the same lock.
func TestTailSpanBetweenDecisionAndRelease(t *testing.T) {
	r := newTailRig(t, tailPolicy, nil)
	id := traceID(11)
	r.consume(t, tailTraces(id, tspan{service: "frontend", name: "GET", root: true, err: true}))
	tl := r.p.tail
	tl.mu.Lock()
	d := tl.decideLocked(tl.traces[id], -1)
	tl.mu.Unlock()
	// The sweep that took the trace out has not released it yet.
	r.consume(t, tailTraces(id, tspan{service: "db", name: "between"}))
	require.EqualValues(t, 0, gauge(t, r.tel, "otelcol_processor_trace_sampling_buffered_traces"), "the span must not start the trace anew")
	require.EqualValues(t, 1, sumBy(t, r.tel, "otelcol_processor_trace_sampling_late_spans", "decision", "kept"))
	tl.release(context.Background(), []*decided{d})
	require.Len(t, r.keptSpans(), 2)
}
