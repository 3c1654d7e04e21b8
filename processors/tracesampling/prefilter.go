package tracesampling // import "github.com/sieveobs/sieve/processors/tracesampling"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"

	"github.com/sieveobs/sieve/internal/otlpwire"
	"github.com/sieveobs/sieve/internal/policy"
	"github.com/sieveobs/sieve/internal/policy/engine"
)

// prefilter lends the head sampler's decisions to a receiver that samples before decoding. It
// drops only spans whose fate is certain on the wire: a policy with rules (OTTL on any span
// field), a span with a tracestate (an upstream threshold or randomness to honour), an error
// span of an adaptive service, or anything the wire reader does not model is passed on and
// decided after the normal decode. Dropped spans are counted, and fed to the adaptive
// controller, as the processor counts its own.
type prefilter struct {
	p     *traceSampler
	state sync.Pool
}

var _ policy.TracesPrefilter = (*prefilter)(nil)

type prefilterState struct {
	p       *traceSampler
	filter  otlpwire.SpansFilter
	snap    *engine.Snapshot
	seq     uint64
	ent     *engine.Entry
	dropped int64
}

func newPrefilter(p *traceSampler) *prefilter {
	f := &prefilter{p: p}
	f.state.New = func() any { return &prefilterState{p: p} }
	return f
}

// FilterTraces implements policy.TracesPrefilter.
func (f *prefilter) FilterTraces(dst, req []byte) ([]byte, otlpwire.FilterResult, error) {
	st := f.state.Get().(*prefilterState)
	defer f.state.Put(st)
	st.snap, st.ent, st.seq, st.dropped = f.p.engine.Load(), nil, 0, 0
	out, res, err := st.filter.Filter(dst, req, st)
	if err == nil && st.dropped > 0 {
		f.p.tb.ProcessorTraceSamplingSpansDropped.Add(context.Background(), st.dropped, f.p.attrs[reasonRate])
	}
	return out, res, err
}

// DropSpan implements otlpwire.SpansDecider, in the order of traceSampler.decide.
func (st *prefilterState) DropSpan(res *otlpwire.Resource, s *otlpwire.Span) bool {
	if st.snap.HasRules() || len(s.TraceState) != 0 || s.StatusCode < 0 {
		return false
	}
	if st.ent == nil || st.seq != res.Seq() {
		service := ""
		switch v := res.Attr("service.name"); v.Kind {
		case otlpwire.KindStr:
			service = string(v.Str)
		case otlpwire.KindOther:
			return false
		}
		st.ent, st.seq = st.snap.Lookup(service), res.Seq()
	}
	var tid pcommon.TraceID
	copy(tid[:], s.TraceID)
	if st.ent.RateFor(string(s.Name)).Threshold.ShouldSample(sampling.TraceIDToRandomness(tid)) {
		return false
	}
	isErr := s.StatusCode == 2
	if isErr && st.ent.Adaptive() {
		return false
	}
	var root int64
	if len(s.ParentSpanID) == 0 || pcommon.SpanID(s.ParentSpanID).IsEmpty() {
		root = 1
	}
	var errs int64
	if isErr {
		errs = 1
	}
	st.ent.Observe(1, root, errs)
	st.dropped++
	return true
}
