package engine

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottlspan"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/goleak"

	"github.com/sieveobs/sieve/internal/policy/policyfile"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func mustCompile(t testing.TB, doc string) *Snapshot {
	d, err := policyfile.Parse([]byte(doc))
	require.NoError(t, err)
	return Compile(d, "test", time.Unix(0, 0))
}

// Expected encodings are the examples of the OTel tracestate probability sampling spec.
func TestRateEncodingSpecTable(t *testing.T) {
	tests := []struct {
		prob float64
		want string
	}{
		{1, "ot=th:0"},
		{0.5, "ot=th:8"},
		{0.25, "ot=th:c"},
		{0.1, "ot=th:e666"},
		{0.01, "ot=th:fd70a"},
		{1.0 / 3, "ot=th:aaab"},
		{0.001, "ot=th:ffbe77"},
		{0, ""},
	}
	for _, tt := range tests {
		r := NewRate(tt.prob)
		require.Equal(t, tt.want, r.TraceState, "probability %v", tt.prob)
		if tt.prob > 0 {
			require.InEpsilon(t, tt.prob, r.Threshold.Probability(), 1e-3)
		} else {
			require.Equal(t, sampling.NeverSampleThreshold, r.Threshold)
		}
	}
}

// traceIDWithRandomness builds a trace ID whose 56 random bits are r.
func traceIDWithRandomness(r uint64) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[8:], r&(1<<56-1))
	id[0] = 0x42
	return id
}

func TestLookupAndOperations(t *testing.T) {
	s := mustCompile(t, `
default_rate: 0.1
services:
  checkout:
    rate: 0.5
    operations: {"POST /pay": 1}
  quiet: {}
`)
	require.InDelta(t, 0.1, s.Lookup("nope").Rate().Probability, 0)
	require.Same(t, s.Default(), s.Lookup("nope"))
	require.InDelta(t, 0.5, s.Lookup("checkout").Rate().Probability, 0)
	require.InDelta(t, 1, s.Lookup("checkout").RateFor("POST /pay").Probability, 0)
	require.InDelta(t, 0.5, s.Lookup("checkout").RateFor("GET /").Probability, 0)
	require.InDelta(t, 0.1, s.Lookup("quiet").Rate().Probability, 0, "a service without rate uses the default")
	require.Equal(t, map[string]float64{"POST /pay": 1}, s.Lookup("checkout").Operations())
}

func TestMatchRules(t *testing.T) {
	s := mustCompile(t, `
default_rate: 0.1
rules:
  - {name: health, action: never, span_name: "GET /healthz"}
  - {name: internal, action: never, service: batch, span_name_prefix: "cron."}
  - {name: debug, action: always, attribute: sieve.debug, value: "true"}
  - {name: vip, action: always, attribute: customer.vip}
  - name: slow-db
    action: always
    condition: kind == SPAN_KIND_CLIENT and attributes["db.system"] == "postgresql" and resource.attributes["deployment.environment.name"] == "prod"
`)
	tests := []struct {
		name, service, span string
		attrs               map[string]any
		want                RuleVerdict
	}{
		{"health check", "any", "GET /healthz", nil, RuleNever},
		{"other span", "any", "GET /", nil, NoRule},
		{"prefix in service", "batch", "cron.cleanup", nil, RuleNever},
		{"prefix other service", "web", "cron.cleanup", nil, NoRule},
		{"debug string", "web", "GET /", map[string]any{"sieve.debug": "true"}, RuleAlways},
		{"debug bool", "web", "GET /", map[string]any{"sieve.debug": true}, RuleAlways},
		{"debug false", "web", "GET /", map[string]any{"sieve.debug": "false"}, NoRule},
		{"presence", "web", "GET /", map[string]any{"customer.vip": "gold"}, RuleAlways},
		{"first rule wins", "web", "GET /healthz", map[string]any{"sieve.debug": "true"}, RuleNever},
		{"condition", "orders", "SELECT", map[string]any{"db.system": "postgresql", "kind": "client"}, RuleAlways},
		{"condition other system", "orders", "SELECT", map[string]any{"db.system": "mysql", "kind": "client"}, NoRule},
		{"condition server span", "orders", "SELECT", map[string]any{"db.system": "postgresql"}, NoRule},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, ss, sp := ruleSpan(tt.service, tt.span, tt.attrs)
			require.Equal(t, tt.want, s.MatchRules(context.Background(), rs, ss, sp, tt.service))
		})
	}
}

// ruleSpan builds one span of service in a prod resource; a "kind": "client" entry in attrs sets
// the span kind instead of an attribute.
func ruleSpan(service, name string, attrs map[string]any) (ptrace.ResourceSpans, ptrace.ScopeSpans, ptrace.Span) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	rs.Resource().Attributes().PutStr("deployment.environment.name", "prod")
	ss := rs.ScopeSpans().AppendEmpty()
	sp := ss.Spans().AppendEmpty()
	sp.SetName(name)
	sp.SetKind(ptrace.SpanKindServer)
	for k, v := range attrs {
		if k == "kind" {
			sp.SetKind(ptrace.SpanKindClient)
			continue
		}
		_ = sp.Attributes().PutEmpty(k).FromRaw(v)
	}
	return rs, ss, sp
}

// The shorthand fields are matched directly; their translation to OTTL (ConditionOf), evaluated
// by OTTL, must give the same answer on every span.
func TestShorthandAgreesWithItsCondition(t *testing.T) {
	rules := []policyfile.Rule{
		{Name: "a", Action: "never", SpanName: "GET /healthz"},
		{Name: "b", Action: "never", Service: "batch", SpanNamePrefix: "cron."},
		{Name: "c", Action: "always", Attribute: "sieve.debug", Value: "true"},
		{Name: "d", Action: "always", Attribute: "customer.vip"},
		{Name: "e", Action: "always", Attribute: "http.status_code", Value: "503"},
		{Name: "f", Action: "never", Service: "web", SpanName: `say "hi"\now`},
	}
	services := []string{"web", "batch", ""}
	names := []string{"GET /healthz", "cron.cleanup", "cron", "GET /", `say "hi"\now`, ""}
	values := []any{"true", true, false, "false", "503", int64(503), 503.0, "gold", []any{"true"}}
	for _, r := range rules {
		cond, err := policyfile.ParseSpanCondition(r.ConditionOf())
		require.NoError(t, err, r.ConditionOf())
		m := ruleMatch{service: r.Service, spanName: r.SpanName, prefix: r.SpanNamePrefix, attribute: r.Attribute, value: r.Value}
		for _, svc := range services {
			for _, name := range names {
				for _, key := range []string{"sieve.debug", "customer.vip", "http.status_code", "other"} {
					for _, v := range values {
						rs, ss, sp := ruleSpan(svc, name, map[string]any{key: v})
						tCtx := ottlspan.NewTransformContextPtr(rs, ss, sp)
						want, err := cond.Eval(context.Background(), tCtx)
						tCtx.Close()
						require.NoError(t, err)
						require.Equal(t, want, m.matchShorthand(svc, name, sp.Attributes()),
							"rule %s (%s) on service %q span %q %s=%v", r.Name, r.ConditionOf(), svc, name, key, v)
					}
				}
			}
		}
	}
}

func TestTraceKeptIsConsistent(t *testing.T) {
	s := mustCompile(t, "default_rate: 0.25\nservices: {all: {rate: 1}, none: {rate: 0}}\n")
	e := New(s)
	th := s.Default().Rate().Threshold.Unsigned()
	tests := []struct {
		name    string
		r       uint64
		service string
		want    bool
	}{
		{"just above threshold", th, "x", true},
		{"just below threshold", th - 1, "x", false},
		{"max randomness", 1<<56 - 1, "x", true},
		{"zero randomness", 0, "x", false},
		{"rate 1", 0, "all", true},
		{"rate 0", 1<<56 - 1, "none", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, e.TraceKept(traceIDWithRandomness(tt.r), tt.service))
		})
	}
	id := traceIDWithRandomness(0)
	require.False(t, e.TraceKept(id, "x"))
	e.RecordKept(id)
	require.True(t, e.TraceKept(id, "x"), "a trace the processor recorded as kept")
	require.False(t, e.TraceKept(traceIDWithRandomness(1), "x"))
}

func TestTraceKeptAllocs(t *testing.T) {
	e := New(mustCompile(t, "default_rate: 0.25\nservices: {a: {rate: 0.5}}\n"))
	id := traceIDWithRandomness(12345)
	allocs := testing.AllocsPerRun(1000, func() { e.TraceKept(id, "a") })
	require.Zero(t, allocs)
}

func BenchmarkTraceKept(b *testing.B) {
	e := New(mustCompile(b, "default_rate: 0.25\nservices: {a: {rate: 0.5}}\n"))
	ids := make([]pcommon.TraceID, 1024)
	for i := range ids {
		ids[i] = traceIDWithRandomness(uint64(i) * 0x9e3779b97f4a7c15)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.TraceKept(ids[i&1023], "a")
	}
}
