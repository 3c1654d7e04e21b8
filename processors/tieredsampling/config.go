package tieredsampling // import "github.com/sieveobs/sieve/processors/tieredsampling"

import (
	"errors"
	"fmt"
	"math"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
)

// TierConfig is one tier of the policy. Tiers are evaluated in order and the first match wins.
type TierConfig struct {
	// Name identifies the tier in metrics; unique among all tiers, including the default tier.
	Name string `mapstructure:"name"`
	// Condition is an OTTL boolean expression in the log context. Empty matches every record,
	// which is only allowed on the last tier.
	Condition string `mapstructure:"condition"`
	// Percent is the keep rate in percent, 0 to 100.
	Percent float64 `mapstructure:"percent"`
	// Drop drops every matching record; Percent is then ignored.
	Drop bool `mapstructure:"drop"`
	// RateLimit caps kept records per second per value of RateLimitKey; 0 disables the limit.
	RateLimit float64 `mapstructure:"rate_limit"`
	// RateLimitKey is the attribute (record first, then resource) that keys the rate limit.
	RateLimitKey string `mapstructure:"rate_limit_key"`
}

// DefaultTierConfig is the tier for records that match no other tier.
type DefaultTierConfig struct {
	// Name identifies the default tier in metrics.
	Name string `mapstructure:"name"`
	// Percent is the keep rate in percent, 0 to 100.
	Percent float64 `mapstructure:"percent"`
	// Drop drops every unmatched record; Percent is then ignored.
	Drop bool `mapstructure:"drop"`
	// RateLimit caps kept records per second per value of RateLimitKey; 0 disables the limit.
	RateLimit float64 `mapstructure:"rate_limit"`
	// RateLimitKey is the attribute (record first, then resource) that keys the rate limit.
	RateLimitKey string `mapstructure:"rate_limit_key"`
}

// FollowTracesConfig keeps records whose trace is kept by the trace sampler.
type FollowTracesConfig struct {
	// Enabled turns the rule on.
	Enabled bool `mapstructure:"enabled"`
	// Decider is the ID of the extension implementing policy.TraceDecider.
	Decider component.ID `mapstructure:"decider"`
	// Wait is the longest a record that failed its tier waits for its trace's tail decision,
	// when the decider publishes tail decisions; 0 decides at once on the trace's rate.
	Wait time.Duration `mapstructure:"wait"`
	// MaxRecords bounds the records waiting; beyond it the oldest traces' records are decided
	// at once on the trace's rate.
	MaxRecords int `mapstructure:"max_records"`
	// MaxBytes bounds the bytes waiting (records in their OTLP encoding plus a fixed cost per
	// trace), likewise.
	MaxBytes int64 `mapstructure:"max_bytes"`
}

// OverloadSheddingConfig sheds the lowest tiers when the heap approaches a limit.
type OverloadSheddingConfig struct {
	// Enabled turns shedding on.
	Enabled bool `mapstructure:"enabled"`
	// MemoryLimitMiB is the heap size at which every sheddable tier is shed.
	MemoryLimitMiB uint64 `mapstructure:"memory_limit_mib"`
	// StartPercent is the share of MemoryLimitMiB at which the first (lowest) tier is shed;
	// further tiers are shed in equal steps between it and the limit.
	StartPercent float64 `mapstructure:"start_percent"`
	// CheckInterval is how often memory is read; reads happen on the data path, at most once
	// per interval, never per record.
	CheckInterval time.Duration `mapstructure:"check_interval"`
	// ProtectedTiers are never shed. Tiers with drop are never counted as shed.
	ProtectedTiers []string `mapstructure:"protected_tiers"`
}

// Config is the configuration of the tiered_sampling processor.
type Config struct {
	// RequiredAttributes are attributes (record first, then resource) a record must carry;
	// records missing any of them are dropped before tiering.
	RequiredAttributes []string `mapstructure:"required_attributes"`
	// Tiers are evaluated in order; the first whose condition matches decides.
	Tiers []TierConfig `mapstructure:"tiers"`
	// DefaultTier takes every record that matches no tier.
	DefaultTier DefaultTierConfig `mapstructure:"default_tier"`
	// HashAttribute is the record attribute hashed for randomness when a record has no trace ID
	// and no sampling.randomness attribute. Empty: such records use a random number.
	HashAttribute string `mapstructure:"hash_attribute"`
	// SamplingPrecision is the number of hex digits of the threshold, 1 to 14.
	SamplingPrecision int `mapstructure:"sampling_precision"`
	// RateLimitMaxKeys bounds the number of distinct keys tracked per rate-limited tier; keys
	// beyond it share one overflow bucket.
	RateLimitMaxKeys int `mapstructure:"rate_limit_max_keys"`
	// PolicySource is the ID of an extension implementing policy.LogTiersSource. When set, its
	// tiers replace Tiers at runtime; DefaultTier stays the fallback.
	PolicySource component.ID `mapstructure:"policy_source"`
	// FollowTraces keeps records whose trace is kept by the trace sampler.
	FollowTraces FollowTracesConfig `mapstructure:"follow_traces"`
	// OverloadShedding sheds low tiers under memory pressure.
	OverloadShedding OverloadSheddingConfig `mapstructure:"overload_shedding"`
}

var _ component.Config = (*Config)(nil)

// Validate checks the configuration without changing it.
func (cfg *Config) Validate() error {
	var errs error
	seenReq := map[string]bool{}
	for i, a := range cfg.RequiredAttributes {
		switch {
		case a == "":
			errs = errors.Join(errs, fmt.Errorf("required_attributes[%d]: must not be empty", i))
		case seenReq[a]:
			errs = errors.Join(errs, fmt.Errorf("required_attributes[%d]: duplicate attribute %q", i, a))
		}
		seenReq[a] = true
	}

	names := map[string]bool{}
	for i, t := range cfg.Tiers {
		key := fmt.Sprintf("tiers[%d]", i)
		errs = errors.Join(errs, validateTier(key, t.Name, t.Percent, t.Drop, t.RateLimit, t.RateLimitKey, names))
		if t.Condition == "" && i != len(cfg.Tiers)-1 {
			errs = errors.Join(errs, fmt.Errorf("%s.condition: empty condition matches everything and makes the tiers after it unreachable", key))
		}
	}
	dt := cfg.DefaultTier
	errs = errors.Join(errs, validateTier("default_tier", dt.Name, dt.Percent, dt.Drop, dt.RateLimit, dt.RateLimitKey, names))
	if err := validateConditions(cfg.Tiers); err != nil {
		errs = errors.Join(errs, err)
	}

	if cfg.SamplingPrecision < 1 || cfg.SamplingPrecision > sampling.NumHexDigits {
		errs = errors.Join(errs, fmt.Errorf("sampling_precision: must be between 1 and %d, got %d", sampling.NumHexDigits, cfg.SamplingPrecision))
	}
	if cfg.RateLimitMaxKeys < 1 {
		errs = errors.Join(errs, fmt.Errorf("rate_limit_max_keys: must be at least 1, got %d", cfg.RateLimitMaxKeys))
	}
	if ft := cfg.FollowTraces; ft.Enabled {
		if ft.Decider == (component.ID{}) {
			errs = errors.Join(errs, errors.New("follow_traces.decider: required when follow_traces.enabled is true"))
		}
		if ft.Wait < 0 {
			errs = errors.Join(errs, fmt.Errorf("follow_traces.wait: must not be negative, got %v", ft.Wait))
		}
		if ft.Wait > 0 && ft.MaxRecords < 1 {
			errs = errors.Join(errs, fmt.Errorf("follow_traces.max_records: must be at least 1 when wait is set, got %d", ft.MaxRecords))
		}
		if ft.Wait > 0 && ft.MaxBytes < 1<<20 {
			errs = errors.Join(errs, fmt.Errorf("follow_traces.max_bytes: must be at least 1 MiB when wait is set, got %d", ft.MaxBytes))
		}
	}

	if s := cfg.OverloadShedding; s.Enabled {
		if s.MemoryLimitMiB == 0 {
			errs = errors.Join(errs, errors.New("overload_shedding.memory_limit_mib: must be greater than 0"))
		}
		if !(s.StartPercent > 0 && s.StartPercent < 100) {
			errs = errors.Join(errs, fmt.Errorf("overload_shedding.start_percent: must be in (0, 100), got %v", s.StartPercent))
		}
		if s.CheckInterval <= 0 {
			errs = errors.Join(errs, fmt.Errorf("overload_shedding.check_interval: must be positive, got %v", s.CheckInterval))
		}
		for i, p := range s.ProtectedTiers {
			if !names[p] {
				errs = errors.Join(errs, fmt.Errorf("overload_shedding.protected_tiers[%d]: no tier named %q", i, p))
			}
		}
	}
	return errs
}

// validateTier checks the fields a tier shares with the default tier and records its name.
func validateTier(key, name string, percent float64, drop bool, rateLimit float64, rateLimitKey string, names map[string]bool) error {
	var errs error
	switch {
	case name == "":
		errs = errors.Join(errs, fmt.Errorf("%s.name: must not be empty", key))
	case names[name]:
		errs = errors.Join(errs, fmt.Errorf("%s.name: duplicate tier name %q", key, name))
	}
	names[name] = true
	if err := checkPercent(percent); err != nil && !drop {
		errs = errors.Join(errs, fmt.Errorf("%s.percent: %w", key, err))
	}
	if math.IsNaN(rateLimit) || math.IsInf(rateLimit, 0) || rateLimit < 0 {
		errs = errors.Join(errs, fmt.Errorf("%s.rate_limit: must be a finite number >= 0, got %v", key, rateLimit))
	}
	if rateLimit > 0 && rateLimitKey == "" {
		errs = errors.Join(errs, fmt.Errorf("%s.rate_limit_key: required when rate_limit is set", key))
	}
	return errs
}

// checkPercent refuses rates the threshold encoding cannot express rather than rounding them.
func checkPercent(p float64) error {
	switch {
	case math.IsNaN(p) || math.IsInf(p, 0):
		return fmt.Errorf("must be a finite number, got %v", p)
	case p < 0 || p > 100:
		return fmt.Errorf("must be between 0 and 100, got %v", p)
	case p > 0 && p/100 < sampling.MinSamplingProbability:
		return fmt.Errorf("%v is below the smallest expressible rate", p)
	}
	return nil
}
