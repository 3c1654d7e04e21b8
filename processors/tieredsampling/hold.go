package tieredsampling // import "github.com/sieveobs/sieve/processors/tieredsampling"

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/sieveobs/sieve/internal/dlist"
	"github.com/sieveobs/sieve/internal/policy"
	"github.com/sieveobs/sieve/internal/resend"
)

// heldOverhead is the fixed cost counted per held trace on top of its records' encoding: the
// group, its map slot and its slices.
const heldOverhead = 192

// Outcomes of held records, in the order of the outcome attribute's values.
const (
	outcomeTraceKept = iota
	outcomeTraceDropped
	outcomeTimeoutKept
	outcomeTimeoutDropped
	outcomeOverflowKept
	outcomeOverflowDropped
	outcomeShutdownKept
	outcomeShutdownDropped
	numOutcomes
)

var outcomeNames = [numOutcomes]string{
	"trace_kept", "trace_dropped", "timeout_kept", "timeout_dropped",
	"overflow_kept", "overflow_dropped", "shutdown_kept", "shutdown_dropped",
}

// heldGroup is the records of one trace that failed their tier and wait for the trace's tail
// decision, kept as OTLP-encoded fragments (one per request) with the tier each record matched.
type heldGroup struct {
	id      pcommon.TraceID
	service string
	first   int64 // arrival of the first record, Unix nanoseconds
	frags   [][]byte
	tiers   []*tier // one per record, in the fragments' order
	size    int64
	order   dlist.Links[heldGroup]
}

type readyGroup struct {
	g       *heldGroup
	kept    bool
	outcome int
}

// holdFragment gathers, during one batch, the records of one trace that are to be held.
type holdFragment struct {
	ld      plog.Logs
	rl      plog.ResourceLogs
	sl      plog.ScopeLogs
	rlSeq   int
	slSeq   int
	service string
	tiers   []*tier
}

// holder keeps records of undecided traces until their trace's tail decision, published by the
// decider, says whether the trace was kept; a record of a kept trace is then kept whatever its
// tier. A record whose trace is not decided within wait, or that must leave early because the
// bounds are reached, follows its trace's consistent rate as without tail decisions.
type holder struct {
	p      *tieredProcessor
	cfg    FollowTracesConfig
	src    policy.TailDecisions
	next   consumer.Logs
	now    func() time.Time
	logger *zap.Logger

	mu      sync.Mutex
	groups  map[pcommon.TraceID]*heldGroup
	order   dlist.List[heldGroup] // front: the oldest
	ready   []readyGroup
	records int64
	bytes   int64

	marshaler   plog.ProtoMarshaler
	unmarshaler plog.ProtoUnmarshaler
	outcomeOpts [numOutcomes]metric.AddOption

	// unsent holds released records the next consumer refused with a retryable error, with the
	// records kept per tier, sent again at the next rounds; while any wait, new records are
	// refused (retryably). Bounded by max_bytes.
	unsent *resend.Queue[map[*tier]int64]

	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	stopSub func()
}

func newHolder(p *tieredProcessor, cfg FollowTracesConfig, src policy.TailDecisions, next consumer.Logs, now func() time.Time, logger *zap.Logger) *holder {
	h := &holder{
		p: p, cfg: cfg, src: src, next: next, now: now, logger: logger,
		groups: make(map[pcommon.TraceID]*heldGroup),
		order:  dlist.New(func(g *heldGroup) *dlist.Links[heldGroup] { return &g.order }),
		wake:   make(chan struct{}, 1),
		unsent: resend.New[map[*tier]int64](cfg.MaxBytes),
	}
	for i, n := range outcomeNames {
		h.outcomeOpts[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", n)))
	}
	return h
}

// active reports whether records are held: only while a tail sampler publishes decisions.
func (h *holder) active() bool { return h.src.TailActive() }

func (h *holder) start() {
	h.stopSub = h.src.SubscribeDecisions(h.onDecisions)
	h.stop = make(chan struct{})
	h.done = make(chan struct{})
	go func() {
		defer close(h.done)
		tk := time.NewTicker(min(max(h.cfg.Wait/10, 10*time.Millisecond), time.Second))
		defer tk.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-h.wake:
			case <-tk.C:
				h.expire(h.now())
			}
			h.drain(context.Background())
		}
	}()
}

// shutdown decides what is held on what is known and passes the kept records on.
func (h *holder) shutdown(ctx context.Context) {
	if h.stopSub != nil {
		h.stopSub()
	}
	if h.stop != nil {
		close(h.stop)
		<-h.done
		h.stop = nil
	}
	h.mu.Lock()
	for h.order.Front() != nil {
		g := h.order.Front()
		h.removeLocked(g)
		kept := h.p.decider.TraceKept(g.id, g.service)
		h.ready = append(h.ready, readyGroup{g: g, kept: kept, outcome: pick(kept, outcomeShutdownKept, outcomeShutdownDropped)})
	}
	h.mu.Unlock()
	h.drain(ctx)
	h.retryUnsent(ctx)
	// What the next consumer still refuses cannot wait any longer.
	h.unsent.Drop(func(kept map[*tier]int64, _ int64) { h.lost(ctx, kept, errors.New("still refused at shutdown")) })
}

func pick(kept bool, yes, no int) int {
	if kept {
		return yes
	}
	return no
}

// observe feeds the gauges; released records waiting to be sent again count as held.
func (h *holder) observe() (records, bytes int64) {
	h.mu.Lock()
	records, bytes = h.records, h.bytes
	h.mu.Unlock()
	ur, ub := h.unsent.Held()
	return records + ur, bytes + ub
}

// onDecisions runs on the tail sampler's goroutine: it only moves the decided groups aside and
// wakes the holder's goroutine, which passes records on.
func (h *holder) onDecisions(ds []policy.Decision) {
	n := 0
	h.mu.Lock()
	for _, d := range ds {
		g, ok := h.groups[d.TraceID]
		if !ok {
			continue
		}
		h.removeLocked(g)
		h.ready = append(h.ready, readyGroup{g: g, kept: d.Kept, outcome: pick(d.Kept, outcomeTraceKept, outcomeTraceDropped)})
		n++
	}
	h.mu.Unlock()
	if n > 0 {
		h.signal()
	}
}

func (h *holder) signal() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// add holds the fragments of one batch. The decision is looked up again under the lock: one
// published since the record's tier was evaluated would otherwise never reach it.
func (h *holder) add(ctx context.Context, frags map[pcommon.TraceID]*holdFragment) {
	encoded := make(map[pcommon.TraceID][]byte, len(frags))
	for id, f := range frags {
		b, err := h.marshaler.MarshalLogs(f.ld)
		if err != nil {
			// pdata encodes whatever it decoded; should it not, the records are counted lost.
			for _, t := range f.tiers {
				h.p.telemetry.ProcessorTieredSamplingRecordsDropped.Add(ctx, 1, t.dropOpt[reasonReleaseFailed]...)
			}
			continue
		}
		encoded[id] = b
	}
	now := h.now().UnixNano()
	h.mu.Lock()
	for id, b := range encoded {
		f := frags[id]
		g := h.groups[id]
		if g == nil {
			g = &heldGroup{id: id, service: f.service, first: now}
			h.groups[id] = g
			h.order.PushBack(g)
		}
		n := int64(len(b))
		if len(g.frags) == 0 {
			n += heldOverhead
		}
		g.frags = append(g.frags, b)
		g.tiers = append(g.tiers, f.tiers...)
		g.size += n
		h.bytes += n
		h.records += int64(len(f.tiers))
		if d, decided := h.src.TraceDecision(id); decided {
			h.removeLocked(g)
			h.ready = append(h.ready, readyGroup{g: g, kept: d.Kept, outcome: pick(d.Kept, outcomeTraceKept, outcomeTraceDropped)})
		}
	}
	for h.order.Front() != nil && (h.records > int64(h.cfg.MaxRecords) || h.bytes > h.cfg.MaxBytes) {
		g := h.order.Front()
		h.removeLocked(g)
		kept := h.p.decider.TraceKept(g.id, g.service)
		h.ready = append(h.ready, readyGroup{g: g, kept: kept, outcome: pick(kept, outcomeOverflowKept, outcomeOverflowDropped)})
	}
	pending := len(h.ready) > 0
	h.mu.Unlock()
	if pending {
		h.signal()
	}
}

// expire decides the groups that waited longer than wait on their trace's consistent rate.
func (h *holder) expire(now time.Time) {
	limit := now.Add(-h.cfg.Wait).UnixNano()
	h.mu.Lock()
	for g := h.order.Front(); g != nil && g.first <= limit; g = h.order.Front() {
		h.removeLocked(g)
		kept := h.p.decider.TraceKept(g.id, g.service)
		h.ready = append(h.ready, readyGroup{g: g, kept: kept, outcome: pick(kept, outcomeTimeoutKept, outcomeTimeoutDropped)})
	}
	h.mu.Unlock()
}

// drain passes on the records of decided groups that were kept and counts the others.
func (h *holder) drain(ctx context.Context) {
	h.retryUnsent(ctx)
	h.mu.Lock()
	ready := h.ready
	h.ready = nil
	h.mu.Unlock()
	if len(ready) == 0 {
		return
	}
	tb := h.p.telemetry
	out := plog.NewLogs()
	var outcomes [numOutcomes]int64
	kept := map[*tier]int64{}
	dropped := map[*tier]int64{}
	limited := map[*tier]int64{}
	for _, r := range ready {
		outcomes[r.outcome] += int64(len(r.g.tiers))
		if !r.kept {
			for _, t := range r.g.tiers {
				dropped[t]++
			}
			continue
		}
		i := 0
		for _, b := range r.g.frags {
			ld, err := h.unmarshaler.UnmarshalLogs(b)
			if err != nil {
				// Written by this process's marshaler; cannot fail short of memory corruption.
				continue
			}
			rls := ld.ResourceLogs()
			for ri := 0; ri < rls.Len(); ri++ {
				rl := rls.At(ri)
				resAttrs := rl.Resource().Attributes()
				rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
					sl.LogRecords().RemoveIf(func(lr plog.LogRecord) bool {
						t := r.g.tiers[i]
						i++
						attrs := lr.Attributes()
						if t.limiter != nil && !t.limiter.allow(h.p.limitKey(t.limitKey, attrs, resAttrs)) {
							limited[t]++
							return true
						}
						kept[t]++
						attrs.Remove(thresholdAttr)
						attrs.PutBool(followedAttr, true)
						return false
					})
					return sl.LogRecords().Len() == 0
				})
			}
			ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool { return rl.ScopeLogs().Len() == 0 })
			ld.ResourceLogs().MoveAndAppendTo(out.ResourceLogs())
		}
		r.g.frags = nil
	}
	for o, n := range outcomes {
		if n > 0 {
			tb.ProcessorTieredSamplingHeldDecisions.Add(ctx, n, h.outcomeOpts[o])
		}
	}
	for t, n := range dropped {
		tb.ProcessorTieredSamplingRecordsDropped.Add(ctx, n, t.dropOpt[reasonSampledOut]...)
	}
	for t, n := range limited {
		tb.ProcessorTieredSamplingRecordsDropped.Add(ctx, n, t.dropOpt[reasonRateLimited]...)
	}
	if out.LogRecordCount() == 0 {
		return
	}
	h.send(ctx, out, kept)
}

// send passes released records on. The records were accepted when they arrived, so a refusal
// cannot be handed back: behind others still waiting, or refused with a retryable error, they
// are kept encoded for the next round, up to max_bytes; a permanent refusal, or one past that
// bound, loses them (counted as release_failed).
func (h *holder) send(ctx context.Context, out plog.Logs, kept map[*tier]int64) {
	n := out.LogRecordCount()
	outcome, err := h.unsent.Offer(
		func() error { return h.next.ConsumeLogs(ctx, out) },
		func() ([]byte, error) { return h.marshaler.MarshalLogs(out) },
		int64(n), kept)
	switch {
	case outcome == resend.Sent:
		h.countKept(ctx, kept)
	case outcome == resend.Lost:
		h.lost(ctx, kept, err)
	case err != nil:
		h.logger.Warn("The next consumer refused held log records of kept traces: they are sent again at the next rounds, and new records are refused until they are passed on",
			zap.Int("records", n), zap.Error(err))
	}
}

// retryUnsent sends refused records again, oldest first, until one is refused again. Only the
// holder's goroutine, or shutdown once it has stopped, calls it.
func (h *holder) retryUnsent(ctx context.Context) {
	drained := h.unsent.Retry(func(b []byte) error {
		ld, err := h.unmarshaler.UnmarshalLogs(b)
		if err != nil {
			return consumererror.NewPermanent(err)
		}
		return h.next.ConsumeLogs(ctx, ld)
	}, func(kept map[*tier]int64, _ int64, err error) {
		if err != nil {
			h.lost(ctx, kept, err)
			return
		}
		h.countKept(ctx, kept)
	})
	if drained {
		h.logger.Info("Held log records refused earlier were passed on; new records are accepted again")
	}
}

func (h *holder) countKept(ctx context.Context, kept map[*tier]int64) {
	for t, n := range kept {
		h.p.telemetry.ProcessorTieredSamplingRecordsKept.Add(ctx, n, t.keptOpt...)
	}
}

// lost counts and logs released records that could not be passed on.
func (h *holder) lost(ctx context.Context, kept map[*tier]int64, err error) {
	var total int64
	for t, n := range kept {
		h.p.telemetry.ProcessorTieredSamplingRecordsDropped.Add(ctx, n, t.dropOpt[reasonReleaseFailed]...)
		total += n
	}
	h.logger.Warn("Held log records of kept traces could not be passed on and are lost", zap.Int64("records", total), zap.Error(err))
}

func (h *holder) removeLocked(g *heldGroup) {
	h.order.Remove(g)
	delete(h.groups, g.id)
	h.records -= int64(len(g.tiers))
	h.bytes -= g.size
}
