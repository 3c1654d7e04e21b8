package tracesampling

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/sieveobs/sieve/internal/dlist"
	"github.com/sieveobs/sieve/internal/policy"
	"github.com/sieveobs/sieve/internal/policy/engine"
	"github.com/sieveobs/sieve/internal/resend"
)

// pendingOverhead is the fixed cost counted per held trace on top of its spans' encoding: the
// entry, its map slot and its fragment slice headers.
const pendingOverhead = 432

// maxReleaseSpans cuts what a decision round sends into requests of about this many spans.
const maxReleaseSpans = 8192

// Early-decision causes, in the order of the cause attribute's values.
const (
	causeMaxTraces = iota
	causeMaxBytes
	causeMaxAge
	causeShutdown
	numCauses
)

var causeNames = [numCauses]string{"max_traces", "max_bytes", "max_trace_age", "shutdown"}

// pending is one trace held until it is decided. Its spans are kept as OTLP-encoded fragments,
// one per request that carried them: several times smaller than pdata and invisible to the GC.
type pending struct {
	id          pcommon.TraceID
	first, last int64 // arrival of the first and the latest span, Unix nanoseconds
	frags       []heldFrag
	size        int64 // encoded bytes plus pendingOverhead; shared resources are counted apart
	spans       int64
	sum         summary
	// On two lists: by latest arrival (decision_wait) and by first arrival (age, overflow).
	byLast, byFirst dlist.Links[pending]
}

// heldFrag is one request's spans of a trace, encoded without their resources: res holds the
// resource of each ResourceSpans in order, encoded once per request and shared by every trace of
// the request, since a resource (service, host, pod, SDK attributes) is often as large as a span.
type heldFrag struct {
	data []byte
	res  []*sharedRes
}

// sharedRes is one request's resource in its encoding, counted in the buffer's bytes while a
// held fragment refers to it.
type sharedRes struct {
	data []byte
	refs int32
}

// summary is what the decision needs to know about a trace's spans, gathered as they arrive.
type summary struct {
	always, never, err, slow bool
	// The root span's service and name choose the rate; without a root, the first span's service.
	hasRoot           bool
	service, rootName string
	hasService        bool
	hasRV, hasTH      bool
	rnd               sampling.Randomness
	upstream          sampling.Threshold
	invalidTS         int64
}

func (s *summary) merge(o *summary) {
	s.always = s.always || o.always
	s.never = s.never || o.never
	s.err = s.err || o.err
	s.slow = s.slow || o.slow
	if o.hasRoot && !s.hasRoot {
		s.hasRoot, s.service, s.rootName, s.hasService = true, o.service, o.rootName, true
	}
	if !s.hasService && o.hasService {
		s.service, s.hasService = o.service, true
	}
	if o.hasRV && !s.hasRV {
		s.hasRV, s.rnd = true, o.rnd
	}
	if o.hasTH && (!s.hasTH || sampling.ThresholdGreater(o.upstream, s.upstream)) {
		s.hasTH, s.upstream = true, o.upstream
	}
}

// fragment is the part of one request that belongs to one trace. Its ResourceSpans have empty
// resources; src holds the request's ResourceSpans they came from, res their shared encodings.
type fragment struct {
	td      ptrace.Traces
	rs      ptrace.ResourceSpans
	ss      ptrace.ScopeSpans
	rsIdx   int
	ssIdx   int
	spans   int64
	sum     summary
	encoded []byte
	src     []ptrace.ResourceSpans
	res     []*sharedRes
}

// withResources copies the resources back into the fragment's spans, for the rare fragment that
// is passed on as it came in (a late span, or one that could not be encoded).
func (f *fragment) withResources() ptrace.Traces {
	rss := f.td.ResourceSpans()
	for k := 0; k < rss.Len(); k++ {
		f.src[k].Resource().CopyTo(rss.At(k).Resource())
	}
	return f.td
}

type tailSampler struct {
	p      *traceSampler
	cfg    TailConfig
	next   consumer.Traces
	logger *zap.Logger
	now    func() time.Time

	mu      sync.Mutex
	traces  map[pcommon.TraceID]*pending
	byLast  dlist.List[pending] // front: the oldest latest arrival
	byFirst dlist.List[pending] // front: the oldest first arrival
	bytes   int64
	spans   int64

	marshaler   ptrace.ProtoMarshaler
	unmarshaler ptrace.ProtoUnmarshaler

	causeAttrs [numCauses]metric.AddOption
	lateKept   metric.AddOption
	lateDrop   metric.AddOption

	// unsent holds kept traces the next consumer refused with a retryable error, sent again at
	// the next sweeps; while any wait, new spans are refused (retryably), so the senders back off
	// instead of Sieve losing what it acknowledged. Bounded by max_bytes.
	unsent *resend.Queue[struct{}]

	stop chan struct{}
	done chan struct{}
}

// errNextRefusing is returned for new spans while kept traces wait to be sent again.
var errNextRefusing = errors.New("trace_sampling: the next consumer refused kept traces, which wait to be sent again; retry later")

func newTailSampler(p *traceSampler, cfg TailConfig, next consumer.Traces, logger *zap.Logger, now func() time.Time) *tailSampler {
	t := &tailSampler{
		p: p, cfg: cfg, next: next, logger: logger, now: now,
		traces:  make(map[pcommon.TraceID]*pending),
		unsent:  resend.New[struct{}](cfg.MaxBytes),
		byLast:  dlist.New(func(p *pending) *dlist.Links[pending] { return &p.byLast }),
		byFirst: dlist.New(func(p *pending) *dlist.Links[pending] { return &p.byFirst }),
	}
	for i, n := range causeNames {
		t.causeAttrs[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("cause", n)))
	}
	t.lateKept = metric.WithAttributeSet(attribute.NewSet(attribute.String("decision", "kept")))
	t.lateDrop = metric.WithAttributeSet(attribute.NewSet(attribute.String("decision", "dropped")))
	return t
}

// tick is how often held traces are checked: a tenth of decision_wait, so a trace is decided at
// most 10% late, within [10ms, 1s].
func (t *tailSampler) tick() time.Duration {
	return min(max(t.cfg.DecisionWait/10, 10*time.Millisecond), time.Second)
}

func (t *tailSampler) start() {
	t.stop = make(chan struct{})
	t.done = make(chan struct{})
	go func() {
		defer close(t.done)
		tk := time.NewTicker(t.tick())
		defer tk.Stop()
		for {
			select {
			case <-t.stop:
				return
			case <-tk.C:
				t.sweep(context.Background(), t.now())
			}
		}
	}()
}

// shutdown decides every held trace and sends the kept ones before returning.
func (t *tailSampler) shutdown(ctx context.Context) {
	if t.stop != nil {
		close(t.stop)
		<-t.done
		t.stop = nil
	}
	t.mu.Lock()
	var out []*decided
	for t.byFirst.Front() != nil {
		out = append(out, t.decideLocked(t.byFirst.Front(), causeShutdown))
	}
	t.mu.Unlock()
	t.retryUnsent(ctx)
	t.release(ctx, out)
	t.retryUnsent(ctx)
	// What the next consumer still refuses cannot wait any longer.
	t.unsent.Drop(func(_ struct{}, spans int64) { t.lost(ctx, spans, errors.New("still refused at shutdown")) })
}

// observe feeds the gauges; kept traces waiting to be sent again count as held.
func (t *tailSampler) observe() (traces, spans, bytes int64) {
	t.mu.Lock()
	traces, spans, bytes = int64(len(t.traces)), t.spans, t.bytes
	t.mu.Unlock()
	us, ub := t.unsent.Held()
	return traces, spans + us, bytes + ub
}

// decided is a trace taken out of the buffer with its decision, to be released outside the lock.
type decided struct {
	pe  *pending
	d   policy.Decision
	ts  string // tracestate for spans that had none, when kept by probability
	th  sampling.Threshold
	why reason
}

// process holds the spans of undecided traces and returns the spans of traces already decided
// and kept (late spans) together with traces the bounds forced to decide early.
func (t *tailSampler) process(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	if t.unsent.Waiting() {
		return td, errNextRefusing
	}
	snap := t.p.engine.Load()
	frags := t.split(snap, td)

	// Encoding happens before the lock; a fragment later found to be late is not held, and its
	// encoding is wasted, which is rare and cheap next to holding the lock while encoding.
	for _, f := range frags {
		b, err := t.marshaler.MarshalTraces(f.td)
		if err != nil {
			// pdata always encodes what it decoded; should it not, the spans pass undecided
			// rather than being lost.
			f.encoded = nil
			continue
		}
		f.encoded = b
	}

	now := t.now().UnixNano()
	out := ptrace.NewTraces()
	var lateKept, lateDropped int64
	var lateKeptBy, lateDroppedBy [numReasons]int64
	var forced []*decided
	var invalid int64

	t.mu.Lock()
	for id, f := range frags {
		invalid += f.sum.invalidTS
		if pe, ok := t.traces[id]; ok {
			t.appendLocked(pe, f, now)
			continue
		}
		if d, ok := t.p.engine.TraceDecision(id); ok {
			why := reason(d.Reason)
			if d.Kept {
				lateKept += f.spans
				lateKeptBy[why] += f.spans
				if d.TValue != "" {
					stampAll(f.td, d.TValue)
				}
				f.withResources().ResourceSpans().MoveAndAppendTo(out.ResourceSpans())
			} else {
				lateDropped += f.spans
				lateDroppedBy[why] += f.spans
			}
			continue
		}
		if f.encoded == nil {
			f.withResources().ResourceSpans().MoveAndAppendTo(out.ResourceSpans())
			continue
		}
		pe := &pending{id: id, first: now}
		t.traces[id] = pe
		t.byFirst.PushBack(pe)
		t.byLast.PushBack(pe)
		t.appendLocked(pe, f, now)
	}
	for len(t.traces) > t.cfg.MaxTraces {
		forced = append(forced, t.decideLocked(t.byFirst.Front(), causeMaxTraces))
	}
	for t.bytes > t.cfg.MaxBytes && t.byFirst.Front() != nil {
		forced = append(forced, t.decideLocked(t.byFirst.Front(), causeMaxBytes))
	}
	t.mu.Unlock()

	tb := t.p.tb
	if lateKept > 0 {
		tb.ProcessorTraceSamplingLateSpans.Add(ctx, lateKept, t.lateKept)
	}
	if lateDropped > 0 {
		tb.ProcessorTraceSamplingLateSpans.Add(ctx, lateDropped, t.lateDrop)
	}
	for i := range numReasons {
		if lateKeptBy[i] > 0 {
			tb.ProcessorTraceSamplingSpansKept.Add(ctx, lateKeptBy[i], t.p.attrs[i])
		}
		if lateDroppedBy[i] > 0 {
			tb.ProcessorTraceSamplingSpansDropped.Add(ctx, lateDroppedBy[i], t.p.attrs[i])
		}
	}
	if invalid > 0 {
		tb.ProcessorTraceSamplingInvalidTracestate.Add(ctx, invalid)
	}
	if len(forced) > 0 {
		t.publishAndCount(ctx, forced)
		cache := map[*sharedRes]pcommon.Resource{}
		for _, d := range forced {
			if d.d.Kept {
				t.appendKept(d, out, cache)
			}
		}
	}
	if out.ResourceSpans().Len() == 0 {
		return out, errSkip
	}
	return out, nil
}

// split groups a request's spans by trace, moving them into one fragment per trace, and gathers
// what the decision needs from each span under the policy in force when it arrives.
func (t *tailSampler) split(snap *engine.Snapshot, td ptrace.Traces) map[pcommon.TraceID]*fragment {
	frags := make(map[pcommon.TraceID]*fragment)
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		var shared *sharedRes
		service := serviceName(rs.Resource())
		ent := snap.Lookup(service)
		var nSpans, nRoots, nErrs int64
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			ss.Spans().RemoveIf(func(s ptrace.Span) bool {
				id := s.TraceID()
				f := frags[id]
				if f == nil {
					f = &fragment{td: ptrace.NewTraces(), rsIdx: -1, ssIdx: -1}
					frags[id] = f
				}
				if f.rsIdx != i {
					if shared == nil {
						shared = t.encodeResource(rs)
					}
					f.rs = f.td.ResourceSpans().AppendEmpty()
					f.rs.SetSchemaUrl(rs.SchemaUrl())
					f.rsIdx, f.ssIdx = i, -1
					f.src = append(f.src, rs)
					f.res = append(f.res, shared)
				}
				if f.ssIdx != j {
					f.ss = f.rs.ScopeSpans().AppendEmpty()
					ss.Scope().CopyTo(f.ss.Scope())
					f.ss.SetSchemaUrl(ss.SchemaUrl())
					f.ssIdx = j
				}
				isErr := t.inspect(snap, ent, rs, ss, service, s, &f.sum)
				nSpans++
				if isErr {
					nErrs++
				}
				if s.ParentSpanID().IsEmpty() {
					nRoots++
				}
				f.spans++
				s.MoveTo(f.ss.Spans().AppendEmpty())
				return true
			})
		}
		ent.Observe(nSpans, nRoots, nErrs)
	}
	return frags
}

// encodeResource encodes a request's resource once for every trace of the request.
func (t *tailSampler) encodeResource(rs ptrace.ResourceSpans) *sharedRes {
	td := ptrace.NewTraces()
	rs.Resource().CopyTo(td.ResourceSpans().AppendEmpty().Resource())
	b, err := t.marshaler.MarshalTraces(td)
	if err != nil {
		// pdata encodes what it decoded; an empty resource is the only thing left to hold.
		return &sharedRes{}
	}
	return &sharedRes{data: b}
}

// inspect records what one span contributes to its trace's decision and reports whether it is
// an error span.
func (t *tailSampler) inspect(snap *engine.Snapshot, ent *engine.Entry, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, service string, s ptrace.Span, sum *summary) bool {
	isErr := s.Status().Code() == ptrace.StatusCodeError || httpServerError(s.Attributes())
	if isErr {
		sum.err = true
	}
	if snap.HasRules() && !sum.always {
		switch snap.MatchRules(context.Background(), rs, ss, s, service) {
		case engine.RuleAlways:
			sum.always = true
		case engine.RuleNever:
			sum.never = true
		}
	}
	if !sum.slow {
		if limit := ent.LatencyThreshold(s.Name()); limit > 0 {
			if start, end := s.StartTimestamp(), s.EndTimestamp(); end > start && time.Duration(end-start) > limit {
				sum.slow = true
			}
		}
	}
	if s.ParentSpanID().IsEmpty() && !sum.hasRoot {
		sum.hasRoot, sum.service, sum.rootName, sum.hasService = true, service, s.Name(), true
	} else if !sum.hasService {
		sum.service, sum.hasService = service, true
	}
	if raw := s.TraceState().AsRaw(); raw != "" && (!sum.hasRV || !sum.hasTH) {
		w3c, err := sampling.NewW3CTraceState(raw)
		if err != nil {
			sum.invalidTS++
		} else {
			otts := w3c.OTelValue()
			if r, ok := otts.RValueRandomness(); ok && !sum.hasRV {
				sum.hasRV, sum.rnd = true, r
			}
			if th, ok := otts.TValueThreshold(); ok && (!sum.hasTH || sampling.ThresholdGreater(th, sum.upstream)) {
				sum.hasTH, sum.upstream = true, th
			}
		}
	}
	return isErr
}

// httpServerError reports an HTTP status of 500 or more under the current semantic-convention
// name or the older one, sent as an integer or as text.
func httpServerError(attrs pcommon.Map) bool {
	for _, k := range [...]string{"http.response.status_code", "http.status_code"} {
		v, ok := attrs.Get(k)
		if !ok {
			continue
		}
		switch v.Type() {
		case pcommon.ValueTypeInt:
			if v.Int() >= 500 {
				return true
			}
		case pcommon.ValueTypeStr:
			if n, err := strconv.Atoi(strings.TrimSpace(v.Str())); err == nil && n >= 500 {
				return true
			}
		case pcommon.ValueTypeDouble:
			if v.Double() >= 500 {
				return true
			}
		}
	}
	return false
}

func (t *tailSampler) appendLocked(pe *pending, f *fragment, now int64) {
	pe.frags = append(pe.frags, heldFrag{data: f.encoded, res: f.res})
	for _, r := range f.res {
		if r.refs == 0 {
			t.bytes += int64(len(r.data))
		}
		r.refs++
	}
	n := int64(len(f.encoded))
	if len(pe.frags) == 1 {
		n += pendingOverhead
	}
	pe.size += n
	t.bytes += n
	pe.spans += f.spans
	t.spans += f.spans
	pe.sum.merge(&f.sum)
	pe.last = now
	t.byLast.MoveToBack(pe)
}

// sweep decides the traces whose decision_wait or max_trace_age has passed and releases them.
func (t *tailSampler) sweep(ctx context.Context, now time.Time) {
	t.retryUnsent(ctx)
	ns := now.UnixNano()
	wait, age := t.cfg.DecisionWait.Nanoseconds(), t.cfg.MaxTraceAge.Nanoseconds()
	var out []*decided
	t.mu.Lock()
	for pe := t.byLast.Front(); pe != nil && pe.last+wait <= ns; pe = t.byLast.Front() {
		out = append(out, t.decideLocked(pe, -1))
	}
	for pe := t.byFirst.Front(); pe != nil && pe.first+age <= ns; pe = t.byFirst.Front() {
		out = append(out, t.decideLocked(pe, causeMaxAge))
	}
	t.mu.Unlock()
	t.release(ctx, out)
}

// decideLocked takes a trace out of the buffer and decides it under the live policy. cause is
// the early-decision cause, or -1 for a trace decided after its decision_wait.
func (t *tailSampler) decideLocked(pe *pending, cause int) *decided {
	t.byLast.Remove(pe)
	t.byFirst.Remove(pe)
	delete(t.traces, pe.id)
	t.bytes -= pe.size
	t.spans -= pe.spans
	for _, hf := range pe.frags {
		for _, r := range hf.res {
			if r.refs--; r.refs == 0 {
				t.bytes -= int64(len(r.data))
			}
		}
	}
	d := &decided{pe: pe, d: policy.Decision{TraceID: pe.id}}
	if cause >= 0 {
		t.p.tb.ProcessorTraceSamplingEarlyDecisions.Add(context.Background(), 1, t.causeAttrs[cause])
	}
	s := &pe.sum
	switch {
	case s.always:
		d.d.Kept, d.why = true, reasonAlways
	case s.err:
		d.d.Kept, d.why = true, reasonError
	case s.slow:
		d.d.Kept, d.why = true, reasonSlow
	case s.never:
		d.d.Kept, d.why = false, reasonNever
	default:
		ent := t.p.engine.Load().Lookup(s.service)
		rate := ent.Rate()
		if s.hasRoot {
			rate = ent.RateFor(s.rootName)
		}
		th := rate.Threshold
		if s.hasTH && sampling.ThresholdGreater(s.upstream, th) {
			th = s.upstream
		}
		rnd := s.rnd
		if !s.hasRV {
			rnd = sampling.TraceIDToRandomness(pe.id)
		}
		d.why = reasonRate
		if th.ShouldSample(rnd) {
			d.d.Kept, d.th = true, th
			if th == rate.Threshold {
				d.ts, d.d.TValue = rate.TraceState, rate.TraceState[len("ot=th:"):]
			} else {
				d.d.TValue = th.TValue()
				d.ts = "ot=th:" + d.d.TValue
			}
		}
	}
	d.d.Reason = uint8(d.why)
	// Recorded before the lock is released: a span of this trace arriving next finds the
	// decision instead of starting the trace anew.
	t.p.engine.RecordDecision(d.d)
	return d
}

// release publishes decisions, counts them, and sends the kept traces on in requests of about
// maxReleaseSpans spans. The spans were acknowledged when they arrived, so a send the next
// consumer refuses cannot be handed back: a retryable refusal is kept and sent again (send).
func (t *tailSampler) release(ctx context.Context, ds []*decided) {
	if len(ds) == 0 {
		return
	}
	t.publishAndCount(ctx, ds)
	out := ptrace.NewTraces()
	n := 0
	cache := map[*sharedRes]pcommon.Resource{}
	for _, d := range ds {
		if !d.d.Kept {
			continue
		}
		n += t.appendKept(d, out, cache)
		if n >= maxReleaseSpans {
			t.send(ctx, out)
			out, n = ptrace.NewTraces(), 0
		}
	}
	if n > 0 {
		t.send(ctx, out)
	}
}

// send passes kept traces on. Behind others still waiting, or refused with a retryable error,
// they are kept encoded for the next sweep, up to max_bytes; a permanent refusal, or one past
// that bound, loses them (counted as export_failed).
func (t *tailSampler) send(ctx context.Context, td ptrace.Traces) {
	n := int64(td.SpanCount())
	outcome, err := t.unsent.Offer(
		func() error { return t.next.ConsumeTraces(ctx, td) },
		func() ([]byte, error) { return t.marshaler.MarshalTraces(td) },
		n, struct{}{})
	switch {
	case outcome == resend.Lost:
		t.lost(ctx, n, err)
	case outcome == resend.Kept && err != nil:
		t.logger.Warn("The next consumer refused kept traces: they are sent again at the next sweeps, and new spans are refused until they are passed on",
			zap.Int64("spans", n), zap.Error(err))
	}
}

// retryUnsent sends the refused kept traces again, oldest first, until one is refused again.
// Only the sweep loop, or shutdown once the loop has stopped, calls it.
func (t *tailSampler) retryUnsent(ctx context.Context) {
	drained := t.unsent.Retry(func(b []byte) error {
		td, err := t.unmarshaler.UnmarshalTraces(b)
		if err != nil {
			return consumererror.NewPermanent(err)
		}
		return t.next.ConsumeTraces(ctx, td)
	}, func(_ struct{}, spans int64, err error) {
		if err != nil {
			t.lost(ctx, spans, err)
		}
	})
	if drained {
		t.logger.Info("Kept traces refused earlier were passed on; new spans are accepted again")
	}
}

// lost counts and logs kept spans that could not be passed on.
func (t *tailSampler) lost(ctx context.Context, n int64, err error) {
	t.p.tb.ProcessorTraceSamplingSpansDropped.Add(ctx, n, t.p.attrs[reasonExportFailed])
	t.logger.Warn("Kept traces could not be passed on and are lost", zap.Int64("spans", n), zap.Error(err))
}

func (t *tailSampler) publishAndCount(ctx context.Context, ds []*decided) {
	pub := make([]policy.Decision, len(ds))
	var tk, td, sk, sd [numReasons]int64
	for i, d := range ds {
		pub[i] = d.d
		if d.d.Kept {
			tk[d.why]++
			sk[d.why] += d.pe.spans
		} else {
			td[d.why]++
			sd[d.why] += d.pe.spans
		}
	}
	t.p.engine.NotifyDecisions(pub)
	tb := t.p.tb
	for i := range numReasons {
		if tk[i] > 0 {
			tb.ProcessorTraceSamplingTracesKept.Add(ctx, tk[i], t.p.attrs[i])
			tb.ProcessorTraceSamplingSpansKept.Add(ctx, sk[i], t.p.attrs[i])
		}
		if td[i] > 0 {
			tb.ProcessorTraceSamplingTracesDropped.Add(ctx, td[i], t.p.attrs[i])
			tb.ProcessorTraceSamplingSpansDropped.Add(ctx, sd[i], t.p.attrs[i])
		}
	}
}

// appendKept decodes a kept trace's fragments into out, writing the threshold when the trace was
// kept by probability, and returns its span count.
func (t *tailSampler) appendKept(d *decided, out ptrace.Traces, cache map[*sharedRes]pcommon.Resource) int {
	n := 0
	for _, hf := range d.pe.frags {
		td, err := t.unmarshaler.UnmarshalTraces(hf.data)
		if err == nil {
			err = t.restoreResources(td, hf.res, cache)
		}
		if err != nil {
			// Written by this process's marshaler a moment ago; cannot fail short of memory
			// corruption. Counted like a failed send rather than ignored.
			t.p.tb.ProcessorTraceSamplingSpansDropped.Add(context.Background(), 1, t.p.attrs[reasonExportFailed])
			continue
		}
		if d.d.TValue != "" {
			stampAllWith(td, d.th, d.ts)
		}
		n += td.SpanCount()
		td.ResourceSpans().MoveAndAppendTo(out.ResourceSpans())
	}
	d.pe.frags = nil
	return n
}

// restoreResources puts each ResourceSpans' shared resource back, decoding each shared resource
// once per release.
func (t *tailSampler) restoreResources(td ptrace.Traces, res []*sharedRes, cache map[*sharedRes]pcommon.Resource) error {
	rss := td.ResourceSpans()
	for k := 0; k < rss.Len() && k < len(res); k++ {
		r, ok := cache[res[k]]
		if !ok {
			rtd, err := t.unmarshaler.UnmarshalTraces(res[k].data)
			if err != nil {
				return err
			}
			r = pcommon.NewResource()
			if rtd.ResourceSpans().Len() > 0 {
				r = rtd.ResourceSpans().At(0).Resource()
			}
			cache[res[k]] = r
		}
		r.CopyTo(rss.At(k).Resource())
	}
	return nil
}

// stampAll writes a threshold given as a T-value on every span of td.
func stampAll(td ptrace.Traces, tvalue string) {
	th, err := sampling.TValueToThreshold(tvalue)
	if err != nil {
		return
	}
	stampAllWith(td, th, "ot=th:"+tvalue)
}

// stampAllWith writes the threshold th on every span: spans without a tracestate get ts, the
// others have their ot=th replaced and every other entry kept.
func stampAllWith(td ptrace.Traces, th sampling.Threshold, ts string) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				stampSpan(spans.At(k), th, ts)
			}
		}
	}
}

func stampSpan(s ptrace.Span, th sampling.Threshold, ts string) {
	raw := s.TraceState().AsRaw()
	if raw == "" {
		s.TraceState().FromRaw(ts)
		return
	}
	w3c, err := sampling.NewW3CTraceState(raw)
	if err != nil {
		return
	}
	otts := w3c.OTelValue()
	if cur, ok := otts.TValueThreshold(); ok && cur == th {
		return
	}
	if otts.UpdateTValueWithSampling(th) != nil {
		return
	}
	var b strings.Builder
	if w3c.Serialize(&b) == nil {
		s.TraceState().FromRaw(b.String())
	}
}
