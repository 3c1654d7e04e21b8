package loadbalancing

import (
	"context"

	contrib "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/loadbalancingexporter"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/xexporter"

	"github.com/sieveobs/sieve/exporters/loadbalancing/internal/metadata"
)

// contribFactory builds everything but logs routed by traceID: contrib's exporter is the
// reference, and Sieve's logs routing is tested against its traces routing.
var contribFactory = contrib.NewFactory()

// NewFactory returns the factory of Sieve's load_balancing exporter.
func NewFactory() exporter.Factory {
	return xexporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		xexporter.WithTraces(createTraces, metadata.TracesStability),
		xexporter.WithLogs(createLogs, metadata.LogsStability),
		xexporter.WithMetrics(createMetrics, metadata.MetricsStability),
		xexporter.WithDeprecatedTypeAlias(metadata.DeprecatedType),
	)
}

func createDefaultConfig() component.Config {
	return &Config{Config: *contribFactory.CreateDefaultConfig().(*contrib.Config)}
}

func createTraces(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	return contribFactory.CreateTraces(ctx, set, &cfg.(*Config).Config)
}

func createMetrics(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	return contribFactory.CreateMetrics(ctx, set, &cfg.(*Config).Config)
}

// createLogs keeps contrib's default for an unset routing_key (service, for logs); only an
// explicit traceID takes Sieve's path.
func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	c := cfg.(*Config)
	if c.RoutingKey != routingTraceID {
		return contribFactory.CreateLogs(ctx, set, &c.Config)
	}
	return newTraceIDLogs(ctx, set, c)
}
