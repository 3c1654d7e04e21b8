package gomemlimit

import (
	"context"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/sieveobs/sieve/extensions/gomemlimit/internal/metadata"
)

// NewFactory returns the factory of the go_memory_limit extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, create, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	return &Config{
		// 80% leaves the rest of the container to non-heap memory (stacks, cgo, page cache of
		// the persistent queue) and matches memory_limiter's hard limit in the shipped configs.
		Ratio:           0.8,
		RefreshInterval: time.Minute,
		// Twice Go's default: on the bench's tiered log sampling it took 7 to 22% off the CPU per
		// item for about half as much heap again, where 400 gained little more CPU and doubled
		// the heap again. The memory limit keeps the heap below the container's limit.
		GCPercent: 0,
	}
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newLimiter(set, cfg.(*Config), memlimit.ApplyFallback(memlimit.FromCgroup, memlimit.FromSystem), runtimeGC{})
}
