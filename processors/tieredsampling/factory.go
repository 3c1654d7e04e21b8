package tieredsampling // import "github.com/sieveobs/sieve/processors/tieredsampling"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/sieveobs/sieve/processors/tieredsampling/internal/metadata"
)

// Conditions of the classic policy. The HTTP rule reads the status under the current semantic
// conventions' name and the old one, as an integer or a string ("503" from a logger that writes
// every field as text): Int() converts both, and is nil (never >= 500) for anything else.
const (
	classicErrorCondition = `severity_number >= SEVERITY_NUMBER_ERROR or Int(attributes["http.response.status_code"]) >= 500 or Int(attributes["http.status_code"]) >= 500`
	classicWarnCondition  = `severity_number >= SEVERITY_NUMBER_WARN`
)

// NewFactory returns the factory of the tiered_sampling processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithLogs(createLogs, metadata.LogsStability),
	)
}

// createDefaultConfig is the classic policy: every error and 5xx, a tenth of warnings, a
// thousandth of the rest.
func createDefaultConfig() component.Config {
	return &Config{
		RequiredAttributes: []string{},
		Tiers: []TierConfig{
			{Name: "errors", Condition: classicErrorCondition, Percent: 100},
			{Name: "warn", Condition: classicWarnCondition, Percent: 10},
		},
		DefaultTier:       DefaultTierConfig{Name: "default", Percent: 0.1},
		SamplingPrecision: 4,
		RateLimitMaxKeys:  1000,
		FollowTraces: FollowTracesConfig{
			Wait:       10 * time.Second,
			MaxRecords: 500_000,
			MaxBytes:   128 << 20,
		},
		OverloadShedding: OverloadSheddingConfig{
			StartPercent:   80,
			CheckInterval:  time.Second,
			ProtectedTiers: []string{"errors"},
		},
	}
}

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	p, err := newTieredProcessor(set, cfg.(*Config), next, time.Now, newRuntimeMemoryReader())
	if err != nil {
		return nil, err
	}
	return processorhelper.NewLogs(ctx, set, cfg, next, p.processLogs,
		processorhelper.WithStart(p.start),
		processorhelper.WithShutdown(p.shutdown),
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
	)
}
