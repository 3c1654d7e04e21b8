package tracesampling

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/sieveobs/sieve/internal/policy"
	"github.com/sieveobs/sieve/internal/policy/engine"
	"github.com/sieveobs/sieve/processors/tracesampling/internal/metadata"
)

// lendingProvider is a policy extension that also lends prefilters, as sampling_policy does.
type lendingProvider struct {
	fakeProvider
	policy.PrefilterRegistry
}

const ruleFreePolicy = `
default_rate: 0.1
services:
  payments: {rate: 0.01}
  audit: {rate: 1}
  muted: {rate: 0}
  checkout:
    rate: 0.1
    operations: {"POST /pay": 1}
adaptive:
  - {service: search, target_spans_per_second: 1000}
`

// tracePair runs one policy twice: a processor deciding decoded requests alone, and one behind
// its prefilter.
type tracePair struct {
	aloneSink, behindSink *consumertest.TracesSink
	alone, behind         consumer.Traces
	pre                   policy.TracesPrefilter
}

func newTracePair(t testing.TB, doc string) *tracePair {
	tp := &tracePair{aloneSink: new(consumertest.TracesSink), behindSink: new(consumertest.TracesSink)}
	mk := func(sink *consumertest.TracesSink) (*lendingProvider, consumer.Traces) {
		ext := &lendingProvider{fakeProvider: fakeProvider{engine.New(compile(t, doc))}}
		p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), &Config{Rate: 1, Policy: policyID}, sink)
		require.NoError(t, err)
		require.NoError(t, p.Start(context.Background(), host{Host: componenttest.NewNopHost(), ext: map[component.ID]component.Component{policyID: ext}}))
		t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
		return ext, p
	}
	_, tp.alone = mk(tp.aloneSink)
	ext, behind := mk(tp.behindSink)
	tp.behind = behind
	pre, ok := ext.TracesPrefilter()
	require.True(t, ok, "a head-mode processor lends its prefilter")
	tp.pre = pre
	return tp
}

// check runs one request both ways: the same spans must be kept, byte for byte (tracestate
// included), and a request the decoder refuses must stay refused.
func (tp *tracePair) check(t testing.TB, body []byte) int {
	full := ptraceotlp.NewExportRequest()
	fullErr := full.UnmarshalProto(body)
	out, res, err := tp.pre.FilterTraces(nil, body)
	if fullErr != nil {
		if err == nil {
			require.Error(t, ptraceotlp.NewExportRequest().UnmarshalProto(out), "prefilter turned an invalid request into a valid one")
		}
		return 0
	}
	if err != nil {
		out, res.Dropped = body, 0
	} else {
		require.Equal(t, full.Traces().SpanCount(), res.Records)
	}
	part := ptraceotlp.NewExportRequest()
	require.NoError(t, part.UnmarshalProto(out))
	tp.aloneSink.Reset()
	tp.behindSink.Reset()
	require.NoError(t, tp.alone.ConsumeTraces(context.Background(), full.Traces()))
	if part.Traces().SpanCount() > 0 {
		require.NoError(t, tp.behind.ConsumeTraces(context.Background(), part.Traces()))
	}
	marshal := func(all []ptrace.Traces) []byte {
		td := ptrace.NewTraces()
		for _, x := range all {
			x.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		}
		b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		require.NoError(t, err)
		return b
	}
	require.Equal(t, marshal(tp.aloneSink.AllTraces()), marshal(tp.behindSink.AllTraces()), "spans kept behind the prefilter differ from the processor's own")
	return res.Dropped
}

func parityTraces(rng *rand.Rand, n int) ptrace.Traces {
	td := ptrace.NewTraces()
	for _, service := range []string{"checkout", "payments", "audit", "muted", "search", "other", ""} {
		rs := td.ResourceSpans().AppendEmpty()
		if service != "" {
			rs.Resource().Attributes().PutStr("service.name", service)
		}
		ss := rs.ScopeSpans().AppendEmpty()
		for range n {
			sp := ss.Spans().AppendEmpty()
			sp.SetName([]string{"POST /pay", "GET /cart", "GET /healthz"}[rng.IntN(3)])
			var id pcommon.TraceID
			binary.BigEndian.PutUint64(id[:8], rng.Uint64())
			binary.BigEndian.PutUint64(id[8:], rng.Uint64())
			sp.SetTraceID(id)
			sp.SetSpanID(pcommon.SpanID{1, 2, 3, byte(rng.IntN(256))})
			if rng.IntN(2) == 0 {
				sp.SetParentSpanID(pcommon.SpanID{9})
			}
			if rng.IntN(10) == 0 {
				sp.Status().SetCode(ptrace.StatusCodeError)
			}
			if rng.IntN(12) == 0 {
				sp.TraceState().FromRaw([]string{"ot=th:8", "ot=rv:00000000000001", "vendor=x", "ot=th:zz"}[rng.IntN(4)])
			}
			if rng.IntN(4) == 0 {
				sp.Attributes().PutStr("sieve.debug", "true")
			}
			sp.Events().AppendEmpty().SetName("e")
			sp.Links().AppendEmpty().SetTraceID(id)
		}
	}
	return td
}

func TestTracesPrefilterKeepsWhatTheProcessorKeeps(t *testing.T) {
	for i, doc := range []string{ruleFreePolicy, decisionPolicy} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			tp := newTracePair(t, doc)
			rng := rand.New(rand.NewPCG(uint64(i), 9))
			dropped := 0
			for range 20 {
				body, err := ptraceotlp.NewExportRequestFromTraces(parityTraces(rng, 30)).MarshalProto()
				require.NoError(t, err)
				_, _, err = tp.pre.FilterTraces(nil, body)
				require.NoError(t, err)
				dropped += tp.check(t, body)
			}
			if doc == ruleFreePolicy {
				require.Positive(t, dropped, "the prefilter must decide spans on the wire")
			} else {
				require.Zero(t, dropped, "a policy with rules is decided after the decode")
			}
		})
	}
}

// FuzzTracesPrefilterParity: the same requests to the processor alone and behind its prefilter
// keep the same spans with the same tracestate.
func FuzzTracesPrefilterParity(f *testing.F) {
	body, err := ptraceotlp.NewExportRequestFromTraces(parityTraces(rand.New(rand.NewPCG(1, 1)), 2)).MarshalProto()
	require.NoError(f, err)
	f.Add(body)
	f.Add([]byte{})
	tp := newTracePair(f, ruleFreePolicy)
	f.Fuzz(func(t *testing.T, body []byte) { tp.check(t, body) })
}
