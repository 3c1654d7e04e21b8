package otlp // import "github.com/sieveobs/sieve/receivers/otlp"

import (
	"errors"

	"go.opentelemetry.io/collector/component"
	upstream "go.opentelemetry.io/collector/receiver/otlpreceiver"
)

// Config is upstream's OTLP receiver configuration, every key unchanged, plus
// sample_before_decode.
type Config struct {
	upstream.Config `mapstructure:",squash"`
	// SampleBeforeDecode lets the sampler following a policy extension drop records on the
	// wire, before they are decoded. Unset, the receiver is upstream's.
	SampleBeforeDecode SampleBeforeDecodeConfig `mapstructure:"sample_before_decode"`
}

// SampleBeforeDecodeConfig names the policy extension whose sampler decides on the wire, and
// the signals it decides.
type SampleBeforeDecodeConfig struct {
	// Policy is the sampling_policy extension that the sampler follows (tiered_sampling's
	// policy_source or follow_traces.decider; trace_sampling's policy).
	Policy component.ID `mapstructure:"policy"`
	// Logs samples log records before decode. Every logs pipeline fed by this receiver must
	// begin with the tiered_sampling processor following Policy.
	Logs bool `mapstructure:"logs"`
	// Traces samples spans before decode. Every traces pipeline fed by this receiver must begin
	// with the trace_sampling processor (head mode) following Policy.
	Traces bool `mapstructure:"traces"`
}

func (c SampleBeforeDecodeConfig) enabled() bool { return c.Logs || c.Traces }

var _ component.Config = (*Config)(nil)

// Validate checks upstream's rules and the sample_before_decode keys.
func (cfg *Config) Validate() error {
	errs := cfg.Config.Validate()
	s := cfg.SampleBeforeDecode
	if s.enabled() && s.Policy == (component.ID{}) {
		errs = errors.Join(errs, errors.New("sample_before_decode.policy: required when sample_before_decode.logs or .traces is true"))
	}
	if !s.enabled() && s.Policy != (component.ID{}) {
		errs = errors.Join(errs, errors.New("sample_before_decode.policy: set, but neither sample_before_decode.logs nor .traces is true"))
	}
	return errs
}
