package tieredsampling // import "github.com/sieveobs/sieve/processors/tieredsampling"

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottllog"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/ottlfuncs"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"

	"github.com/sieveobs/sieve/internal/otlpwire"
	"github.com/sieveobs/sieve/internal/policy"
)

// dropReason indexes the per-batch drop counters; reasonNames are the values of the reason
// attribute declared in metadata.yaml.
type dropReason int

const (
	reasonMissingAttribute dropReason = iota
	reasonTierDrop
	reasonSampledOut
	reasonRateLimited
	reasonShed
	reasonReleaseFailed
	numReasons
)

var reasonNames = [numReasons]string{
	reasonMissingAttribute: "missing_attribute",
	reasonTierDrop:         "tier_drop",
	reasonSampledOut:       "sampled_out",
	reasonRateLimited:      "rate_limited",
	reasonShed:             "shed",
	reasonReleaseFailed:    "release_failed",
}

// noTierName labels records dropped before any tier was evaluated.
const noTierName = "none"

// tier is one compiled tier. It is immutable once its policy is published.
type tier struct {
	name string
	cond *ottl.Condition[*ottllog.TransformContext] // nil matches every record
	// wire is cond compiled for the receiver's prefilter when wireOK; a tier without it sends
	// the records that reach it to the normal decode.
	wire      otlpwire.LogPredicate
	wireOK    bool
	drop      bool
	percent   float64
	threshold sampling.Threshold
	tvalue    string
	// shedRank is 1 for the first tier shed under pressure, 2 for the next...; 0 never sheds.
	shedRank int
	limiter  *rateLimiter
	limitKey string

	// Precomputed metric options so that publishing counts does not build attribute sets.
	inOpt   []metric.AddOption
	keptOpt []metric.AddOption
	errOpt  []metric.AddOption
	dropOpt [numReasons][]metric.AddOption
}

// compiledPolicy is one immutable version of the tiers; the processor swaps whole values so that
// a batch is always evaluated against a single version.
type compiledPolicy struct {
	version string
	// tiers holds the matchable tiers followed by the default tier.
	tiers []*tier
	// none labels records dropped before tiering.
	none         *tier
	numSheddable int
}

// compileOptions carries the configuration that shapes every policy version.
type compileOptions struct {
	precision      int
	maxKeys        int
	protected      []string
	defaultTier    DefaultTierConfig
	now            func() time.Time
	parserSettings component.TelemetrySettings
}

func newParser(set component.TelemetrySettings) (ottl.Parser[*ottllog.TransformContext], error) {
	return ottllog.NewParser(ottlfuncs.StandardConverters[*ottllog.TransformContext](), set)
}

// validateConditions compiles every condition so that a bad one fails config validation.
func validateConditions(tiers []TierConfig) error {
	parser, err := newParser(component.TelemetrySettings{Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	var errs error
	for i, t := range tiers {
		if t.Condition == "" {
			continue
		}
		if _, err := parser.ParseCondition(t.Condition); err != nil {
			errs = errors.Join(errs, fmt.Errorf("tiers[%d].condition: %w", i, err))
		}
	}
	return errs
}

func tiersFromPolicy(lt []policy.LogTier) []TierConfig {
	out := make([]TierConfig, len(lt))
	for i, t := range lt {
		out[i] = TierConfig(t)
	}
	return out
}

// compile validates and compiles one policy version; any error leaves the caller's current
// version in place.
func compile(version string, tiers []TierConfig, opts compileOptions) (*compiledPolicy, error) {
	names := map[string]bool{}
	var errs error
	for i, t := range tiers {
		key := fmt.Sprintf("tiers[%d]", i)
		errs = errors.Join(errs, validateTier(key, t.Name, t.Percent, t.Drop, t.RateLimit, t.RateLimitKey, names))
		if t.Condition == "" && i != len(tiers)-1 {
			errs = errors.Join(errs, fmt.Errorf("%s.condition: empty condition makes the tiers after it unreachable", key))
		}
	}
	dt := opts.defaultTier
	errs = errors.Join(errs, validateTier("default_tier", dt.Name, dt.Percent, dt.Drop, dt.RateLimit, dt.RateLimitKey, names))
	if errs != nil {
		return nil, errs
	}
	parser, err := newParser(opts.parserSettings)
	if err != nil {
		return nil, err
	}

	all := append(append([]TierConfig(nil), tiers...), TierConfig{
		Name: dt.Name, Percent: dt.Percent, Drop: dt.Drop, RateLimit: dt.RateLimit, RateLimitKey: dt.RateLimitKey,
	})
	p := &compiledPolicy{version: version, tiers: make([]*tier, 0, len(all)), none: newTier(noTierName)}
	for i, t := range all {
		ct := newTier(t.Name)
		ct.drop = t.Drop
		ct.percent = t.Percent
		if t.Drop {
			ct.percent = 0
		}
		if i < len(tiers) && t.Condition != "" {
			if ct.cond, err = parser.ParseCondition(t.Condition); err != nil {
				return nil, fmt.Errorf("tiers[%d].condition: %w", i, err)
			}
			ct.wire, ct.wireOK = otlpwire.CompileLogCondition(t.Condition)
		}
		if ct.threshold, err = percentToThreshold(ct.percent, opts.precision); err != nil {
			return nil, fmt.Errorf("tier %q: %w", t.Name, err)
		}
		ct.tvalue = ct.threshold.TValue()
		if t.RateLimit > 0 && !t.Drop {
			ct.limiter = newRateLimiter(t.RateLimit, opts.maxKeys, opts.now)
			ct.limitKey = t.RateLimitKey
		}
		p.tiers = append(p.tiers, ct)
	}
	assignShedRanks(p, opts.protected)
	return p, nil
}

func percentToThreshold(percent float64, precision int) (sampling.Threshold, error) {
	if percent == 0 {
		return sampling.NeverSampleThreshold, nil
	}
	return sampling.ProbabilityToThresholdWithPrecision(percent/100, precision)
}

func newTier(name string) *tier {
	t := &tier{name: name}
	set := attribute.NewSet(attribute.String("tier", name))
	t.inOpt = []metric.AddOption{metric.WithAttributeSet(set)}
	t.keptOpt = t.inOpt
	t.errOpt = t.inOpt
	for r := range numReasons {
		t.dropOpt[r] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
			attribute.String("tier", name), attribute.String("reason", reasonNames[r])))}
	}
	return t
}

// assignShedRanks orders shedding from the bottom of the policy (the default tier) upwards,
// skipping protected tiers and tiers that already drop everything. The first tier is protected
// when no configured protected name exists in this version, so an update that renames tiers can
// never leave the error tier exposed.
func assignShedRanks(p *compiledPolicy, protectedNames []string) {
	protected := make([]bool, len(p.tiers))
	anyProtected := false
	for i, t := range p.tiers {
		for _, n := range protectedNames {
			if t.name == n {
				protected[i] = true
				anyProtected = true
			}
		}
	}
	if !anyProtected {
		protected[0] = true
	}
	rank := 0
	for i := len(p.tiers) - 1; i >= 0; i-- {
		if protected[i] || p.tiers[i].drop || p.tiers[i].percent == 0 {
			continue
		}
		rank++
		p.tiers[i].shedRank = rank
	}
	p.numSheddable = rank
}

// effectivePercent is the rate a tier runs at for a given shed level.
func (t *tier) effectivePercent(level int) float64 {
	if t.shedRank > 0 && t.shedRank <= level {
		return 0
	}
	return t.percent
}
