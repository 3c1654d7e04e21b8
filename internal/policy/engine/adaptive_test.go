package engine

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// simulate feeds a constant load into an entry for n windows on a simulated clock.
func simulate(s *Snapshot, e *Entry, clock *time.Time, window time.Duration, spansPerSec, errRatio float64, n int) []float64 {
	rates := make([]float64, 0, n)
	for i := 0; i < n; i++ {
		spans := int64(spansPerSec * window.Seconds())
		e.Observe(spans, spans/10, int64(float64(spans)*errRatio))
		*clock = clock.Add(window)
		s.Tick(*clock)
		rates = append(rates, e.Rate().Probability)
	}
	return rates
}

func TestAdaptiveReachesTarget(t *testing.T) {
	tests := []struct {
		name     string
		incoming float64
		target   float64
		base     float64
	}{
		{"10x over target", 10000, 1000, 1},
		{"100x over target", 50000, 500, 1},
		{"under target keeps base", 100, 1000, 0.5},
		{"base already meets target", 10000, 2000, 0.1},
	}
	const window = 10 * time.Second
	const maxWindows = 5
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustCompile(t, "default_rate: 1\nservices: {api: {rate: "+ftoa(tt.base)+"}}\nadaptive:\n  - {service: api, target_spans_per_second: "+ftoa(tt.target)+"}\n")
			e := s.Lookup("api")
			clock := time.Unix(1000, 0)
			s.Tick(clock) // opens the first window
			rates := simulate(s, e, &clock, window, tt.incoming, 0, maxWindows)
			kept := tt.incoming * rates[len(rates)-1]
			want := min(tt.target, tt.incoming*tt.base)
			require.InEpsilon(t, want, kept, 0.02, "kept spans/s after %d windows: %v", maxWindows, rates)
			require.LessOrEqual(t, rates[len(rates)-1], tt.base, "never above the configured rate without errors")
		})
	}
}

func TestAdaptiveFollowsLoadChange(t *testing.T) {
	s := mustCompile(t, "default_rate: 1\nadaptive:\n  - {service: api, target_spans_per_second: 100}\n")
	e := s.Lookup("api")
	clock := time.Unix(0, 0)
	s.Tick(clock)
	simulate(s, e, &clock, time.Second, 1000, 0, 6)
	require.InEpsilon(t, 0.1, e.Rate().Probability, 0.02)
	rates := simulate(s, e, &clock, time.Second, 10000, 0, 8)
	require.InEpsilon(t, 0.01, rates[len(rates)-1], 0.02, "rates: %v", rates)
}

func TestAdaptiveBoostsOnErrors(t *testing.T) {
	s := mustCompile(t, "default_rate: 1\nadaptive:\n  - {service: api, target_spans_per_second: 100, max_rate: 0.5}\n")
	e := s.Lookup("api")
	clock := time.Unix(0, 0)
	s.Tick(clock)
	simulate(s, e, &clock, time.Second, 10000, 0.01, 6)
	calm := e.Rate().Probability
	require.InEpsilon(t, 0.01, calm, 0.02, "1% errors is below the default 5% ratio")
	require.False(t, e.Boosted())

	rates := simulate(s, e, &clock, time.Second, 10000, 0.2, 10)
	require.True(t, e.Boosted())
	require.Greater(t, rates[0], calm, "the first error window raises the rate")
	require.InDelta(t, 0.5, rates[len(rates)-1], 0, "boost stops at max_rate: %v", rates)
	for i := 1; i < len(rates); i++ {
		require.LessOrEqual(t, rates[i], min(0.5, 2*rates[i-1])+1e-12, "at most doubling per window")
	}

	rates = simulate(s, e, &clock, time.Second, 10000, 0, 1)
	require.False(t, e.Boosted())
	require.InEpsilon(t, 0.01, rates[0], 0.02, "back to the target once errors stop")
}

func TestAdaptiveTracesTargetAndOperations(t *testing.T) {
	s := mustCompile(t, `
default_rate: 1
services:
  api: {rate: 1, operations: {"GET /": 0.5}}
adaptive:
  - {service: api, target_traces_per_second: 10}
`)
	e := s.Lookup("api")
	clock := time.Unix(0, 0)
	s.Tick(clock)
	// simulate reports one root per 10 spans: 1000 spans/s is 100 traces/s.
	simulate(s, e, &clock, time.Second, 1000, 0, 6)
	require.InEpsilon(t, 0.1, e.Rate().Probability, 0.02)
	require.InEpsilon(t, 0.05, e.RateFor("GET /").Probability, 0.02, "operations scale with the service")
}

func TestSwapKeepsAdaptiveState(t *testing.T) {
	const doc = "default_rate: 1\nadaptive:\n  - {service: api, target_spans_per_second: 100}\n"
	first := mustCompile(t, doc)
	eng := New(first)
	clock := time.Unix(0, 0)
	first.Tick(clock)
	simulate(first, first.Lookup("api"), &clock, time.Second, 1000, 0, 6)
	second := mustCompile(t, doc+"log_tiers: [{name: a, percent: 1}]\n")
	eng.Swap(second)
	require.Same(t, second, eng.Load())
	require.InEpsilon(t, 0.1, second.Lookup("api").Rate().Probability, 0.02, "a converged controller survives a policy update")
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
