// Package engine compiles a sampling policy into an immutable snapshot that the trace_sampling
// processor reads on its hot path, and runs the adaptive controller that moves effective rates.
//
// The processor loads the current snapshot with one atomic load per batch; a new policy version
// is swapped in atomically, so the hot path never takes a lock. Effective thresholds live in
// atomics owned by each snapshot entry, so the adaptive controller can move them the same way.
package engine

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottlspan"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sieveobs/sieve/internal/policy"
	"github.com/sieveobs/sieve/internal/policy/policyfile"
)

// Provider is implemented by the sampling_policy extension; the processor finds it in the host.
type Provider interface {
	Engine() *Engine
}

// Rate is one effective rate with its encodings, precomputed so the hot path only reads.
type Rate struct {
	Probability float64
	Threshold   sampling.Threshold
	// TraceState is "ot=th:..." ready to set on a span whose tracestate was empty.
	TraceState string
}

// Precision is the number of significant hex digits of encoded thresholds (leading f digits
// excluded), as in the spec's examples and the contrib probabilistic sampler's default; it keeps
// tracestate short while the relative error stays below 0.01%.
const Precision = 4

// NewRate encodes a keep probability. Zero yields the never-sample threshold.
func NewRate(p float64) *Rate {
	if p <= 0 {
		return &Rate{Probability: 0, Threshold: sampling.NeverSampleThreshold}
	}
	th, err := sampling.ProbabilityToThresholdWithPrecision(p, Precision)
	if err != nil {
		th = sampling.AlwaysSampleThreshold
		p = 1
	}
	return &Rate{Probability: p, Threshold: th, TraceState: "ot=th:" + th.TValue()}
}

// Entry is the rate state of one service (or of the default bucket).
type Entry struct {
	Name     string
	base     float64
	rate     atomic.Pointer[Rate]
	ops      map[string]*opEntry
	adaptive *adaptiveState
	// slow and opSlow are the latency thresholds of tail sampling; 0 means none.
	slow   time.Duration
	opSlow map[string]time.Duration
}

// LatencyThreshold returns the latency above which a span of this name makes its trace slow,
// or 0 when none applies: the operation's own threshold, else the service's, else the policy's.
func (e *Entry) LatencyThreshold(spanName string) time.Duration {
	if e.opSlow != nil {
		if d, ok := e.opSlow[spanName]; ok {
			return d
		}
	}
	return e.slow
}

type opEntry struct {
	base float64
	rate atomic.Pointer[Rate]
}

// Rate returns the effective rate of the service as a whole.
func (e *Entry) Rate() *Rate { return e.rate.Load() }

// Adaptive reports whether an adaptive rule governs the entry; its error spans are always kept.
func (e *Entry) Adaptive() bool { return e.adaptive != nil }

// RateFor returns the effective rate for a span name: its operation's rate when it has one.
func (e *Entry) RateFor(spanName string) *Rate {
	if e.ops != nil {
		if op, ok := e.ops[spanName]; ok {
			return op.rate.Load()
		}
	}
	return e.rate.Load()
}

// Observe feeds the adaptive controller with a batch's incoming counts.
func (e *Entry) Observe(spans, roots, errors int64) {
	if a := e.adaptive; a != nil {
		a.spans.Add(spans)
		a.roots.Add(roots)
		a.errors.Add(errors)
	}
}

// Operations returns the effective rate of every operation, for /sampling.
func (e *Entry) Operations() map[string]float64 {
	out := make(map[string]float64, len(e.ops))
	for name, op := range e.ops {
		out[name] = op.rate.Load().Probability
	}
	return out
}

// Rule actions as compiled. A rule written with the shorthand fields is matched on them
// directly, which is what its translated OTTL condition computes (tested against it) at a
// fraction of the cost; a rule written as a condition is evaluated by OTTL.
type ruleMatch struct {
	name      string
	always    bool
	cond      *policyfile.SpanCondition
	service   string
	spanName  string
	prefix    string
	attribute string
	value     string
}

// Snapshot is one compiled policy version. It is immutable except for the effective rates.
type Snapshot struct {
	Version  string
	Hash     string
	Format   string
	Source   string
	Applied  time.Time
	Policy   policyfile.Policy
	LogTiers policy.LogTiers

	def      *Entry
	services map[string]*Entry
	rules    []ruleMatch
	// adaptiveEntries lists entries the controller must visit.
	adaptiveEntries []*Entry
}

// Lookup returns the entry for a service, or the default bucket.
func (s *Snapshot) Lookup(service string) *Entry {
	if e, ok := s.services[service]; ok {
		return e
	}
	return s.def
}

// Default returns the default bucket.
func (s *Snapshot) Default() *Entry { return s.def }

// Entries calls f for the default bucket and every named service.
func (s *Snapshot) Entries(f func(*Entry)) {
	f(s.def)
	for _, e := range s.services {
		f(e)
	}
}

// HasRules reports whether any always/never rule exists, letting callers skip attribute work.
func (s *Snapshot) HasRules() bool { return len(s.rules) > 0 }

// RuleVerdict is the outcome of always/never rules for one span.
type RuleVerdict uint8

const (
	NoRule RuleVerdict = iota
	RuleAlways
	RuleNever
)

// MatchRules returns the verdict of the first always/never rule matching the span. service is
// the resource's service.name, read once per resource by the caller. A condition that fails to
// evaluate does not match.
func (s *Snapshot) MatchRules(ctx context.Context, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, span ptrace.Span, service string) RuleVerdict {
	var tCtx *ottlspan.TransformContext
	defer func() {
		if tCtx != nil {
			tCtx.Close()
		}
	}()
	for i := range s.rules {
		r := &s.rules[i]
		if r.cond != nil {
			if tCtx == nil {
				tCtx = ottlspan.NewTransformContextPtr(rs, ss, span)
			}
			if ok, err := r.cond.Eval(ctx, tCtx); err != nil || !ok {
				continue
			}
			if r.always {
				return RuleAlways
			}
			return RuleNever
		}
		if !r.matchShorthand(service, span.Name(), span.Attributes()) {
			continue
		}
		if r.always {
			return RuleAlways
		}
		return RuleNever
	}
	return NoRule
}

// matchShorthand matches the shorthand fields.
func (r *ruleMatch) matchShorthand(service, spanName string, attrs pcommon.Map) bool {
	if r.service != "" && r.service != service {
		return false
	}
	if r.spanName != "" && r.spanName != spanName {
		return false
	}
	if r.prefix != "" && !strings.HasPrefix(spanName, r.prefix) {
		return false
	}
	if r.attribute != "" {
		v, ok := attrs.Get(r.attribute)
		if !ok {
			return false
		}
		if r.value != "" && !valueEquals(v, r.value) {
			return false
		}
	}
	return true
}

func valueEquals(v pcommon.Value, want string) bool {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str() == want
	case pcommon.ValueTypeBool:
		return (want == "true" && v.Bool()) || (want == "false" && !v.Bool())
	default:
		return v.AsString() == want
	}
}

// Compile builds a snapshot from a validated document.
func Compile(doc *policyfile.Document, source string, now time.Time) *Snapshot {
	p := doc.Policy
	s := &Snapshot{
		Version:  p.Version,
		Hash:     doc.Hash,
		Format:   doc.Format,
		Source:   source,
		Applied:  now,
		Policy:   p,
		LogTiers: policy.LogTiers{Version: p.Version, Tiers: p.LogTiers},
		services: make(map[string]*Entry, len(p.Services)),
	}
	s.def = newEntry("", *p.DefaultRate, nil)
	s.def.slow = time.Duration(p.LatencyThreshold)
	for name, svc := range p.Services {
		e := newEntry(name, p.RateOf(name), svc.Operations)
		e.slow = time.Duration(p.LatencyThreshold)
		if svc.LatencyThreshold != 0 {
			e.slow = time.Duration(svc.LatencyThreshold)
		}
		if len(svc.OperationLatencyThresholds) > 0 {
			e.opSlow = make(map[string]time.Duration, len(svc.OperationLatencyThresholds))
			for op, d := range svc.OperationLatencyThresholds {
				e.opSlow[op] = time.Duration(d)
			}
		}
		s.services[name] = e
	}
	for _, a := range p.Adaptive {
		e := s.def
		if a.Service != "" {
			var ok bool
			if e, ok = s.services[a.Service]; !ok {
				// An adaptive rule for a service without rates starts from the default rate.
				e = newEntry(a.Service, *p.DefaultRate, nil)
				e.slow = s.def.slow
				s.services[a.Service] = e
			}
		}
		e.adaptive = newAdaptiveState(a)
		s.adaptiveEntries = append(s.adaptiveEntries, e)
	}
	for _, r := range p.Rules {
		m := ruleMatch{
			name: r.Name, always: r.Action == policyfile.ActionAlways, service: r.Service,
			spanName: r.SpanName, prefix: r.SpanNamePrefix, attribute: r.Attribute, value: r.Value,
		}
		if r.Condition != "" {
			cond, err := policyfile.ParseSpanCondition(r.Condition)
			if err != nil {
				// Validate compiled it already; a rule that cannot be evaluated matches nothing.
				continue
			}
			m.cond = cond
		}
		s.rules = append(s.rules, m)
	}
	return s
}

func newEntry(name string, rate float64, ops map[string]float64) *Entry {
	e := &Entry{Name: name, base: rate}
	e.rate.Store(NewRate(rate))
	if len(ops) > 0 {
		e.ops = make(map[string]*opEntry, len(ops))
		for op, r := range ops {
			oe := &opEntry{base: r}
			oe.rate.Store(NewRate(r))
			e.ops[op] = oe
		}
	}
	return e
}

// Engine holds the live snapshot and the trace IDs the processor kept outside the rules.
type Engine struct {
	cur  atomic.Pointer[Snapshot]
	kept keptSet
	tail tailState
}

// New returns an engine serving the given snapshot.
func New(initial *Snapshot) *Engine {
	e := &Engine{}
	e.cur.Store(initial)
	return e
}

// Load returns the live snapshot.
func (e *Engine) Load() *Snapshot { return e.cur.Load() }

// Swap installs a new snapshot, carrying adaptive state over for entries present in both so a
// policy update does not reset a controller that had converged. The caller serialises Swap with
// Tick, since both touch the controller's state (the extension holds its mutex for both).
func (e *Engine) Swap(next *Snapshot) {
	if prev := e.cur.Load(); prev != nil {
		for _, n := range next.adaptiveEntries {
			var p *Entry
			if n.Name == "" {
				p = prev.def
			} else {
				p = prev.services[n.Name]
			}
			if p != nil && p.adaptive != nil && p.base == n.base {
				n.adaptive.ewma = p.adaptive.ewma
				n.adaptive.primed = p.adaptive.primed
				n.adaptive.last = p.adaptive.last
				n.adaptive.boosted = p.adaptive.boosted
				n.setScale(p.rate.Load().Probability / p.base)
			}
		}
	}
	e.cur.Store(next)
}

// RecordKept remembers a trace kept for a reason the rules alone cannot reproduce (an error
// span, an always rule), so TraceKept agrees with the processor for that trace.
func (e *Engine) RecordKept(id pcommon.TraceID) { e.kept.add(id) }

// TraceKept implements policy.TraceDecider: the tail decision on the trace when one is
// remembered, else the consistent decision under the service's live rate, or a recent trace the
// processor kept outside the rules.
func (e *Engine) TraceKept(id pcommon.TraceID, service string) bool {
	if d, ok := e.TraceDecision(id); ok {
		return d.Kept
	}
	s := e.cur.Load()
	if s == nil {
		return true
	}
	if s.Lookup(service).rate.Load().Threshold.ShouldSample(sampling.TraceIDToRandomness(id)) {
		return true
	}
	return e.kept.has(id)
}

// keptSetSize bounds memory: a direct-mapped table, newer IDs overwrite older ones.
const keptSetSize = 1 << 14

type keptSet struct {
	slots [keptSetSize]atomic.Uint64
}

func keptKey(id pcommon.TraceID) uint64 {
	var k uint64
	for i := 0; i < 8; i++ {
		k = k<<8 | uint64(id[i]^id[i+8])
	}
	if k == 0 {
		k = 1
	}
	return k
}

func (k *keptSet) add(id pcommon.TraceID) {
	key := keptKey(id)
	k.slots[key&(keptSetSize-1)].Store(key)
}

func (k *keptSet) has(id pcommon.TraceID) bool {
	key := keptKey(id)
	return k.slots[key&(keptSetSize-1)].Load() == key
}
