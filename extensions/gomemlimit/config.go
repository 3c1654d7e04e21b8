package gomemlimit

import (
	"errors"
	"math"
	"time"
)

// Config of the go_memory_limit extension.
type Config struct {
	// Ratio is the fraction of the memory limit given to the Go runtime as GOMEMLIMIT: the
	// container's (cgroup v2 or v1) limit when there is one, the host's memory otherwise.
	// It must be in (0, 1]. A GOMEMLIMIT environment variable, when set, wins over this extension.
	Ratio float64 `mapstructure:"ratio"`
	// RefreshInterval re-reads the limit so that a resized container is followed; 0 reads it
	// once at start.
	RefreshInterval time.Duration `mapstructure:"refresh_interval"`
	// GCPercent is the GOGC the extension sets when it has set a memory limit: with the limit
	// to bound the heap, the garbage collector can run less often than Go's default of 100
	// asks. A GOGC environment variable, when set, wins; 0 leaves GOGC as it is.
	GCPercent int `mapstructure:"gc_percent"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if math.IsNaN(c.Ratio) || c.Ratio <= 0 || c.Ratio > 1 {
		errs = append(errs, errors.New("ratio: must be greater than 0 and at most 1"))
	}
	if c.GCPercent < 0 {
		errs = append(errs, errors.New("gc_percent: must not be negative (0 leaves GOGC as it is)"))
	}
	if c.RefreshInterval < 0 {
		errs = append(errs, errors.New("refresh_interval: must not be negative"))
	}
	return errors.Join(errs...)
}
