package prometheusremotewrite // import "github.com/sieveobs/sieve/exporters/prometheusremotewrite"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/xexporter"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/sieveobs/sieve/exporters/prometheusremotewrite/internal/metadata"
	"github.com/sieveobs/sieve/internal/shutdownbound"
)

// NewFactory returns the factory of the prometheus_remote_write exporter.
func NewFactory() exporter.Factory {
	return xexporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		xexporter.WithMetrics(createMetrics, metadata.MetricsStability),
		// contrib's name, so that a configuration moved from contrib loads (with a deprecation
		// warning at start).
		xexporter.WithDeprecatedTypeAlias(metadata.DeprecatedType),
	)
}

// defaultQueueBytes bounds the in-memory sending queue: 8 MiB of OTLP
// encoding is some 75,000 data points (a few full batches) and takes three to
// six times that in memory once decoded, small points costing the most.
const defaultQueueBytes = 8 << 20

// defaultShutdownTimeout ends sending 20 s after shutdown began, leaving 10 s
// of a pod's default 30 s terminationGracePeriodSeconds for the rest of the
// collector to stop.
const defaultShutdownTimeout = 20 * time.Second

// defaultStaleSeries bounds the staleness tracker to some 8-25 MB of heap (80-250 bytes a
// series, see stalestore.go), the order of the sending queue, instead of the 40-125 MB that
// 500,000 would take. Markers are a promptness aid: a series the tracker had to forget still ends
// when Prometheus' lookback (5 minutes) passes, as every series does without markers, so the
// bound costs promptness, not data. It is the delta_to_cumulative bound too.
const defaultStaleSeries = 100_000

func createDefaultConfig() component.Config {
	client := confighttp.NewDefaultClientConfig()
	client.Timeout = 30 * time.Second
	client.WriteBufferSize = 512 << 10

	queue := exporterhelper.NewDefaultQueueConfig()
	// One consumer keeps batches, and so the samples of each series, in
	// order; the exporter parallelises inside a batch with shards.
	queue.NumConsumers = 1
	// The queue is sized in bytes (of the OTLP encoding) so that memory is
	// bounded whatever the batch sizes: counted in requests, a queue of large
	// batches grew to hundreds of MiB when the endpoint fell behind. A full
	// queue refuses new data (retryable) instead of growing.
	queue.Sizer = exporterhelper.RequestSizerTypeBytes
	queue.QueueSize = defaultQueueBytes
	// Batches are formed after the queue, so the queue refuses what it cannot
	// hold back to the receiver rather than to a batch processor that has
	// already acknowledged it.
	queue.Batch = configoptional.Some(exporterhelper.BatchConfig{
		FlushTimeout: 200 * time.Millisecond,
		Sizer:        exporterhelper.RequestSizerTypeItems,
		MinSize:      8192,
		MaxSize:      16384,
	})

	return &Config{
		ClientConfig:      client,
		QueueConfig:       configoptional.Some(queue),
		RetryConfig:       configretry.NewDefaultBackOffConfig(),
		ShutdownTimeout:   defaultShutdownTimeout,
		Protocol:          protocolV2,
		Shards:            4,
		MaxBatchSizeBytes: 3 << 20,
		TenantHeader:      "X-Scope-OrgID",
		AddMetricSuffixes: true,
		TargetInfo:        TargetInfoConfig{Enabled: true},
		SendExemplars:     true,
		DeltaToCumulative: DeltaToCumulativeConfig{MaxSeries: 100_000, MaxStale: 10 * time.Minute},
		Staleness:         StalenessConfig{StaleAfter: 5 * time.Minute, MaxSeries: defaultStaleSeries},
	}
}

func createMetrics(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	return newMetricsExporter(ctx, set, cfg.(*Config), time.Now)
}

// metricsExporter converts delta temporality before data enters the
// sending queue, so that queued and retried batches are already cumulative.
type metricsExporter struct {
	exporter.Metrics
	d2c   *deltaToCumulative
	bound *shutdownbound.Bound
}

func (m *metricsExporter) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

func (m *metricsExporter) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	m.d2c.convert(md)
	return m.Metrics.ConsumeMetrics(ctx, md)
}

func newMetricsExporter(ctx context.Context, set exporter.Settings, cfg *Config, now func() time.Time) (*metricsExporter, error) {
	prw, err := newExporter(cfg, set, now)
	if err != nil {
		return nil, err
	}
	helper, err := exporterhelper.NewMetrics(ctx, set, cfg, prw.pushMetrics,
		exporterhelper.WithStart(prw.start),
		exporterhelper.WithShutdown(prw.shutdown),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		// The HTTP client's timeout bounds each request instead.
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{Timeout: 0}),
		exporterhelper.WithRetry(cfg.RetryConfig),
		exporterhelper.WithQueue(cfg.QueueConfig),
	)
	if err != nil {
		return nil, err
	}
	return &metricsExporter{Metrics: helper, d2c: newDeltaToCumulative(cfg.DeltaToCumulative, now, prw.evicted), bound: prw.bound}, nil
}

// Shutdown arms the shutdown bound before exporterhelper's shutdown, which
// drains the queue, begins.
func (m *metricsExporter) Shutdown(ctx context.Context) error {
	return m.bound.Shutdown(ctx, m.Metrics.Shutdown)
}
