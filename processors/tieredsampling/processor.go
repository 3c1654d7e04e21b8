package tieredsampling // import "github.com/sieveobs/sieve/processors/tieredsampling"

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottllog"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"

	"github.com/sieveobs/sieve/internal/policy"
	"github.com/sieveobs/sieve/processors/tieredsampling/internal/metadata"
)

const (
	// Attribute names from the OTel consistent-probability sampling specification.
	thresholdAttr  = "sampling.threshold"
	randomnessAttr = "sampling.randomness"
	// followedAttr marks records kept only because their trace was kept; they carry no threshold
	// because their inclusion is not a probability draw and must not be re-weighted.
	followedAttr = "sieve.sampling.followed_trace"
	serviceAttr  = "service.name"
)

var (
	applied = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "applied")))}
	refused = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "refused")))}
)

type tieredProcessor struct {
	cfg       *Config
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	opts      compileOptions
	shed      *shedder

	policy atomic.Pointer[compiledPolicy]

	// decider is set in Start, before any data flows, and never changed afterwards.
	decider policy.TraceDecider
	// holder keeps records of undecided traces when the decider publishes tail decisions.
	holder *holder
	next   consumer.Logs
	now    func() time.Time

	stopMu     sync.Mutex
	stopWatch  func()
	unregister func()
}

// clock and memory reader are parameters so tests can drive time and pressure.
func newTieredProcessor(set processor.Settings, cfg *Config, next consumer.Logs, now func() time.Time, mem memoryReader) (*tieredProcessor, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	p := &tieredProcessor{
		cfg:       cfg,
		logger:    set.Logger,
		telemetry: tb,
		shed:      newShedder(cfg.OverloadShedding, now, mem),
		next:      next,
		now:       now,
		opts: compileOptions{
			precision:      cfg.SamplingPrecision,
			maxKeys:        cfg.RateLimitMaxKeys,
			protected:      cfg.OverloadShedding.ProtectedTiers,
			defaultTier:    cfg.DefaultTier,
			now:            now,
			parserSettings: set.TelemetrySettings,
		},
	}
	pol, err := compile("config", cfg.Tiers, p.opts)
	if err != nil {
		tb.Shutdown()
		return nil, err
	}
	p.policy.Store(pol)
	err = errors.Join(
		tb.RegisterProcessorTieredSamplingEffectiveRateCallback(p.observeRates),
		tb.RegisterProcessorTieredSamplingShedLevelCallback(p.observeShedLevel),
		tb.RegisterProcessorTieredSamplingHeldRecordsCallback(func(_ context.Context, o metric.Int64Observer) error {
			if h := p.holder; h != nil {
				n, _ := h.observe()
				o.Observe(n)
			}
			return nil
		}),
		tb.RegisterProcessorTieredSamplingHeldBytesCallback(func(_ context.Context, o metric.Int64Observer) error {
			if h := p.holder; h != nil {
				_, n := h.observe()
				o.Observe(n)
			}
			return nil
		}),
	)
	if err != nil {
		tb.Shutdown()
		return nil, err
	}
	return p, nil
}

// The observers refresh the reading too (still at most once per interval): without traffic no
// batch would, and the gauges would keep reporting the shedding of the last busy moment.
func (p *tieredProcessor) observeRates(_ context.Context, o metric.Float64Observer) error {
	p.shed.refresh()
	pol := p.policy.Load()
	level := p.shed.level(pol.numSheddable)
	for _, t := range pol.tiers {
		o.Observe(t.effectivePercent(level), metric.WithAttributeSet(attribute.NewSet(attribute.String("tier", t.name))))
	}
	return nil
}

func (p *tieredProcessor) observeShedLevel(_ context.Context, o metric.Int64Observer) error {
	p.shed.refresh()
	o.Observe(int64(p.shed.level(p.policy.Load().numSheddable)))
	return nil
}

func (p *tieredProcessor) start(_ context.Context, host component.Host) error {
	exts := host.GetExtensions()
	if p.cfg.FollowTraces.Enabled {
		id := p.cfg.FollowTraces.Decider
		ext, ok := exts[id]
		if !ok {
			return fmt.Errorf("follow_traces.decider: extension %q not found; add it to service.extensions", id)
		}
		d, ok := ext.(policy.TraceDecider)
		if !ok {
			return fmt.Errorf("follow_traces.decider: extension %q does not supply trace decisions", id)
		}
		p.decider = d
		// Records wait for tail decisions only from a decider that publishes them.
		if src, ok := ext.(policy.TailDecisions); ok && p.cfg.FollowTraces.Wait > 0 {
			p.holder = newHolder(p, p.cfg.FollowTraces, src, p.next, p.now, p.logger)
			p.holder.start()
		}
	}
	if id := p.cfg.PolicySource; id != (component.ID{}) {
		ext, ok := exts[id]
		if !ok {
			return fmt.Errorf("policy_source: extension %q not found; add it to service.extensions", id)
		}
		src, ok := ext.(policy.LogTiersSource)
		if !ok {
			return fmt.Errorf("policy_source: extension %q does not supply log tiers", id)
		}
		stop := src.WatchLogTiers(p.applyTiers)
		p.stopMu.Lock()
		p.stopWatch = stop
		p.stopMu.Unlock()
	}
	p.registerPrefilter(exts)
	return nil
}

// registerPrefilter lends the processor's decisions to receivers that sample before decoding
// through the policy extension it follows (policy_source, else follow_traces.decider).
func (p *tieredProcessor) registerPrefilter(exts map[component.ID]component.Component) {
	for _, id := range []component.ID{p.cfg.PolicySource, p.cfg.FollowTraces.Decider} {
		if id == (component.ID{}) {
			continue
		}
		if reg, ok := exts[id].(policy.Prefilters); ok {
			unregister := reg.RegisterLogsPrefilter(newPrefilter(p))
			p.stopMu.Lock()
			p.unregister = unregister
			p.stopMu.Unlock()
			return
		}
	}
}

// applyTiers compiles a live version completely before publishing it, so a batch sees either
// the old or the new policy, never a mix, and a refused version leaves the old one running.
func (p *tieredProcessor) applyTiers(lt policy.LogTiers) error {
	pol, err := compile(lt.Version, tiersFromPolicy(lt.Tiers), p.opts)
	if err != nil {
		p.telemetry.ProcessorTieredSamplingPolicyUpdates.Add(context.Background(), 1, refused...)
		p.logger.Warn("Refused log tiers version; keeping the current one",
			zap.String("version", lt.Version), zap.Error(err))
		return err
	}
	p.policy.Store(pol)
	p.telemetry.ProcessorTieredSamplingPolicyUpdates.Add(context.Background(), 1, applied...)
	p.logger.Info("Applied log tiers version", zap.String("version", lt.Version), zap.Int("tiers", len(lt.Tiers)))
	return nil
}

func (p *tieredProcessor) shutdown(ctx context.Context) error {
	p.stopMu.Lock()
	stop, unregister := p.stopWatch, p.unregister
	p.stopWatch, p.unregister = nil, nil
	p.stopMu.Unlock()
	if unregister != nil {
		unregister()
	}
	if stop != nil {
		stop()
	}
	if p.holder != nil {
		p.holder.shutdown(ctx)
	}
	p.telemetry.Shutdown()
	return nil
}

// batchCounts accumulates per-tier outcomes so that the meter is touched once per tier and
// reason per batch rather than once per record.
type batchCounts struct {
	in, kept, condErr []int64
	dropped           [][numReasons]int64
	noneIn            int64
	noneMissing       int64
}

func newBatchCounts(n int) *batchCounts {
	return &batchCounts{
		in: make([]int64, n), kept: make([]int64, n), condErr: make([]int64, n),
		dropped: make([][numReasons]int64, n),
	}
}

func (p *tieredProcessor) publish(ctx context.Context, pol *compiledPolicy, c *batchCounts) {
	tb := p.telemetry
	if c.noneIn > 0 {
		tb.ProcessorTieredSamplingRecordsIn.Add(ctx, c.noneIn, pol.none.inOpt...)
		tb.ProcessorTieredSamplingRecordsDropped.Add(ctx, c.noneMissing, pol.none.dropOpt[reasonMissingAttribute]...)
	}
	for i, t := range pol.tiers {
		if c.in[i] != 0 {
			tb.ProcessorTieredSamplingRecordsIn.Add(ctx, c.in[i], t.inOpt...)
		}
		if c.kept[i] != 0 {
			tb.ProcessorTieredSamplingRecordsKept.Add(ctx, c.kept[i], t.keptOpt...)
		}
		if c.condErr[i] != 0 {
			tb.ProcessorTieredSamplingConditionErrors.Add(ctx, c.condErr[i], t.errOpt...)
		}
		for r, n := range c.dropped[i] {
			if n != 0 {
				tb.ProcessorTieredSamplingRecordsDropped.Add(ctx, n, t.dropOpt[r]...)
			}
		}
	}
}

// batchState is what one batch needs to decide every record; it lives on the stack of
// processLogs.
type batchState struct {
	pol      *compiledPolicy
	level    int
	counts   *batchCounts
	needCtx  bool
	rl       plog.ResourceLogs
	sl       plog.ScopeLogs
	service  string
	resAttrs pcommon.Map
	// hold is whether records may wait for their trace's tail decision in this batch, and holds
	// gathers those that do, by trace; rlSeq and slSeq number the resource and scope being read.
	hold  bool
	holds map[pcommon.TraceID]*holdFragment
	rlSeq int
	slSeq int
}

// errNextRefusing is returned for new records while released records wait to be sent again.
var errNextRefusing = errors.New("tiered_sampling: the next consumer refused log records of kept traces, which wait to be sent again; retry later")

func (p *tieredProcessor) processLogs(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
	if h := p.holder; h != nil && h.unsent.Waiting() {
		return ld, errNextRefusing
	}
	// One policy snapshot per batch: a concurrent swap affects the next batch, never half of this one.
	pol := p.policy.Load()
	p.shed.refresh()
	bs := batchState{
		pol:    pol,
		level:  p.shed.level(pol.numSheddable),
		counts: newBatchCounts(len(pol.tiers)),
	}
	for _, t := range pol.tiers {
		if t.cond != nil {
			bs.needCtx = true
			break
		}
	}
	bs.hold = p.holder != nil && p.holder.active()
	ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		bs.rlSeq++
		bs.rl = rl
		bs.resAttrs = rl.Resource().Attributes()
		bs.service = ""
		if v, ok := bs.resAttrs.Get(serviceAttr); ok && v.Type() == pcommon.ValueTypeStr {
			bs.service = v.Str()
		}
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
			bs.slSeq++
			bs.sl = sl
			sl.LogRecords().RemoveIf(func(lr plog.LogRecord) bool {
				return !p.keep(ctx, &bs, lr)
			})
			return sl.LogRecords().Len() == 0
		})
		return rl.ScopeLogs().Len() == 0
	})
	p.publish(ctx, pol, bs.counts)
	if len(bs.holds) > 0 {
		p.holder.add(ctx, bs.holds)
	}
	if ld.ResourceLogs().Len() == 0 {
		return ld, processorhelper.ErrSkipProcessingData
	}
	return ld, nil
}

// keep decides one record and, when it is kept, stamps its threshold.
func (p *tieredProcessor) keep(ctx context.Context, bs *batchState, lr plog.LogRecord) bool {
	attrs := lr.Attributes()
	for _, name := range p.cfg.RequiredAttributes {
		if _, ok := attrs.Get(name); ok {
			continue
		}
		if _, ok := bs.resAttrs.Get(name); ok {
			continue
		}
		bs.counts.noneIn++
		bs.counts.noneMissing++
		return false
	}

	idx := p.match(ctx, bs, lr)
	t := bs.pol.tiers[idx]
	c := bs.counts
	c.in[idx]++
	if t.drop {
		c.dropped[idx][reasonTierDrop]++
		return false
	}
	if t.shedRank > 0 && t.shedRank <= bs.level {
		c.dropped[idx][reasonShed]++
		return false
	}

	rnd := p.randomness(lr, attrs)
	threshold, tvalue := t.threshold, t.tvalue
	// An arriving threshold from an earlier sampling stage is honoured when it is stricter and
	// consistent with the record's randomness (equalizing sampling).
	if v, ok := attrs.Get(thresholdAttr); ok && v.Type() == pcommon.ValueTypeStr {
		if in, err := sampling.TValueToThreshold(v.Str()); err == nil && in.ShouldSample(rnd) && sampling.ThresholdGreater(in, threshold) {
			threshold, tvalue = in, ""
		}
	}
	sampled := threshold.ShouldSample(rnd)
	followed := false
	if !sampled && p.decider != nil {
		if tid := lr.TraceID(); !tid.IsEmpty() {
			if bs.hold {
				d, decided := p.holder.src.TraceDecision(tid)
				if !decided {
					bs.holdRecord(tid, t, lr)
					return false
				}
				followed = d.Kept
			} else if p.decider.TraceKept(tid, bs.service) {
				followed = true
			}
		}
	}
	if !sampled && !followed {
		c.dropped[idx][reasonSampledOut]++
		return false
	}
	if t.limiter != nil && !t.limiter.allow(p.limitKey(t.limitKey, attrs, bs.resAttrs)) {
		c.dropped[idx][reasonRateLimited]++
		return false
	}
	c.kept[idx]++
	switch {
	case sampled && tvalue != "":
		attrs.PutStr(thresholdAttr, tvalue)
	case !sampled:
		attrs.Remove(thresholdAttr)
		attrs.PutBool(followedAttr, true)
	}
	return true
}

// match returns the index of the first tier whose condition holds, or of the default tier.
func (p *tieredProcessor) match(ctx context.Context, bs *batchState, lr plog.LogRecord) int {
	last := len(bs.pol.tiers) - 1
	if !bs.needCtx {
		return 0
	}
	tCtx := ottllog.NewTransformContextPtr(bs.rl, bs.sl, lr)
	defer tCtx.Close()
	for i, t := range bs.pol.tiers[:last] {
		if t.cond == nil {
			return i
		}
		ok, err := t.cond.Eval(ctx, tCtx)
		if err != nil {
			bs.counts.condErr[i]++
			continue
		}
		if ok {
			return i
		}
	}
	return last
}

// randomness follows the OTel order: an explicit sampling.randomness, then the trace ID, then a
// hash of the configured attribute, and a hash of the record's content as the last resort.
func (p *tieredProcessor) randomness(lr plog.LogRecord, attrs pcommon.Map) sampling.Randomness {
	if v, ok := attrs.Get(randomnessAttr); ok && v.Type() == pcommon.ValueTypeStr {
		if r, err := sampling.RValueToRandomness(v.Str()); err == nil {
			return r
		}
	}
	if tid := lr.TraceID(); !tid.IsEmpty() {
		return sampling.TraceIDToRandomness(tid)
	}
	if p.cfg.HashAttribute != "" {
		if v, ok := attrs.Get(p.cfg.HashAttribute); ok {
			return hashRandomness(v)
		}
	}
	return contentRandomness(lr)
}

// contentRandomness hashes what every log record carries (its timestamps, its severity and a
// text body): a record with no trace ID, no randomness and no hash attribute still gets one
// decision, the same on a retry, on every gateway of a pool, and on the wire (the receiver's
// prefilter reads the same fields). Records identical in all four share their fate.
func contentRandomness(lr plog.LogRecord) sampling.Randomness {
	h := fnvInt(fnvOffset64, int64(lr.Timestamp()))
	h = fnvInt(h, int64(lr.ObservedTimestamp()))
	h = fnvInt(h, int64(lr.SeverityNumber()))
	if b := lr.Body(); b.Type() == pcommon.ValueTypeStr {
		h = fnvString(h, b.Str())
	}
	return finishRandomness(h)
}

func (*tieredProcessor) limitKey(name string, attrs, resAttrs pcommon.Map) string {
	v, ok := attrs.Get(name)
	if !ok {
		if v, ok = resAttrs.Get(name); !ok {
			return ""
		}
	}
	if v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return v.AsString()
}

// hashRandomness maps an attribute value to 56 bits with FNV-1a plus a final avalanche, stable
// across processes so that every replica decides the same way.
func hashRandomness(v pcommon.Value) sampling.Randomness {
	h := uint64(fnvOffset64)
	switch v.Type() {
	case pcommon.ValueTypeStr:
		h = fnvString(h, v.Str())
	case pcommon.ValueTypeInt:
		h = fnvInt(h, v.Int())
	case pcommon.ValueTypeBytes:
		h = fnvBytes(h, v.Bytes().AsRaw())
	default:
		h = fnvString(h, v.AsString())
	}
	return finishRandomness(h)
}

const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime64
	}
	return h
}

func fnvBytes(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime64
	}
	return h
}

func fnvInt(h uint64, n int64) uint64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(n))
	return fnvBytes(h, b[:])
}

// finishRandomness takes 56 bits of the hash after the splitmix64 finalizer: FNV's low bits mix
// poorly.
func finishRandomness(h uint64) sampling.Randomness {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	r, _ := sampling.UnsignedToRandomness(h >> 8)
	return r
}

// holdRecord moves a record that failed its tier into its trace's fragment for this batch.
func (bs *batchState) holdRecord(id pcommon.TraceID, t *tier, lr plog.LogRecord) {
	if bs.holds == nil {
		bs.holds = make(map[pcommon.TraceID]*holdFragment)
	}
	f := bs.holds[id]
	if f == nil {
		f = &holdFragment{ld: plog.NewLogs(), service: bs.service}
		bs.holds[id] = f
	}
	if f.rlSeq != bs.rlSeq {
		f.rl = f.ld.ResourceLogs().AppendEmpty()
		bs.rl.Resource().CopyTo(f.rl.Resource())
		f.rl.SetSchemaUrl(bs.rl.SchemaUrl())
		f.rlSeq, f.slSeq = bs.rlSeq, 0
	}
	if f.slSeq != bs.slSeq {
		f.sl = f.rl.ScopeLogs().AppendEmpty()
		bs.sl.Scope().CopyTo(f.sl.Scope())
		f.sl.SetSchemaUrl(bs.sl.SchemaUrl())
		f.slSeq = bs.slSeq
	}
	f.tiers = append(f.tiers, t)
	lr.MoveTo(f.sl.LogRecords().AppendEmpty())
}
