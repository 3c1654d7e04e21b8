package finehistogram // import "github.com/sieveobs/sieve/connectors/finehistogram"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"

	"github.com/sieveobs/sieve/connectors/finehistogram/internal/metadata"
)

// NewFactory returns the factory of the fine_histogram connector.
func NewFactory() connector.Factory {
	return connector.NewFactory(
		metadata.Type,
		createDefaultConfig,
		connector.WithTracesToMetrics(createTracesToMetrics, metadata.TracesToMetricsStability),
		connector.WithLogsToMetrics(createLogsToMetrics, metadata.LogsToMetricsStability),
		connector.WithMetricsToMetrics(createMetricsToMetrics, metadata.MetricsToMetricsStability),
	)
}

// defaultBounds are log-spaced latency bounds in seconds: 39 bounds (40 buckets with +Inf), each
// about 1.17 times the previous, from 5 ms to 1.95 s, rounded to 3 significant digits. A ratio of
// 1.17 keeps histogram_quantile's linear interpolation within 2% at P99 wherever the quantile
// falls inside the range; below 5 ms and above 1.95 s the error grows.
func defaultBounds() []float64 {
	return []float64{
		0.005, 0.00585, 0.00684, 0.00801, 0.00937, 0.011, 0.0128, 0.015, 0.0176, 0.0205,
		0.024, 0.0281, 0.0329, 0.0385, 0.045, 0.0527, 0.0617, 0.0721, 0.0844, 0.0987,
		0.116, 0.135, 0.158, 0.185, 0.216, 0.253, 0.296, 0.347, 0.406, 0.475,
		0.555, 0.65, 0.76, 0.889, 1.04, 1.22, 1.42, 1.67, 1.95,
	}
}

func createDefaultConfig() component.Config {
	return &Config{
		Histogram: HistogramConfig{
			Kind:        KindExplicit,
			Explicit:    ExplicitConfig{Bounds: defaultBounds()},
			Exponential: ExponentialConfig{Layout: LayoutDense, MaxSize: 160, MaxScale: 20},
		},
		Traces:                 TracesConfig{MetricName: "span.duration"},
		AggregationTemporality: TemporalityCumulative,
		FlushInterval:          60 * time.Second,
		CardinalityLimit:       2000,
		SeriesExpiration:       10 * time.Minute,
		WeightByAdjustedCount:  true,
		Exemplars:              ExemplarsConfig{Enabled: false, MaxPerDataPoint: 5, Wait: 10 * time.Second},
		// The name contrib's spanmetrics connector gives the same label.
		InstanceAttribute: "collector.instance.id",
		// About 22 minutes of requests at 50 per second, 2.6 MiB.
		DedupRequests: 65536,
	}
}

func createTracesToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Traces, error) {
	return newConnector(set, cfg.(*Config), next, realClock{})
}

func createLogsToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Logs, error) {
	return newConnector(set, cfg.(*Config), next, realClock{})
}

func createMetricsToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Metrics, error) {
	return newConnector(set, cfg.(*Config), next, realClock{})
}
