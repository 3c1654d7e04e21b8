package tracesampling

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sieveobs/sieve/internal/policy"
	"github.com/sieveobs/sieve/internal/policy/engine"
	"github.com/sieveobs/sieve/internal/policy/policyfile"
	"github.com/sieveobs/sieve/processors/tracesampling/internal/metadata"
)

type reason uint8

const (
	reasonRate reason = iota
	reasonAlways
	reasonNever
	reasonError
	reasonSlow
	reasonExportFailed
	numReasons
)

var reasonNames = [numReasons]string{"rate", "always_rule", "never_rule", "error", "slow", "export_failed"}

var errSkip = processorhelper.ErrSkipProcessingData

type traceSampler struct {
	cfg    *Config
	tb     *metadata.TelemetryBuilder
	engine *engine.Engine
	// unregister withdraws the prefilter lent to receivers (head mode with a policy extension).
	unregister func()
	attrs      [numReasons]metric.AddOption
	// tail is set when tail sampling is enabled.
	tail *tailSampler
}

// now is a parameter so tests drive the tail sampler's clock.
func newTraceSampler(set processor.Settings, cfg *Config, next consumer.Traces, now func() time.Time) (*traceSampler, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	rate := cfg.Rate
	p := &traceSampler{cfg: cfg, tb: tb}
	// The static engine serves until start finds the extension, and for good when none is set.
	p.engine = engine.New(engine.Compile(&policyfile.Document{
		Policy: policyfile.Policy{Version: "static", DefaultRate: &rate}, Format: "static",
	}, "config", time.Now()))
	for i, n := range reasonNames {
		p.attrs[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", n)))
	}
	if cfg.Tail.Enabled {
		p.tail = newTailSampler(p, cfg.Tail, next, set.Logger, now)
		p.engine.EnableTail(cfg.Tail.DecisionCacheSize)
		err = errors.Join(
			tb.RegisterProcessorTraceSamplingBufferedTracesCallback(func(_ context.Context, o metric.Int64Observer) error {
				n, _, _ := p.tail.observe()
				o.Observe(n)
				return nil
			}),
			tb.RegisterProcessorTraceSamplingBufferedSpansCallback(func(_ context.Context, o metric.Int64Observer) error {
				_, n, _ := p.tail.observe()
				o.Observe(n)
				return nil
			}),
			tb.RegisterProcessorTraceSamplingBufferedBytesCallback(func(_ context.Context, o metric.Int64Observer) error {
				_, _, n := p.tail.observe()
				o.Observe(n)
				return nil
			}),
		)
		if err != nil {
			tb.Shutdown()
			return nil, err
		}
	}
	return p, nil
}

func (p *traceSampler) start(_ context.Context, host component.Host) error {
	if !p.cfg.hasPolicy() {
		return nil
	}
	ext, ok := host.GetExtensions()[p.cfg.Policy]
	if !ok {
		return fmt.Errorf("policy: extension %q is not configured in service::extensions", p.cfg.Policy)
	}
	prov, ok := ext.(engine.Provider)
	if !ok {
		return fmt.Errorf("policy: extension %q is not a sampling_policy extension", p.cfg.Policy)
	}
	p.engine = prov.Engine()
	if p.tail != nil {
		p.engine.EnableTail(p.cfg.Tail.DecisionCacheSize)
		return nil
	}
	// In head mode every span is decided alone, so a receiver may decide it on the wire.
	if reg, ok := ext.(policy.Prefilters); ok {
		p.unregister = reg.RegisterTracesPrefilter(newPrefilter(p))
	}
	return nil
}

func (p *traceSampler) startTail(ctx context.Context, host component.Host) error {
	if err := p.start(ctx, host); err != nil {
		return err
	}
	p.tail.start()
	return nil
}

func (p *traceSampler) shutdown(ctx context.Context) error {
	if p.unregister != nil {
		p.unregister()
		p.unregister = nil
	}
	if p.tail != nil {
		p.tail.shutdown(ctx)
	}
	p.tb.Shutdown()
	return nil
}

type batchCounts struct {
	kept, dropped [numReasons]int64
	invalidTS     int64
}

func (p *traceSampler) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	if p.tail != nil {
		return p.tail.process(ctx, td)
	}
	snap := p.engine.Load()
	var c batchCounts
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		service := serviceName(rs.Resource())
		ent := snap.Lookup(service)
		var spans, roots, errs int64
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			ss.Spans().RemoveIf(func(s ptrace.Span) bool {
				spans++
				isErr := s.Status().Code() == ptrace.StatusCodeError
				if isErr {
					errs++
				}
				if s.ParentSpanID().IsEmpty() {
					roots++
				}
				keep, why := p.decide(ctx, snap, ent, rs, ss, service, s, isErr, &c)
				if keep {
					c.kept[why]++
				} else {
					c.dropped[why]++
				}
				return !keep
			})
			return ss.Spans().Len() == 0
		})
		ent.Observe(spans, roots, errs)
		return rs.ScopeSpans().Len() == 0
	})
	for i := range numReasons {
		if c.kept[i] > 0 {
			p.tb.ProcessorTraceSamplingSpansKept.Add(ctx, c.kept[i], p.attrs[i])
		}
		if c.dropped[i] > 0 {
			p.tb.ProcessorTraceSamplingSpansDropped.Add(ctx, c.dropped[i], p.attrs[i])
		}
	}
	if c.invalidTS > 0 {
		p.tb.ProcessorTraceSamplingInvalidTracestate.Add(ctx, c.invalidTS)
	}
	if td.ResourceSpans().Len() == 0 {
		return td, errSkip
	}
	return td, nil
}

func serviceName(res pcommon.Resource) string {
	if v, ok := res.Attributes().Get("service.name"); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}

// decide returns whether to keep the span and why. The randomness comes from the trace ID (or
// ot=rv), never from the span, so every span of a trace under one rule gets the same answer.
// A span carrying an upstream ot=th is kept only if it also passes that threshold, and is never
// re-labelled with a higher probability than upstream used: the parent's decision bounds ours.
func (p *traceSampler) decide(ctx context.Context, snap *engine.Snapshot, ent *engine.Entry, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, service string, s ptrace.Span, isErr bool, c *batchCounts) (bool, reason) {
	if snap.HasRules() {
		switch snap.MatchRules(ctx, rs, ss, s, service) {
		case engine.RuleNever:
			return false, reasonNever
		case engine.RuleAlways:
			// Kept whatever the randomness: the tracestate is left alone since this stage did
			// not sample by probability, and TraceKept is told so logs follow.
			p.engine.RecordKept(s.TraceID())
			return true, reasonAlways
		}
	}
	rate := ent.RateFor(s.Name())
	ts := s.TraceState().AsRaw()
	if ts == "" {
		// The common case takes no parsing and no allocation: the encoded tracestate is
		// precomputed with the rate.
		if rate.Threshold.ShouldSample(sampling.TraceIDToRandomness(s.TraceID())) {
			s.TraceState().FromRaw(rate.TraceState)
			if rate != ent.Rate() {
				p.engine.RecordKept(s.TraceID())
			}
			return true, reasonRate
		}
		return p.keepError(ent, s, isErr)
	}
	w3c, err := sampling.NewW3CTraceState(ts)
	if err != nil {
		c.invalidTS++
		if rate.Threshold.ShouldSample(sampling.TraceIDToRandomness(s.TraceID())) {
			return true, reasonRate
		}
		return p.keepError(ent, s, isErr)
	}
	otts := w3c.OTelValue()
	rnd, hasRV := otts.RValueRandomness()
	if !hasRV {
		rnd = sampling.TraceIDToRandomness(s.TraceID())
	}
	th := rate.Threshold
	upstream, hasTH := otts.TValueThreshold()
	if hasTH && sampling.ThresholdGreater(upstream, th) {
		th = upstream
	}
	if !th.ShouldSample(rnd) {
		return p.keepError(ent, s, isErr)
	}
	if hasRV || rate != ent.Rate() {
		// TraceKept only knows the trace ID and the service rate: tell it about keeps it
		// could not reproduce.
		p.engine.RecordKept(s.TraceID())
	}
	if !hasTH || th != upstream {
		if err := otts.UpdateTValueWithSampling(th); err == nil {
			var b strings.Builder
			if w3c.Serialize(&b) == nil {
				s.TraceState().FromRaw(b.String())
			}
		}
	}
	return true, reasonRate
}

// keepError keeps error spans of services under an adaptive rule: errors are what an incident
// review needs, and the adaptive controller already bounds their volume by boosting the rate.
func (p *traceSampler) keepError(ent *engine.Entry, s ptrace.Span, isErr bool) (bool, reason) {
	if isErr && ent.Adaptive() {
		p.engine.RecordKept(s.TraceID())
		return true, reasonError
	}
	return false, reasonRate
}
