package tracesampling

import (
	"fmt"

	"go.opentelemetry.io/collector/component"

	"github.com/sieveobs/sieve/extensions/samplingpolicy/policyfile"
)

// Config of the trace_sampling processor.
type Config struct {
	// Policy is the ID of the sampling_policy extension whose live policy is enforced. When
	// empty, every span is sampled at Rate.
	Policy component.ID `mapstructure:"policy"`
	// Rate is the static keep probability used when no policy extension is configured.
	Rate float64 `mapstructure:"rate"`

	_ struct{}
}

// Validate checks the configuration; it never fills in defaults.
func (c *Config) Validate() error {
	if !policyfile.ValidRate(c.Rate) {
		return fmt.Errorf("rate: %v must be 0 or within [2^-56, 1]", c.Rate)
	}
	return nil
}

func (c *Config) hasPolicy() bool { return c.Policy != (component.ID{}) }
