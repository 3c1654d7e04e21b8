package tracesampling

import (
	"context"
	"fmt"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/sieveobs/sieve/internal/policy/engine"
)

// fuzzIndex tags every incoming span so that its fate can be traced through the processor.
const fuzzIndex = "fuzz.index"

// FuzzConsumeOTLPTraces decodes arbitrary bytes the way the OTLP receivers do (protobuf and JSON)
// and hands what decodes to the processor under a policy with rules, services and operations: it
// must never panic or fail the batch, never invent spans, give every span of one trace (same
// service, span name and no tracestate) the same decision, and leave kept spans with a
// tracestate that is still valid W3C when it arrived valid.
func FuzzConsumeOTLPTraces(f *testing.F) {
	td := buildTraces(
		spanIn{service: "checkout", name: "POST /pay", r: th10},
		spanIn{service: "checkout", name: "GET /cart", r: th10, child: true},
		spanIn{service: "web", name: "GET /healthz", r: th1},
		spanIn{service: "payments", name: "charge", r: th1 - 1, tracestate: "ot=th:fd70a;rv:ffffffffffffff,vendor=x"},
		spanIn{service: "web", name: "GET /", r: 1, err: true, attrs: map[string]string{"sieve.debug": "true"}},
		spanIn{service: "search", name: "q", r: th10 + 1, tracestate: "ot=th:zz"},
	)
	req := ptraceotlp.NewExportRequestFromTraces(td)
	pb, err := req.MarshalProto()
	require.NoError(f, err)
	js, err := req.MarshalJSON()
	require.NoError(f, err)
	f.Add(pb)
	f.Add(js)
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","traceState":"ot=th:8"}]}]}]}`))
	f.Add([]byte{})

	sink := new(consumertest.TracesSink)
	eng := engine.New(compile(f, decisionPolicy))
	p := newProcessor(f, eng, nil, sink)

	f.Fuzz(func(t *testing.T, data []byte) {
		for _, decode := range []func(ptraceotlp.ExportRequest) error{
			func(r ptraceotlp.ExportRequest) error { return r.UnmarshalProto(data) },
			func(r ptraceotlp.ExportRequest) error { return r.UnmarshalJSON(data) },
		} {
			req := ptraceotlp.NewExportRequest()
			if decode(req) != nil {
				continue
			}
			td := req.Traces()
			// groupOf keys the spans whose decision depends on the trace alone.
			groupOf := map[int64]string{}
			validIn := map[int64]bool{}
			n := int64(0)
			forEachSpan(td, func(service string, s ptrace.Span) {
				s.Attributes().PutInt(fuzzIndex, n)
				ts := s.TraceState().AsRaw()
				_, tsErr := sampling.NewW3CTraceState(ts)
				validIn[n] = ts == "" || tsErr == nil
				_, debug := s.Attributes().Get("sieve.debug")
				if ts == "" && !debug && s.Status().Code() != ptrace.StatusCodeError {
					groupOf[n] = fmt.Sprintf("%s|%s|%x", service, s.Name(), s.TraceID())
				}
				n++
			})
			sink.Reset()
			require.NoError(t, p.ConsumeTraces(context.Background(), td))

			kept := map[int64]bool{}
			for _, got := range sink.AllTraces() {
				forEachSpan(got, func(_ string, s ptrace.Span) {
					v, ok := s.Attributes().Get(fuzzIndex)
					require.True(t, ok, "span without its index: invented by the processor")
					idx := v.Int()
					require.False(t, kept[idx], "span %d emitted twice", idx)
					kept[idx] = true
					if ts := s.TraceState().AsRaw(); validIn[idx] && ts != "" {
						_, err := sampling.NewW3CTraceState(ts)
						require.NoError(t, err, "kept span left with an invalid tracestate")
					}
				})
			}
			require.LessOrEqual(t, int64(len(kept)), n)
			decision := map[string]bool{}
			for idx, g := range groupOf {
				if prev, seen := decision[g]; seen {
					require.Equal(t, prev, kept[idx], "spans of one trace decided differently (%s)", g)
				}
				decision[g] = kept[idx]
			}
		}
	})
}

func forEachSpan(td ptrace.Traces, fn func(service string, s ptrace.Span)) {
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		rs := td.ResourceSpans().At(i)
		service := serviceName(rs.Resource())
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			spans := rs.ScopeSpans().At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				fn(service, spans.At(k))
			}
		}
	}
}
