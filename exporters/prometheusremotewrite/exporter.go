package prometheusremotewrite // import "github.com/sieveobs/sieve/exporters/prometheusremotewrite"

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/sieveobs/sieve/exporters/prometheusremotewrite/internal/metadata"
	"github.com/sieveobs/sieve/internal/httpretry"
	"github.com/sieveobs/sieve/internal/shutdownbound"
)

const (
	contentTypeV1 = "application/x-protobuf"
	contentTypeV2 = "application/x-protobuf;proto=io.prometheus.write.v2.Request"
	versionV1     = "0.1.0"
	versionV2     = "2.0.0"

	headerVersion           = "X-Prometheus-Remote-Write-Version"
	headerSamplesWritten    = "X-Prometheus-Remote-Write-Samples-Written"
	headerHistogramsWritten = "X-Prometheus-Remote-Write-Histograms-Written"
	headerExemplarsWritten  = "X-Prometheus-Remote-Write-Exemplars-Written"

	// maxErrorBody bounds how much of an error response is read into the
	// error message.
	maxErrorBody = 1 << 10

	reasonThrottled   = httpretry.Throttled
	reasonServerError = httpretry.ServerError
	reasonClientError = httpretry.ClientError
	reasonConnection  = "connection"
	reasonUnconfirmed = "unconfirmed_v2"
	reasonUnexpected  = httpretry.Unexpected
)

type prwExporter struct {
	cfg       *Config
	set       component.TelemetrySettings
	telemetry *metadata.TelemetryBuilder
	userAgent string
	now       func() time.Time

	client *http.Client
	// v1Only is set once the endpoint has shown it does not speak 2.0.
	v1Only atomic.Bool

	// mu serialises pushes: with a single queue consumer this is free, and
	// without a queue it is what keeps consecutive batches in order.
	mu       sync.Mutex
	tr       *translator
	b        *batch
	stale    *stalenessTracker
	encoders []*encoder
	shardBuf [][]*series
	// delivered holds, per series hash, the newest timestamp the endpoint accepted since the
	// last push without a retryable failure. A retry re-translates data points, and a point
	// can feed series whose shard succeeded (its other series, or target_info): their samples
	// up to that timestamp are left out of the retry, because resending them after newer ones
	// is an out-of-order write Prometheus refuses (400), losing the retried batch with it.
	delivered map[uint64]int64

	// sweepEvery is how often an idle exporter looks for series to end.
	// Pushes sweep too, but when every series stops no push comes at all,
	// and the markers must still go out.
	sweepEvery time.Duration
	stopSweep  context.CancelFunc
	sweepDone  chan struct{}

	// bound cuts sends short once shutdown has lasted shutdown_timeout;
	// cutShortAttr says what becomes of the data then.
	bound        *shutdownbound.Bound
	cutShortAttr metric.MeasurementOption
}

func newExporter(cfg *Config, set exporter.Settings, now func() time.Time) (*prwExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	e := &prwExporter{
		cfg:       cfg,
		set:       set.TelemetrySettings,
		telemetry: tb,
		userAgent: fmt.Sprintf("%s/%s", set.BuildInfo.Command, set.BuildInfo.Version),
		now:       now,
		tr:        newTranslator(cfg),
		b:         newBatch(),
		encoders:  make([]*encoder, cfg.Shards),
		shardBuf:  make([][]*series, cfg.Shards),
		delivered: map[uint64]int64{},
		bound: shutdownbound.New(cfg.ShutdownTimeout, set.Logger,
			shutdownbound.Outcome(cfg.QueueConfig.HasValue(), cfg.QueueConfig.HasValue() && cfg.QueueConfig.Get().StorageID != nil, cfg.RetryConfig.Enabled),
			"data_points"),
	}
	e.cutShortAttr = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", e.bound.Outcome())))
	e.stale = newStalenessTracker(cfg.Staleness, e.evicted)
	e.sweepEvery = min(max(cfg.Staleness.StaleAfter/4, 100*time.Millisecond), 15*time.Second)
	for i := range e.encoders {
		e.encoders[i] = newEncoder()
	}
	if cfg.Protocol == protocolV1 {
		e.v1Only.Store(true)
	}
	return e, nil
}

// evictionAttrs are built once: when series churn (a label carrying an ID), every data point
// evicts a tracked series, and building the attribute set each time cost 5% of the exporter's CPU.
var evictionAttrs = func() map[string]metric.MeasurementOption {
	m := map[string]metric.MeasurementOption{}
	for _, r := range []string{reasonCapacity, reasonExpired, reasonBoundsChanged, reasonTypeChanged} {
		m[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r)))
	}
	return m
}()

func (e *prwExporter) evicted(reason string) {
	attrs, ok := evictionAttrs[reason]
	if !ok {
		attrs = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reason)))
	}
	e.telemetry.ExporterPrometheusRemoteWriteStateEvictions.Add(context.Background(), 1, attrs)
}

func (e *prwExporter) dropped(ctx context.Context, reason string, n int64) {
	if n > 0 {
		e.telemetry.ExporterPrometheusRemoteWriteSamplesDropped.Add(ctx, n,
			metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reason))))
	}
}

func (e *prwExporter) requestFailed(ctx context.Context, reason string) {
	e.telemetry.ExporterPrometheusRemoteWriteRequestsFailed.Add(ctx, 1,
		metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reason))))
}

func (e *prwExporter) start(ctx context.Context, host component.Host) error {
	client, err := e.cfg.ToClient(ctx, host.GetExtensions(), e.set)
	if err != nil {
		return err
	}
	e.client = client
	e.bound.Start()
	if e.stale.enabled() {
		sweepCtx, cancel := context.WithCancel(context.Background())
		e.stopSweep, e.sweepDone = cancel, make(chan struct{})
		go e.sweepLoop(sweepCtx)
	}
	return nil
}

func (e *prwExporter) sweepLoop(ctx context.Context) {
	defer close(e.sweepDone)
	tick := time.NewTicker(e.sweepEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			e.sweepIdle(ctx)
		}
	}
}

// sweepIdle sends the staleness markers that are due when no push has
// swept them. A marker whose request fails is kept for the next sweep.
func (e *prwExporter) sweepIdle(ctx context.Context) {
	e.mu.Lock()
	due := e.stale.due(e.now())
	e.mu.Unlock()
	if !due {
		return
	}
	if err := e.push(ctx, pmetric.NewMetrics(), true); err != nil {
		e.set.Logger.Debug("Staleness markers not delivered; they will be sent on the next sweep", zap.Error(err))
	}
}

func (e *prwExporter) shutdown(context.Context) error {
	if e.stopSweep != nil {
		e.stopSweep()
		<-e.sweepDone
	}
	if e.client != nil {
		e.client.CloseIdleConnections()
	}
	e.telemetry.Shutdown()
	return nil
}
