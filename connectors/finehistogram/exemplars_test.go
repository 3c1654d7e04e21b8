package finehistogram

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sieveobs/sieve/internal/policy"
)

// fakeDecisions plays the sampling_policy extension with a tail sampler: rateKept answers
// TraceKept for undecided traces, decided holds published decisions.
type fakeDecisions struct {
	component.StartFunc
	component.ShutdownFunc
	mu       sync.Mutex
	tail     bool
	rateKept map[pcommon.TraceID]bool
	decided  map[pcommon.TraceID]bool
}

func (f *fakeDecisions) TraceKept(id pcommon.TraceID, _ string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if k, ok := f.decided[id]; ok {
		return k
	}
	return f.rateKept[id]
}

func (f *fakeDecisions) TailActive() bool { return f.tail }

func (f *fakeDecisions) TraceDecision(id pcommon.TraceID) (policy.Decision, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.decided[id]
	return policy.Decision{TraceID: id, Kept: k}, ok
}

func (f *fakeDecisions) SubscribeDecisions(func([]policy.Decision)) func() { return func() {} }

func (f *fakeDecisions) decide(id pcommon.TraceID, kept bool) {
	f.mu.Lock()
	f.decided[id] = kept
	f.mu.Unlock()
}

type decisionsHost struct {
	component.Host
	ext component.Component
}

func (h decisionsHost) GetExtensions() map[component.ID]component.Component {
	return map[component.ID]component.Component{component.MustNewID("sampling_policy"): h.ext}
}

func exemplarTraces(t *testing.T, tc *testConnector) []pcommon.TraceID {
	var ids []pcommon.TraceID
	md := tc.flushNow(t)
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				if ms.At(k).Type() == pmetric.MetricTypeExponentialHistogram {
					dps := ms.At(k).ExponentialHistogram().DataPoints()
					for d := 0; d < dps.Len(); d++ {
						exs := dps.At(d).Exemplars()
						for e := 0; e < exs.Len(); e++ {
							ids = append(ids, exs.At(e).TraceID())
						}
					}
				}
				if ms.At(k).Type() == pmetric.MetricTypeHistogram {
					hdps := ms.At(k).Histogram().DataPoints()
					for d := 0; d < hdps.Len(); d++ {
						exs := hdps.At(d).Exemplars()
						for e := 0; e < exs.Len(); e++ {
							ids = append(ids, exs.At(e).TraceID())
						}
					}
				}
			}
		}
	}
	return ids
}

// With a trace decider, exemplars point only at kept traces: candidates are error spans and
// traces the rate keeps, and the flush checks the tail decision, holding undecided ones.
func TestExemplarsOnlyFromKeptTraces(t *testing.T) {
	dec := &fakeDecisions{tail: true, rateKept: map[pcommon.TraceID]bool{}, decided: map[pcommon.TraceID]bool{}}
	tc := newTestConnector(t, func(c *Config) {
		c.Exemplars = ExemplarsConfig{Enabled: true, MaxPerDataPoint: 10, TraceDecider: component.MustNewID("sampling_policy"), Wait: 2 * time.Minute}
	})
	require.NoError(t, tc.Start(context.Background(), decisionsHost{Host: componenttest.NewNopHost(), ext: dec}))
	id := func(b byte) pcommon.TraceID { return pcommon.TraceID{0xaa, b} }
	dec.rateKept[id(1)] = true // kept by rate, decided kept
	dec.rateKept[id(2)] = true // kept by rate, but decided dropped
	// id(3) error span: decided kept. id(4): neither: never a candidate. id(5): rate, undecided.
	span := func(b byte, status ptrace.StatusCode) spanSpec {
		return spanSpec{svc: "checkout", name: "GET", kind: ptrace.SpanKindServer, status: status, dur: time.Millisecond, id: b}
	}
	dec.rateKept[id(5)] = true
	require.NoError(t, tc.ConsumeTraces(context.Background(), buildTraces(t,
		span(1, ptrace.StatusCodeUnset), span(2, ptrace.StatusCodeUnset), span(4, ptrace.StatusCodeUnset), span(5, ptrace.StatusCodeUnset))))
	require.NoError(t, tc.ConsumeTraces(context.Background(), buildTraces(t, span(3, ptrace.StatusCodeError))))
	dec.decide(id(1), true)
	dec.decide(id(2), false)
	dec.decide(id(3), true)
	dec.decide(id(4), false)
	tc.clock.advance(time.Minute)
	require.ElementsMatch(t, []pcommon.TraceID{id(1), id(3)}, exemplarTraces(t, tc))

	// The undecided one waited a flush; decided kept now, it is written.
	dec.decide(id(5), true)
	tc.clock.advance(time.Minute)
	require.ElementsMatch(t, []pcommon.TraceID{id(5)}, exemplarTraces(t, tc))
}

// An exemplar whose trace is undecided is held across as many flushes as exemplars::wait
// covers, so a flush_interval shorter than the tail sampler's decision_wait loses none, and is
// dropped once it has waited that long; with wait 0 it is dropped at the first flush.
func TestExemplarsWaitForTailDecision(t *testing.T) {
	span := func(b byte) spanSpec {
		return spanSpec{svc: "checkout", name: "GET", kind: ptrace.SpanKindServer, status: ptrace.StatusCodeUnset, dur: time.Millisecond, id: b}
	}
	id := func(b byte) pcommon.TraceID { return pcommon.TraceID{0xaa, b} }
	for _, tt := range []struct {
		name    string
		wait    time.Duration
		flushes int // undecided flushes, one a second, before the decision arrives
		want    bool
	}{
		// First held at flush 1, still held at flush 10 (9 s later), dropped at flush 11.
		{"decided within wait", 10 * time.Second, 10, true},
		{"decided after wait", 10 * time.Second, 11, false},
		{"wait zero", 0, 1, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dec := &fakeDecisions{tail: true, rateKept: map[pcommon.TraceID]bool{id(1): true}, decided: map[pcommon.TraceID]bool{}}
			tc := newTestConnector(t, func(c *Config) {
				c.FlushInterval = time.Second
				c.Exemplars = ExemplarsConfig{Enabled: true, MaxPerDataPoint: 10, TraceDecider: component.MustNewID("sampling_policy"), Wait: tt.wait}
			})
			require.NoError(t, tc.Start(context.Background(), decisionsHost{Host: componenttest.NewNopHost(), ext: dec}))
			require.NoError(t, tc.ConsumeTraces(context.Background(), buildTraces(t, span(1))))
			for range tt.flushes {
				tc.clock.advance(time.Second)
				require.Empty(t, exemplarTraces(t, tc), "undecided: not written")
			}
			dec.decide(id(1), true)
			tc.clock.advance(time.Second)
			if tt.want {
				require.Equal(t, []pcommon.TraceID{id(1)}, exemplarTraces(t, tc))
			} else {
				require.Empty(t, exemplarTraces(t, tc))
			}
		})
	}
}

func TestExemplarsTraceDeciderErrors(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Exemplars.TraceDecider = component.MustNewID("sampling_policy")
	require.ErrorContains(t, cfg.Validate(), "exemplars::trace_decider needs exemplars::enabled")

	tc := newTestConnector(t, func(c *Config) {
		c.Exemplars = ExemplarsConfig{Enabled: true, MaxPerDataPoint: 1, TraceDecider: component.MustNewID("sampling_policy")}
	})
	require.ErrorContains(t, tc.Start(context.Background(), componenttest.NewNopHost()), `exemplars::trace_decider: extension "sampling_policy" not found`)
}
