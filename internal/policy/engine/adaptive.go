package engine

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"

	"github.com/sieveobs/sieve/internal/policy/policyfile"
)

// ewmaWeight weighs the newest window: high enough to react within a few windows, low enough
// that one bursty window does not swing the rate.
const ewmaWeight = 0.5

type adaptiveState struct {
	rule       policyfile.Adaptive
	errorRatio float64
	minRate    float64
	maxRate    float64

	spans, roots, errors atomic.Int64

	// Owned by the controller goroutine.
	ewma    float64
	primed  bool
	last    time.Time
	boosted bool
}

func newAdaptiveState(r policyfile.Adaptive) *adaptiveState {
	a := &adaptiveState{rule: r, errorRatio: policyfile.DefaultErrorRatio, minRate: r.MinRate, maxRate: r.MaxRate}
	if r.ErrorRatio != nil {
		a.errorRatio = *r.ErrorRatio
	}
	if a.minRate == 0 {
		a.minRate = sampling.MinSamplingProbability
	}
	if a.maxRate == 0 {
		a.maxRate = 1
	}
	return a
}

// Tick closes the current window of every adaptive entry at now and moves effective rates.
// The caller owns the clock, so tests drive it with simulated time.
func (s *Snapshot) Tick(now time.Time) {
	for _, e := range s.adaptiveEntries {
		e.step(now)
	}
}

func (e *Entry) step(now time.Time) {
	a := e.adaptive
	spans, roots, errs := a.spans.Swap(0), a.roots.Swap(0), a.errors.Swap(0)
	if a.last.IsZero() {
		a.last = now
		return
	}
	dt := now.Sub(a.last).Seconds()
	a.last = now
	if dt <= 0 {
		return
	}
	target, observed := a.rule.TargetSpansPerSecond, float64(spans)
	if a.rule.TargetTracesPerSecond > 0 {
		target, observed = a.rule.TargetTracesPerSecond, float64(roots)
	}
	incoming := observed / dt
	if !a.primed {
		a.ewma, a.primed = incoming, true
	} else {
		a.ewma = ewmaWeight*incoming + (1-ewmaWeight)*a.ewma
	}
	rate := e.base
	if target > 0 && a.ewma*rate > target {
		rate = target / a.ewma
	}
	rate = math.Max(rate, math.Min(a.minRate, e.base))
	if spans > 0 && float64(errs)/float64(spans) > a.errorRatio {
		// Errors are when traces matter most: double per window up to the cap rather than
		// jumping, so a flapping service does not flood the backends at once.
		cur := e.rate.Load().Probability
		rate = math.Min(a.maxRate, math.Max(rate, 2*cur))
		if rate < cur {
			rate = cur
		}
		a.boosted = true
	} else {
		a.boosted = false
	}
	e.setScale(rate / e.base)
}

// setScale sets the effective rate to scale times the base rate, operations included.
func (e *Entry) setScale(scale float64) {
	if e.base == 0 || math.IsNaN(scale) || math.IsInf(scale, 0) {
		return
	}
	e.storeRate(&e.rate, e.base*scale)
	for _, op := range e.ops {
		e.storeRate(&op.rate, op.base*scale)
	}
}

func (e *Entry) storeRate(dst *atomic.Pointer[Rate], p float64) {
	p = math.Min(1, p)
	if p > 0 && p < sampling.MinSamplingProbability {
		p = sampling.MinSamplingProbability
	}
	if cur := dst.Load(); cur != nil && cur.Probability == p {
		return
	}
	dst.Store(NewRate(p))
}

// Boosted reports whether the entry's last window exceeded its error ratio.
func (e *Entry) Boosted() bool { return e.adaptive != nil && e.adaptive.boosted }
