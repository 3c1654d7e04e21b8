package loki // import "github.com/sieveobs/sieve/exporters/loki"

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

	"github.com/sieveobs/sieve/exporters/loki/internal/metadata"
	"github.com/sieveobs/sieve/internal/shutdownbound"
)

// NewFactory returns the factory of the loki exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		exporter.WithLogs(createLogs, metadata.LogsStability),
	)
}

// defaultQueueBytes bounds the in-memory sending queue: 8 MiB of OTLP
// encoding is some 25,000 log records (a few full batches) and takes three to
// six times that in memory once decoded.
const defaultQueueBytes = 8 << 20

// defaultShutdownTimeout ends sending 20 s after shutdown began.
const defaultShutdownTimeout = 20 * time.Second

func createDefaultConfig() component.Config {
	client := confighttp.NewDefaultClientConfig()
	client.Timeout = 30 * time.Second

	queue := exporterhelper.NewDefaultQueueConfig()
	// One consumer: a request under retry blocks the ones behind it, which
	// is what keeps each stream in order across retries.
	queue.NumConsumers = 1
	// Sized in bytes (of the OTLP encoding) so that memory is bounded
	// whatever the size of incoming requests; a full queue refuses new data
	// (retryable) instead of growing.
	queue.Sizer = exporterhelper.RequestSizerTypeBytes
	queue.QueueSize = defaultQueueBytes
	queue.Batch = configoptional.Some(exporterhelper.BatchConfig{
		FlushTimeout: time.Second,
		Sizer:        exporterhelper.RequestSizerTypeItems,
		MinSize:      8192,
		MaxSize:      16384,
	})

	return &Config{
		ClientConfig: client,
		QueueConfig:  configoptional.Some(queue),
		RetryConfig:  configretry.NewDefaultBackOffConfig(),
		// Leaves 10 s of a pod's default 30 s terminationGracePeriodSeconds
		// for the rest of the collector to stop.
		ShutdownTimeout: defaultShutdownTimeout,
		Format:          FormatProtobuf,
		LineFormat:      LineFormatBody,
		Labels: LabelsConfig{
			ResourceAttributes: []string{"service.name", "service.namespace", "deployment.environment.name"},
		},
		StructuredMetadata: StructuredMetadataConfig{
			ResourceAttributes: true,
			LogAttributes:      true,
			TraceContext:       true,
			MaxEntries:         128,
			MaxSize:            64 << 10,
		},
		Cardinality: CardinalityConfig{
			MaxLabelNamesPerStream: 15,
			MaxLabelNameLength:     1024,
			MaxLabelValueLength:    2048,
			MaxValuesPerLabel:      1000,
			Window:                 time.Hour,
		},
		Limits: LimitsConfig{
			MaxLineSize:   256 << 10,
			LineTooLong:   ActionTruncate,
			MaxEntryAge:   168 * time.Hour,
			MaxFutureSkew: 10 * time.Minute,
			FutureEntries: ActionClamp,
		},
	}
}

func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	c := cfg.(*Config)
	exp, err := newExporter(c, set, time.Now)
	if err != nil {
		return nil, err
	}
	helper, err := exporterhelper.NewLogs(ctx, set, cfg,
		exp.pushLogs,
		exporterhelper.WithStart(exp.start),
		exporterhelper.WithShutdown(exp.shutdown),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		// The HTTP client's timeout bounds each attempt.
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{Timeout: 0}),
		exporterhelper.WithRetry(c.RetryConfig),
		exporterhelper.WithQueue(c.QueueConfig),
	)
	if err != nil {
		return nil, err
	}
	return &logsExporter{Logs: helper, bound: exp.bound}, nil
}

// logsExporter arms the shutdown bound before exporterhelper's shutdown,
// which drains the queue, begins.
type logsExporter struct {
	exporter.Logs
	bound *shutdownbound.Bound
}

func (l *logsExporter) Shutdown(ctx context.Context) error {
	return l.bound.Shutdown(ctx, l.Logs.Shutdown)
}
