package tieredsampling // import "github.com/sieveobs/sieve/processors/tieredsampling"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"

	"github.com/sieveobs/sieve/internal/otlpwire"
	"github.com/sieveobs/sieve/internal/policy"
)

// prefilter lends the processor's decisions to a receiver that samples before decoding
// (the otlp receiver's sample_before_decode). It drops only records whose fate is certain
// without pdata: a record it is unsure of (a tier condition it cannot compile, randomness it
// cannot read, a trace decision still pending, a tier being shed, anything the wire reader does
// not model) is passed on and decided here after the normal decode, so the records kept are
// exactly those the processor alone keeps. Its drops are counted in the processor's telemetry
// like its own.
type prefilter struct {
	p     *tieredProcessor
	state sync.Pool
}

var _ policy.LogsPrefilter = (*prefilter)(nil)

// prefilterState is one request's scratch space.
type prefilterState struct {
	p      *tieredProcessor
	filter otlpwire.LogsFilter
	pol    *compiledPolicy
	counts *batchCounts
	hold   bool
	level  int
}

func newPrefilter(p *tieredProcessor) *prefilter {
	f := &prefilter{p: p}
	f.state.New = func() any { return &prefilterState{p: p} }
	return f
}

// FilterLogs implements policy.LogsPrefilter.
func (f *prefilter) FilterLogs(dst, req []byte) ([]byte, otlpwire.FilterResult, error) {
	st := f.state.Get().(*prefilterState)
	defer f.state.Put(st)
	st.pol = f.p.policy.Load()
	if st.counts == nil || len(st.counts.in) != len(st.pol.tiers) {
		st.counts = newBatchCounts(len(st.pol.tiers))
	} else {
		st.counts.reset()
	}
	st.hold = f.p.holder != nil && f.p.holder.active()
	f.p.shed.refresh()
	st.level = f.p.shed.level(st.pol.numSheddable)
	out, res, err := st.filter.Filter(dst, req, st)
	if err == nil && res.Dropped > 0 {
		f.p.publish(context.Background(), st.pol, st.counts)
	}
	return out, res, err
}

func (c *batchCounts) reset() {
	clear(c.in)
	clear(c.kept)
	clear(c.condErr)
	clear(c.dropped)
	c.noneIn, c.noneMissing = 0, 0
}

// DropLog implements otlpwire.LogsDecider, in the order of tieredProcessor.keep.
func (st *prefilterState) DropLog(res *otlpwire.Resource, rec *otlpwire.LogRecord) bool {
	p := st.p
	for _, name := range p.cfg.RequiredAttributes {
		rv, sv := rec.Attr(name), res.Attr(name)
		if rv.Kind == otlpwire.KindOther || sv.Kind == otlpwire.KindOther {
			return false
		}
		if rv.Kind == otlpwire.KindAbsent && sv.Kind == otlpwire.KindAbsent {
			st.counts.noneIn++
			st.counts.noneMissing++
			return true
		}
	}

	tiers := st.pol.tiers
	idx := len(tiers) - 1
	for i, t := range tiers[:len(tiers)-1] {
		if t.cond == nil {
			idx = i
			break
		}
		if !t.wireOK {
			return false
		}
		r := t.wire(res, rec)
		if r == otlpwire.Unknown {
			return false
		}
		if r == otlpwire.True {
			idx = i
			break
		}
	}
	t := tiers[idx]
	if t.drop {
		st.counts.in[idx]++
		st.counts.dropped[idx][reasonTierDrop]++
		return true
	}
	if t.shedRank > 0 && t.shedRank <= st.level {
		// The tier is being shed: the processor drops and counts it as shed, unless memory
		// recovered meanwhile; either way it is the processor's call.
		return false
	}

	rnd, ok := st.randomness(rec)
	if !ok {
		return false
	}
	threshold := t.threshold
	switch v := rec.Attr(thresholdAttr); v.Kind {
	case otlpwire.KindOther:
		return false
	case otlpwire.KindStr:
		if in, err := sampling.TValueToThreshold(string(v.Str)); err == nil && in.ShouldSample(rnd) && sampling.ThresholdGreater(in, threshold) {
			threshold = in
		}
	}
	if threshold.ShouldSample(rnd) {
		return false
	}
	if p.decider != nil && len(rec.TraceID) == 16 {
		tid := pcommon.TraceID(rec.TraceID)
		if !tid.IsEmpty() {
			if st.hold {
				d, decided := p.holder.src.TraceDecision(tid)
				if !decided || d.Kept {
					return false
				}
			} else {
				service := ""
				switch v := res.Attr(serviceAttr); v.Kind {
				case otlpwire.KindStr:
					service = string(v.Str)
				case otlpwire.KindOther:
					return false
				}
				if p.decider.TraceKept(tid, service) {
					return false
				}
			}
		}
	}
	st.counts.in[idx]++
	st.counts.dropped[idx][reasonSampledOut]++
	return true
}

// randomness follows tieredProcessor.randomness; false when it would read a value the wire
// reader does not model.
func (st *prefilterState) randomness(rec *otlpwire.LogRecord) (sampling.Randomness, bool) {
	switch v := rec.Attr(randomnessAttr); v.Kind {
	case otlpwire.KindOther:
		return sampling.Randomness{}, false
	case otlpwire.KindStr:
		if r, err := sampling.RValueToRandomness(string(v.Str)); err == nil {
			return r, true
		}
	}
	if len(rec.TraceID) == 16 {
		if tid := pcommon.TraceID(rec.TraceID); !tid.IsEmpty() {
			return sampling.TraceIDToRandomness(tid), true
		}
	}
	if name := st.p.cfg.HashAttribute; name != "" {
		switch v := rec.Attr(name); v.Kind {
		case otlpwire.KindStr:
			return finishRandomness(fnvBytes(fnvOffset64, v.Str)), true
		case otlpwire.KindInt:
			return finishRandomness(fnvInt(fnvOffset64, v.Int)), true
		case otlpwire.KindAbsent:
		default:
			return sampling.Randomness{}, false
		}
	}
	// contentRandomness on the wire.
	if rec.Body.Kind == otlpwire.KindOther {
		return sampling.Randomness{}, false
	}
	h := fnvInt(fnvOffset64, int64(rec.Time))
	h = fnvInt(h, int64(rec.ObservedTime))
	h = fnvInt(h, rec.SeverityNumber)
	if rec.Body.Kind == otlpwire.KindStr {
		h = fnvBytes(h, rec.Body.Str)
	}
	return finishRandomness(h), true
}
