package loadbalancing

import (
	"context"
	"time"

	contrib "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/loadbalancingexporter"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configretry"
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
	cfg := *contribFactory.CreateDefaultConfig().(*contrib.Config)
	// Contrib leaves retry_on_failure's intervals at zero: enabling it with only `enabled: true`
	// (as the shipped agent does) retried a failed batch at once, again and again. Measured on an
	// agent whose gateways were down: 117 retries with a 0 s interval in 20 s, 84% of its CPU
	// re-routing the same batches, and 2,100 logs/s accepted of 10,000 offered. Core's defaults
	// (5 s growing to 30 s) apply instead; retries stay off unless enabled, as in contrib.
	cfg.BackOffConfig = configretry.NewDefaultBackOffConfig()
	cfg.BackOffConfig.Enabled = false
	return &Config{
		Config: cfg,
		// Below a pod's default terminationGracePeriodSeconds (30 s), as the gateway's exporters.
		ShutdownTimeout: 20 * time.Second,
	}
}

func createTraces(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	c := cfg.(*Config)
	var exp exporter.Traces
	var err error
	if (c.RoutingKey == "" || c.RoutingKey == routingTraceID) && (c.Resolver.Static.HasValue() || c.Resolver.DNS.HasValue()) {
		// By trace ID (traces' default) over static or DNS endpoints: Sieve's, which retries only
		// a failed endpoint's spans. Other keys and resolvers: contrib's.
		exp, err = newTraceIDTraces(ctx, set, c)
	} else {
		exp, err = contribFactory.CreateTraces(ctx, set, &c.Config)
	}
	if err != nil {
		return nil, err
	}
	return &boundedTraces{Traces: exp, b: newBounded(set, c, exp)}, nil
}

func createMetrics(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	c := cfg.(*Config)
	exp, err := contribFactory.CreateMetrics(ctx, set, &c.Config)
	if err != nil {
		return nil, err
	}
	return &boundedMetrics{Metrics: exp, b: newBounded(set, c, exp)}, nil
}

// createLogs keeps contrib's default for an unset routing_key (service, for logs); only an
// explicit traceID takes Sieve's path.
func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	c := cfg.(*Config)
	var exp exporter.Logs
	var err error
	if c.RoutingKey != routingTraceID {
		exp, err = contribFactory.CreateLogs(ctx, set, &c.Config)
	} else {
		exp, err = newTraceIDLogs(ctx, set, c)
	}
	if err != nil {
		return nil, err
	}
	return &boundedLogs{Logs: exp, b: newBounded(set, c, exp)}, nil
}
