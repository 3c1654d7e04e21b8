package finehistogram // import "github.com/sieveobs/sieve/connectors/finehistogram"

import (
	"context"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"

	"github.com/sieveobs/sieve/connectors/finehistogram/internal/metadata"
)

const scopeName = "github.com/sieveobs/sieve/connectors/finehistogram"

// Drop reasons, as in metadata.yaml.
const (
	reasonInvalidValue    = "invalid_value"
	reasonBoundsMismatch  = "bounds_mismatch"
	reasonNonDeltaInput   = "non_delta_input"
	reasonUnsupportedType = "unsupported_type"
	reasonTooManyMetrics  = "too_many_metrics"
)

// maxMergedMetrics bounds the distinct histogram names a metrics→metrics instance accepts, since
// the names come from upstream agents rather than from this configuration.
const maxMergedMetrics = 1000

// clock abstracts time so tests drive flushes and expiry without sleeping.
type clock interface {
	Now() time.Time
	NewTicker(d time.Duration) (<-chan time.Time, func())
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// batchStats accumulates telemetry for one consumed batch so that counters are updated once per
// batch rather than once per observation.
type batchStats struct {
	observed   int64
	overflowed int64
	dropped    map[string]int64
}

func (b *batchStats) drop(reason string) {
	if b.dropped == nil {
		b.dropped = map[string]int64{}
	}
	b.dropped[reason]++
}

type fineHistogramConnector struct {
	cfg       *Config
	logger    *zap.Logger
	next      consumer.Metrics
	telemetry *metadata.TelemetryBuilder
	clock     clock

	mu  sync.Mutex
	agg *aggregator
	// keyBuf is reused for series keys; guarded by mu.
	keyBuf []byte
	// lastTraceState caches the last parsed tracestate: spans of one trace share it.
	lastTraceState string
	lastWeight     float64

	unitScale []float64 // per log metric

	active   atomic.Int64
	started  bool
	done     chan struct{}
	loopDone chan struct{}
}

func newConnector(set connector.Settings, cfg *Config, next consumer.Metrics, clk clock) (*fineHistogramConnector, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	c := &fineHistogramConnector{
		cfg:        cfg,
		logger:     set.Logger,
		next:       next,
		telemetry:  tb,
		clock:      clk,
		keyBuf:     make([]byte, 0, 256),
		lastWeight: 1,
	}
	c.agg = newAggregator(cfg, clk.Now(), &c.active)
	for _, l := range cfg.Logs {
		c.unitScale = append(c.unitScale, unitToSeconds[l.Unit])
	}
	if err := tb.RegisterConnectorFineHistogramSeriesActiveCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(c.active.Load())
		return nil
	}); err != nil {
		tb.Shutdown()
		return nil, err
	}
	return c, nil
}

func (*fineHistogramConnector) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

func (c *fineHistogramConnector) Start(context.Context, component.Host) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.started = true
	c.done = make(chan struct{})
	c.loopDone = make(chan struct{})
	tick, stop := c.clock.NewTicker(c.cfg.FlushInterval)
	go func() {
		defer close(c.loopDone)
		defer stop()
		for {
			select {
			case <-c.done:
				return
			case <-tick:
				c.flush(context.Background())
			}
		}
	}()
	return nil
}

func (c *fineHistogramConnector) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	started := c.started
	c.started = false
	c.mu.Unlock()
	if started {
		close(c.done)
		<-c.loopDone
		// Emit what was aggregated since the last tick rather than losing it.
		c.flush(ctx)
	}
	c.telemetry.Shutdown()
	return nil
}

// flush emits the aggregated histograms to the next consumer.
func (c *fineHistogramConnector) flush(ctx context.Context) {
	c.mu.Lock()
	md := c.agg.flush(c.clock.Now(), scopeName)
	expired := c.agg.expired
	c.agg.expired = map[string]int64{}
	c.mu.Unlock()
	for name, n := range expired {
		c.telemetry.ConnectorFineHistogramSeriesExpired.Add(ctx, n, metricOpt(name))
	}
	if md.DataPointCount() == 0 {
		return
	}
	if err := c.next.ConsumeMetrics(ctx, md); err != nil {
		// The next consumer owns retries; log once per flush, never per item.
		c.logger.Warn("failed to export fine histograms", zap.Error(err), zap.Int("data_points", md.DataPointCount()))
	}
}

func (c *fineHistogramConnector) report(ctx context.Context, name string, st *batchStats) {
	opt := metricOpt(name)
	if st.observed > 0 {
		c.telemetry.ConnectorFineHistogramObservations.Add(ctx, st.observed, opt)
	}
	if st.overflowed > 0 {
		c.telemetry.ConnectorFineHistogramOverflowed.Add(ctx, st.overflowed, opt)
	}
	for reason, n := range st.dropped {
		c.telemetry.ConnectorFineHistogramDropped.Add(ctx, n, metric.WithAttributeSet(attribute.NewSet(
			attribute.String("metric", name), attribute.String("reason", reason))))
	}
}

func metricOpt(name string) metric.AddOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("metric", name)))
}

// traceStateWeight returns the adjusted count carried by a W3C tracestate; 1 when it carries no
// threshold.
func (c *fineHistogramConnector) traceStateWeight(ts string) float64 {
	if !c.cfg.WeightByAdjustedCount || !strings.Contains(ts, "th:") {
		return 1
	}
	if ts == c.lastTraceState {
		return c.lastWeight
	}
	w := 1.0
	if w3c, err := sampling.NewW3CTraceState(ts); err == nil {
		w = clampWeight(w3c.OTelValue().AdjustedCount())
	}
	c.lastTraceState, c.lastWeight = ts, w
	return w
}

// thresholdWeight returns the adjusted count of a sampling.threshold T-value.
func (c *fineHistogramConnector) thresholdWeight(tvalue string) float64 {
	if !c.cfg.WeightByAdjustedCount || tvalue == "" {
		return 1
	}
	th, err := sampling.TValueToThreshold(tvalue)
	if err != nil {
		return 1
	}
	return clampWeight(th.AdjustedCount())
}

// maxWeight keeps a corrupt threshold from overflowing the counts: a probability below 2^-32 is
// not a sampling rate anyone runs.
const maxWeight = 1 << 32

// clampWeight maps an unknown adjusted count (0) to 1 so that an item is never invisible.
func clampWeight(ac float64) float64 {
	if !(ac >= 1) {
		return 1
	}
	return math.Min(ac, maxWeight)
}
