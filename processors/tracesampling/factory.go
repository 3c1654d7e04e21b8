package tracesampling

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/sieveobs/sieve/processors/tracesampling/internal/metadata"
)

// NewFactory returns the trace_sampling processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(metadata.Type, createDefaultConfig,
		processor.WithTraces(createTraces, metadata.TracesStability))
}

func createDefaultConfig() component.Config {
	return &Config{
		Rate: 1,
		Tail: TailConfig{
			Enabled:           false,
			DecisionWait:      5 * time.Second,
			MaxTraceAge:       30 * time.Second,
			MaxTraces:         100_000,
			MaxBytes:          256 << 20,
			DecisionCacheSize: 1 << 18,
		},
	}
}

func createTraces(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	p, err := newTraceSampler(set, cfg.(*Config), next, time.Now)
	if err != nil {
		return nil, err
	}
	start := p.start
	if p.tail != nil {
		start = p.startTail
	}
	return processorhelper.NewTraces(ctx, set, cfg, next, p.processTraces,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithStart(start),
		processorhelper.WithShutdown(p.shutdown))
}
