package tracesampling

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/sieveobs/sieve/internal/policy/engine"
	"github.com/sieveobs/sieve/internal/policy/policyfile"
	"github.com/sieveobs/sieve/processors/tracesampling/internal/metadata"
	"github.com/sieveobs/sieve/processors/tracesampling/internal/metadatatest"
)

// randomness values around the thresholds of 10% (e666) and 1% (fd70a).
const (
	th10 = uint64(0xe666) << 40
	th1  = uint64(0xfd70a) << 36
)

func traceID(r uint64) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[8:], r&(1<<56-1))
	binary.BigEndian.PutUint64(id[:8], r*0x9e3779b97f4a7c15|1)
	return id
}

type fakeProvider struct{ eng *engine.Engine }

func (f fakeProvider) Start(context.Context, component.Host) error { return nil }
func (f fakeProvider) Shutdown(context.Context) error              { return nil }
func (f fakeProvider) Engine() *engine.Engine                      { return f.eng }

type otherExtension struct{}

func (otherExtension) Start(context.Context, component.Host) error { return nil }
func (otherExtension) Shutdown(context.Context) error              { return nil }

type host struct {
	component.Host
	ext map[component.ID]component.Component
}

func (h host) GetExtensions() map[component.ID]component.Component { return h.ext }

var policyID = component.MustNewID("sampling_policy")

func compile(t testing.TB, doc string) *engine.Snapshot {
	d, err := policyfile.Parse([]byte(doc))
	require.NoError(t, err)
	return engine.Compile(d, "test", time.Unix(0, 0))
}

func newProcessor(t testing.TB, eng *engine.Engine, tel *componenttest.Telemetry, next consumer.Traces) processor.Traces {
	if next == nil {
		next = consumertest.NewNop()
	}
	cfg := &Config{Rate: 1, Policy: policyID}
	set := processortest.NewNopSettings(metadata.Type)
	if tel != nil {
		set = metadatatest.NewSettings(tel)
	}
	p, err := NewFactory().CreateTraces(context.Background(), set, cfg, next)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), host{Host: componenttest.NewNopHost(), ext: map[component.ID]component.Component{policyID: fakeProvider{eng}}}))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return p
}

type spanIn struct {
	service    string
	name       string
	r          uint64
	tracestate string
	err        bool
	attrs      map[string]string
	child      bool
}

func buildTraces(spans ...spanIn) ptrace.Traces {
	td := ptrace.NewTraces()
	for _, s := range spans {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", s.service)
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetName(s.name)
		sp.SetTraceID(traceID(s.r))
		sp.SetSpanID(pcommon.SpanID{1, 2, 3})
		if s.child {
			sp.SetParentSpanID(pcommon.SpanID{9})
		}
		sp.TraceState().FromRaw(s.tracestate)
		if s.err {
			sp.Status().SetCode(ptrace.StatusCodeError)
		}
		for k, v := range s.attrs {
			sp.Attributes().PutStr(k, v)
		}
	}
	return td
}

const decisionPolicy = `
default_rate: 0.1
services:
  payments: {rate: 0.01}
  audit: {rate: 1}
  muted: {rate: 0}
  checkout:
    rate: 0.1
    operations: {"POST /pay": 1}
rules:
  - {name: health, action: never, span_name: "GET /healthz"}
  - {name: debug, action: always, attribute: sieve.debug, value: "true"}
adaptive:
  - {service: search, target_spans_per_second: 1000}
`

func TestDecisions(t *testing.T) {
	tests := []struct {
		name   string
		in     spanIn
		kept   bool
		wantTS string
	}{
		{"10% kept at threshold", spanIn{service: "web", r: th10}, true, "ot=th:e666"},
		{"10% dropped below threshold", spanIn{service: "web", r: th10 - 1}, false, ""},
		{"1% service", spanIn{service: "payments", r: th1}, true, "ot=th:fd70a"},
		{"1% service drops what 10% keeps", spanIn{service: "payments", r: th10}, false, ""},
		{"100% service", spanIn{service: "audit", r: 0}, true, "ot=th:0"},
		{"0% service", spanIn{service: "muted", r: 1<<56 - 1}, false, ""},
		{"operation rate", spanIn{service: "checkout", name: "POST /pay", r: 5}, true, "ot=th:0"},
		{"other operation uses the service rate", spanIn{service: "checkout", name: "GET /", r: 5}, false, ""},
		{"never rule", spanIn{service: "audit", name: "GET /healthz", r: 1<<56 - 1}, false, ""},
		{"always rule leaves tracestate alone", spanIn{service: "web", r: 0, attrs: map[string]string{"sieve.debug": "true"}}, true, ""},
		{"upstream 50% is lowered to ours", spanIn{service: "web", r: th10, tracestate: "ot=th:8"}, true, "ot=th:e666"},
		{"upstream 1% is never raised", spanIn{service: "web", r: th1, tracestate: "ot=th:fd70a"}, true, "ot=th:fd70a"},
		{"upstream 1% drops what our 10% would keep", spanIn{service: "web", r: th10, tracestate: "ot=th:fd70a"}, false, ""},
		{"rv overrides the trace ID", spanIn{service: "web", r: 0, tracestate: "ot=rv:ffffffffffffff"}, true, "ot=rv:ffffffffffffff;th:e666"},
		{"rv below threshold drops", spanIn{service: "web", r: 1<<56 - 1, tracestate: "ot=rv:00000000000000"}, false, ""},
		{"other vendors are kept", spanIn{service: "web", r: th10, tracestate: "vendor=abc"}, true, "ot=th:e666,vendor=abc"},
		{"invalid tracestate decided on the trace ID", spanIn{service: "web", r: th10, tracestate: "ot=th:zz,,="}, true, "ot=th:zz,,="},
		{"error span of an adaptive service is kept", spanIn{service: "search", r: 0, err: true}, true, ""},
		{"error span of a plain service follows the rate", spanIn{service: "web", r: 0, err: true}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := engine.New(compile(t, decisionPolicy))
			sink := &consumertest.TracesSink{}
			p := newProcessor(t, eng, nil, sink)
			require.NoError(t, p.ConsumeTraces(context.Background(), buildTraces(tt.in)))
			if !tt.kept {
				require.Zero(t, sink.SpanCount())
				return
			}
			require.Equal(t, 1, sink.SpanCount())
			sp := sink.AllTraces()[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
			require.Equal(t, tt.wantTS, sp.TraceState().AsRaw())
			require.True(t, eng.TraceKept(sp.TraceID(), tt.in.service), "TraceKept agrees with the processor")
		})
	}
}

func TestTraceSpansAgreeAndFractionMatches(t *testing.T) {
	const traces, spansPerTrace = 10000, 4
	rates := map[string]float64{"web": 0.1, "payments": 0.01, "audit": 1}
	eng := engine.New(compile(t, decisionPolicy))
	sink := &consumertest.TracesSink{}
	p := newProcessor(t, eng, nil, sink)
	for svc := range rates {
		var spans []spanIn
		for i := 0; i < traces; i++ {
			r := uint64(i+1) * 0x9e3779b97f4a7c15
			for k := 0; k < spansPerTrace; k++ {
				spans = append(spans, spanIn{service: svc, name: fmt.Sprintf("op%d", k), r: r, child: k > 0})
			}
		}
		require.NoError(t, p.ConsumeTraces(context.Background(), buildTraces(spans...)))
	}
	type key struct {
		service string
		id      pcommon.TraceID
	}
	perTrace := map[key]int{}
	perService := map[string]int{}
	for _, td := range sink.AllTraces() {
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			rs := td.ResourceSpans().At(i)
			svc, _ := rs.Resource().Attributes().Get("service.name")
			sp := rs.ScopeSpans().At(0).Spans().At(0)
			perTrace[key{svc.Str(), sp.TraceID()}]++
			perService[svc.Str()]++
		}
	}
	for id, n := range perTrace {
		require.Equal(t, spansPerTrace, n, "trace %v is partially kept", id)
	}
	for svc, rate := range rates {
		kept := float64(perService[svc]) / spansPerTrace
		// Four standard deviations of a binomial count.
		sd := 4 * math.Sqrt(traces*rate*(1-rate))
		require.InDelta(t, traces*rate, kept, sd+1, "service %s", svc)
	}
}

func TestLivePolicySwap(t *testing.T) {
	eng := engine.New(compile(t, "default_rate: 1\n"))
	sink := &consumertest.TracesSink{}
	p := newProcessor(t, eng, nil, sink)
	in := spanIn{service: "web", r: th10 - 1}
	require.NoError(t, p.ConsumeTraces(context.Background(), buildTraces(in)))
	require.Equal(t, 1, sink.SpanCount())
	eng.Swap(compile(t, "default_rate: 0.1\n"))
	require.NoError(t, p.ConsumeTraces(context.Background(), buildTraces(in)))
	require.Equal(t, 1, sink.SpanCount(), "the next batch follows the new policy")
}

func TestCountersByReason(t *testing.T) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	eng := engine.New(compile(t, decisionPolicy))
	p := newProcessor(t, eng, tel, &consumertest.TracesSink{})
	require.NoError(t, p.ConsumeTraces(context.Background(), buildTraces(
		spanIn{service: "web", r: th10},
		spanIn{service: "web", r: 0},
		spanIn{service: "web", r: 0},
		spanIn{service: "web", name: "GET /healthz", r: th10},
		spanIn{service: "web", r: 0, attrs: map[string]string{"sieve.debug": "true"}},
		spanIn{service: "search", r: 0, err: true},
		spanIn{service: "web", r: th10, tracestate: "ot=th:zz,,="},
	)))
	attrs := func(r string) attribute.Set { return attribute.NewSet(attribute.String("reason", r)) }
	metadatatest.AssertEqualProcessorTraceSamplingSpansKept(t, tel, []metricdata.DataPoint[int64]{
		{Value: 2, Attributes: attrs("rate")},
		{Value: 1, Attributes: attrs("always_rule")},
		{Value: 1, Attributes: attrs("error")},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorTraceSamplingSpansDropped(t, tel, []metricdata.DataPoint[int64]{
		{Value: 2, Attributes: attrs("rate")},
		{Value: 1, Attributes: attrs("never_rule")},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorTraceSamplingInvalidTracestate(t, tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
}

func TestAdaptiveObservesIncomingSpans(t *testing.T) {
	snap := compile(t, "default_rate: 1\nadaptive:\n  - {service: api, target_spans_per_second: 100}\n")
	eng := engine.New(snap)
	p := newProcessor(t, eng, nil, &consumertest.TracesSink{})
	clock := time.Unix(0, 0)
	snap.Tick(clock)
	for w := 0; w < 6; w++ {
		spans := make([]spanIn, 1000)
		for i := range spans {
			spans[i] = spanIn{service: "api", r: uint64(w*1000+i) * 0x9e3779b97f4a7c15}
		}
		require.NoError(t, p.ConsumeTraces(context.Background(), buildTraces(spans...)))
		clock = clock.Add(time.Second)
		snap.Tick(clock)
	}
	require.InEpsilon(t, 0.1, snap.Lookup("api").Rate().Probability, 0.02)
}

func TestStartErrors(t *testing.T) {
	tests := []struct {
		name string
		ext  map[component.ID]component.Component
		want string
	}{
		{"missing extension", nil, "not configured"},
		{"wrong extension", map[component.ID]component.Component{policyID: otherExtension{}}, "not a sampling_policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), &Config{Rate: 1, Policy: policyID}, consumertest.NewNop())
			require.NoError(t, err)
			require.ErrorContains(t, p.Start(context.Background(), host{Host: componenttest.NewNopHost(), ext: tt.ext}), tt.want)
			require.NoError(t, p.Shutdown(context.Background()))
		})
	}
}

func TestStaticRateWithoutExtension(t *testing.T) {
	sink := &consumertest.TracesSink{}
	p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), &Config{Rate: 0.1}, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, p.Shutdown(context.Background())) }()
	require.NoError(t, p.ConsumeTraces(context.Background(), buildTraces(spanIn{service: "a", r: th10}, spanIn{service: "a", r: th10 - 1})))
	require.Equal(t, 1, sink.SpanCount())
}

// FuzzDecideTraceState feeds arbitrary upstream tracestates: the decision must never panic, never
// keep a span at a higher probability than an upstream threshold, and keep the tracestate valid.
func FuzzDecideTraceState(f *testing.F) {
	for _, s := range []string{"", "ot=th:8", "ot=th:fd70a", "ot=rv:ffffffffffffff", "ot=th:0;rv:00000000000000", "vendor=x,ot=th:c", "ot=th:zz", "ot=,", "a=b,c=d"} {
		f.Add(s, uint64(th10))
	}
	eng := engine.New(compile(f, decisionPolicy))
	p, err := newTraceSampler(processortest.NewNopSettings(metadata.Type), &Config{Rate: 1}, consumertest.NewNop(), time.Now)
	require.NoError(f, err)
	p.engine = eng
	f.Fuzz(func(t *testing.T, ts string, r uint64) {
		td := buildTraces(spanIn{service: "web", r: r, tracestate: ts})
		rs := td.ResourceSpans().At(0)
		sp := rs.ScopeSpans().At(0).Spans().At(0)
		var c batchCounts
		snap := eng.Load()
		keep, _ := p.decide(context.Background(), snap, snap.Lookup("web"), rs, rs.ScopeSpans().At(0), "web", sp, false, &c)
		if !keep || c.invalidTS > 0 {
			return
		}
		in, err := sampling.NewW3CTraceState(ts)
		require.NoError(t, err)
		out, err := sampling.NewW3CTraceState(sp.TraceState().AsRaw())
		require.NoError(t, err, "kept spans carry a valid tracestate")
		got, ok := out.OTelValue().TValueThreshold()
		require.True(t, ok, "kept spans carry a threshold")
		if up, had := in.OTelValue().TValueThreshold(); had {
			require.False(t, sampling.ThresholdLessThan(got, up), "probability raised above upstream")
		}
	})
}
