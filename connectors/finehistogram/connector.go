package finehistogram // import "github.com/sieveobs/sieve/connectors/finehistogram"

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/s2"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"

	"github.com/sieveobs/sieve/connectors/finehistogram/internal/metadata"
	"github.com/sieveobs/sieve/internal/policy"
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
	// decider, when set, narrows exemplar candidates to spans of traces likely kept: error spans
	// (tail sampling keeps their traces) and traces the live rate keeps. The flush then checks
	// the actual decision.
	decider policy.TraceDecider
	// keyBuf is reused for series keys; guarded by mu.
	keyBuf []byte
	// lastTraceState caches the last parsed tracestate: spans of one trace share it.
	lastTraceState string
	lastWeight     float64

	unitScale []float64 // per log metric

	// id names this connector to the storage extension.
	id component.ID
	// journal is set when storage is configured; appends are guarded by mu, as is dedup.
	journal *journal
	dedup   *dedupSet

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
		id:         set.ID,
		dedup:      newDedupSet(cfg.DedupRequests),
		keyBuf:     make([]byte, 0, 256),
		lastWeight: 1,
	}
	c.agg = newAggregator(cfg, clk.Now(), &c.active)
	c.agg.instanceAttr = cfg.InstanceAttribute
	c.agg.instanceID = instanceID(cfg, set.Resource)
	if cfg.InstanceAttribute != "" && c.agg.instanceID == "" {
		set.Logger.Warn("no instance ID: series are written without " + cfg.InstanceAttribute +
			" and would collide with another collector's; set instance_id")
	}
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

// instanceID is the configured ID, else the collector's service.instance.id.
func instanceID(cfg *Config, res pcommon.Resource) string {
	if cfg.InstanceID != "" {
		return cfg.InstanceID
	}
	if v, ok := res.Attributes().Get("service.instance.id"); ok {
		return v.AsString()
	}
	return ""
}

func (*fineHistogramConnector) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

func (c *fineHistogramConnector) Start(ctx context.Context, host component.Host) error {
	if id := c.cfg.Exemplars.TraceDecider; id != (component.ID{}) {
		ext, ok := host.GetExtensions()[id]
		if !ok {
			return fmt.Errorf("exemplars::trace_decider: extension %q not found; add it to service::extensions", id)
		}
		d, ok := ext.(policy.TraceDecider)
		if !ok {
			return fmt.Errorf("exemplars::trace_decider: extension %q does not know which traces are kept", id)
		}
		tails, _ := ext.(policy.TailDecisions)
		c.mu.Lock()
		c.decider = d
		c.agg.exemplarCheck = func(tid pcommon.TraceID, svc string) (bool, bool) {
			if tails != nil && tails.TailActive() {
				if dec, ok := tails.TraceDecision(tid); ok {
					return dec.Kept, false
				}
				// Decided after decision_wait: worth waiting one flush for.
				return false, true
			}
			return d.TraceKept(tid, svc), false
		}
		c.mu.Unlock()
	}
	if c.cfg.Storage != nil {
		j, err := openJournal(ctx, host, *c.cfg.Storage, c.id)
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.journal = j
		c.mu.Unlock()
		if err := c.replay(ctx); err != nil {
			return errors.Join(err, j.close(ctx))
		}
	}
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

// replay counts again the requests kept in the journal: consumed before the process ended and
// not covered by a flush that reached the next pipeline.
func (c *fineHistogramConnector) replay(ctx context.Context) error {
	stats := map[string]*batchStats{}
	add := func(name string, st *batchStats) {
		acc, ok := stats[name]
		if !ok {
			acc = &batchStats{}
			stats[name] = acc
		}
		acc.observed += st.observed
		acc.overflowed += st.overflowed
		for r, n := range st.dropped {
			acc.dropN(r, int(n))
		}
	}
	c.mu.Lock()
	replayed, bad, err := c.journal.replay(ctx, func(kind byte, entry []byte) error {
		data, err := s2.Decode(nil, entry)
		if err != nil {
			return err
		}
		c.dedup.add(xxhash.Sum64(data))
		switch kind {
		case entryTraces:
			td, err := tracesUnmarshaler.UnmarshalTraces(data)
			if err != nil {
				return err
			}
			st := c.recordTraces(td)
			add(c.cfg.Traces.MetricName, &st)
		case entryLogs:
			ld, err := logsUnmarshaler.UnmarshalLogs(data)
			if err != nil {
				return err
			}
			for n, st := range c.recordLogs(ld) {
				add(c.cfg.Logs[n].MetricName, &st)
			}
		case entryMetrics:
			md, err := metricsUnmarsh.UnmarshalMetrics(data)
			if err != nil {
				return err
			}
			for name, st := range c.recordMetrics(md) {
				add(name, st)
			}
		default:
			return errBadJournal
		}
		return nil
	})
	c.mu.Unlock()
	for name, st := range stats {
		c.report(ctx, name, st)
	}
	if replayed > 0 {
		c.telemetry.ConnectorFineHistogramJournalReplayed.Add(ctx, int64(replayed))
		c.logger.Info("counted again the requests journaled since the last flush", zap.Int("requests", replayed))
	}
	if bad > 0 {
		c.telemetry.ConnectorFineHistogramJournalErrors.Add(ctx, int64(bad), metric.WithAttributeSet(attribute.NewSet(attribute.String("operation", "read"))))
		c.logger.Error("skipped unreadable journal entries: their items are not counted", zap.Int("entries", bad))
	}
	if err != nil {
		c.telemetry.ConnectorFineHistogramJournalErrors.Add(ctx, 1, journalOp("replay"))
		return fmt.Errorf("storage: replay the journal: %w", err)
	}
	return nil
}

// consume is the path of every request: journaled (when storage is set) and recognised if
// resent, then counted by record under mu; record returns the telemetry update, made after mu is
// released.
func (c *fineHistogramConnector) consume(ctx context.Context, kind byte, marshal func() ([]byte, error), record func() func()) error {
	e, err := c.encodeEntry(kind, marshal)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if count, err := c.admit(ctx, e); !count {
		c.mu.Unlock()
		return err
	}
	report := record()
	c.mu.Unlock()
	report()
	return nil
}

// entryBufs recycles journal entries: the storage copies a value before Batch returns.
var entryBufs = sync.Pool{New: func() any { return new([]byte) }}

// entry is a request as the journal keeps it, with the hash of its encoding.
type entry struct {
	buf  *[]byte
	hash uint64
}

// encodeEntry is the journal form of a request (nil without storage): a kind byte and the
// request's OTLP encoding, S2-compressed since it stays on disk until the next flush. The caller
// hands it to admit, which recycles the buffer.
func (c *fineHistogramConnector) encodeEntry(kind byte, marshal func() ([]byte, error)) (*entry, error) {
	if c.cfg.Storage == nil {
		return nil, nil
	}
	data, err := marshal()
	if err != nil {
		return nil, consumererror.NewPermanent(err)
	}
	buf := entryBufs.Get().(*[]byte)
	need := 1 + s2.MaxEncodedLen(len(data))
	if cap(*buf) < need {
		*buf = make([]byte, need)
	}
	b := (*buf)[:need]
	b[0] = kind
	*buf = b[:1+len(s2.Encode(b[1:], data))]
	return &entry{buf: buf, hash: xxhash.Sum64(data)}, nil
}

// admit decides whether a request is counted; the caller holds mu. A request identical to one
// counted recently is a resend (the load_balancing exporter retries a whole batch when one
// gateway failed, and a sender retries what a crash left unacknowledged): it is acknowledged and
// not counted again. Otherwise it is journaled before it is counted; when that fails the request
// is refused, uncounted, so its sender's retry counts it once.
func (c *fineHistogramConnector) admit(ctx context.Context, e *entry) (count bool, err error) {
	if e == nil {
		return true, nil
	}
	defer entryBufs.Put(e.buf)
	if c.journal == nil {
		return true, nil
	}
	if c.dedup.contains(e.hash) {
		c.telemetry.ConnectorFineHistogramDuplicateRequests.Add(ctx, 1)
		return false, nil
	}
	if err := c.journal.append(ctx, *e.buf); err != nil {
		c.telemetry.ConnectorFineHistogramJournalErrors.Add(ctx, 1, journalOp("write"))
		return false, fmt.Errorf("fine_histogram journal: %w", err)
	}
	c.dedup.add(e.hash)
	return true, nil
}

func journalOp(op string) metric.AddOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("operation", op)))
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
	var err error
	c.mu.Lock()
	if c.journal != nil {
		err = c.journal.close(ctx)
		c.journal = nil
	}
	c.mu.Unlock()
	c.telemetry.Shutdown()
	return err
}

// flush emits the aggregated histograms to the next consumer.
func (c *fineHistogramConnector) flush(ctx context.Context) {
	c.mu.Lock()
	md := c.agg.flush(c.clock.Now(), scopeName)
	expired := c.agg.expired
	c.agg.expired = map[string]int64{}
	j := c.journal
	var covered uint64
	if j != nil {
		covered = j.head
	}
	c.mu.Unlock()
	for name, n := range expired {
		c.telemetry.ConnectorFineHistogramSeriesExpired.Add(ctx, n, metricOpt(name))
	}
	if md.DataPointCount() > 0 {
		if err := c.next.ConsumeMetrics(ctx, md); err != nil {
			// The next consumer owns retries; log once per flush, never per item. The journal is
			// kept: cumulative series carry the same counts again at the next flush.
			c.logger.Warn("failed to export fine histograms", zap.Error(err), zap.Int("data_points", md.DataPointCount()))
			return
		}
	}
	if j != nil {
		if err := j.truncate(ctx, covered); err != nil {
			c.telemetry.ConnectorFineHistogramJournalErrors.Add(ctx, 1, journalOp("truncate"))
			c.logger.Warn("failed to trim the journal: a restart would count its requests twice until the next flush trims it", zap.Error(err))
		}
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

// exemplarCandidate reports whether an observation may become an exemplar.
func (c *fineHistogramConnector) exemplarCandidate(id pcommon.TraceID, svc string, isErr bool) bool {
	if c.decider == nil {
		return true
	}
	return isErr || c.decider.TraceKept(id, svc)
}
