package tracesampling

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/sieveobs/sieve/internal/policy/policyfile"
)

// Config of the trace_sampling processor.
type Config struct {
	// Policy is the ID of the sampling_policy extension whose live policy is enforced. When
	// empty, every span is sampled at Rate.
	Policy component.ID `mapstructure:"policy"`
	// Rate is the static keep probability used when no policy extension is configured.
	Rate float64 `mapstructure:"rate"`
	// Tail decides on whole traces once they are complete instead of span by span.
	Tail TailConfig `mapstructure:"tail"`

	_ struct{}
}

// TailConfig configures tail sampling: the spans of a trace are held until it is complete and the
// policy then decides on the whole trace.
type TailConfig struct {
	// Enabled turns tail sampling on; head sampling (span by span) otherwise.
	Enabled bool `mapstructure:"enabled"`
	// DecisionWait is how long after a trace's last span arrived it is decided.
	DecisionWait time.Duration `mapstructure:"decision_wait"`
	// MaxTraceAge decides a trace this long after its first span arrived even if spans keep
	// coming, so a trace that never ends cannot stay in memory.
	MaxTraceAge time.Duration `mapstructure:"max_trace_age"`
	// MaxTraces bounds the traces held; beyond it the oldest are decided early.
	MaxTraces int `mapstructure:"max_traces"`
	// MaxBytes bounds the bytes held (spans in their OTLP encoding plus a fixed cost per trace);
	// beyond it the oldest traces are decided early.
	MaxBytes int64 `mapstructure:"max_bytes"`
	// DecisionCacheSize is how many decided traces are remembered so that their late spans
	// follow the decision (and their logs and exemplars too).
	DecisionCacheSize int `mapstructure:"decision_cache_size"`

	_ struct{}
}

// Validate checks the configuration; it never fills in defaults.
func (c *Config) Validate() error {
	var errs []error
	if !policyfile.ValidRate(c.Rate) {
		errs = append(errs, fmt.Errorf("rate: %v must be 0 or within [2^-56, 1]", c.Rate))
	}
	if t := c.Tail; t.Enabled {
		if t.DecisionWait <= 0 {
			errs = append(errs, fmt.Errorf("tail::decision_wait: %v must be positive", t.DecisionWait))
		}
		if t.MaxTraceAge < t.DecisionWait {
			errs = append(errs, fmt.Errorf("tail::max_trace_age: %v must be at least decision_wait (%v)", t.MaxTraceAge, t.DecisionWait))
		}
		if t.MaxTraces <= 0 {
			errs = append(errs, fmt.Errorf("tail::max_traces: %d must be positive", t.MaxTraces))
		}
		if t.MaxBytes < 1<<20 {
			errs = append(errs, fmt.Errorf("tail::max_bytes: %d must be at least 1 MiB", t.MaxBytes))
		}
		if t.DecisionCacheSize <= 0 || t.DecisionCacheSize > 1<<26 {
			errs = append(errs, fmt.Errorf("tail::decision_cache_size: %d must be within [1, %d]", t.DecisionCacheSize, 1<<26))
		}
	}
	return errors.Join(errs...)
}

func (c *Config) hasPolicy() bool { return c.Policy != (component.ID{}) }
