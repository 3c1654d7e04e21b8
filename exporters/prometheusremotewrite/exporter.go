package prometheusremotewrite // import "github.com/sieveobs/sieve/exporters/prometheusremotewrite"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
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

func (e *prwExporter) evicted(reason string) {
	e.telemetry.ExporterPrometheusRemoteWriteStateEvictions.Add(context.Background(), 1,
		metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reason))))
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

type shardResult struct {
	err       error
	permanent bool
	// samples counts what the shard did not get delivered (all of it on success); sent counts
	// the samples of the requests before a failure, and delivered the series they held.
	samples   int64
	sent      int64
	delivered int
}

// pushMetrics translates md, splits the series into shards by label hash
// and sends the shards in parallel. A series lives in exactly one shard and
// a shard's requests are sequential, so per-series order holds. When some
// shards fail with a retryable error only the data points that fed those
// shards are handed back for retry.
func (e *prwExporter) pushMetrics(ctx context.Context, md pmetric.Metrics) error {
	return e.push(ctx, md, false)
}

// push sends md and the staleness markers due. An idle push carries only
// markers: no retry of it will come, so it leaves the record of what a
// pending retry already delivered alone.
func (e *prwExporter) push(ctx context.Context, md pmetric.Metrics, idle bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.client == nil {
		return consumererror.NewPermanent(errors.New("exporter not started"))
	}
	if e.bound.Reached() {
		// Nothing is translated: the staleness and delta state stay as they
		// were, as if this push had never come.
		e.cutShort(ctx, md.DataPointCount())
		return shutdownbound.Err(nil)
	}
	ctx, done := e.bound.Context(ctx)
	defer done()
	b := e.b
	b.reset()
	e.tr.translate(md, b)
	now := e.now()
	markers := e.stale.sweep(b, now)
	b.finish()
	e.stale.observe(b, now)
	for reason, n := range b.dropped {
		e.dropped(ctx, reason, n)
	}
	if b.stale > 0 {
		e.telemetry.ExporterPrometheusRemoteWriteStalenessMarkers.Add(ctx, b.stale)
	}

	n := len(e.encoders)
	shards := e.shardBuf
	for i := range shards {
		shards[i] = shards[i][:0]
	}
	all := b.all()
	for i := range all {
		s := &all[i]
		if len(e.delivered) > 0 && !e.trimDelivered(s) {
			continue
		}
		shards[s.hash%uint64(n)] = append(shards[s.hash%uint64(n)], s)
	}

	results := make([]shardResult, n)
	var wg sync.WaitGroup
	for i := range shards {
		if len(shards[i]) == 0 {
			continue
		}
		wg.Go(func() { results[i] = e.sendShard(ctx, e.encoders[i], shards[i]) })
	}
	wg.Wait()

	var retryable, permanent []error
	failed := make([]bool, n)
	anyFailed, cutShort := false, false
	for i, r := range results {
		cutShort = cutShort || errors.Is(r.err, shutdownbound.ErrCutShort)
		switch {
		case r.err == nil:
			e.telemetry.ExporterPrometheusRemoteWriteSamplesSent.Add(ctx, r.samples)
		case r.permanent:
			permanent = append(permanent, r.err)
			e.telemetry.ExporterPrometheusRemoteWriteSamplesSent.Add(ctx, r.sent)
			e.dropped(ctx, reasonRejected, r.samples)
		default:
			retryable = append(retryable, r.err)
			e.telemetry.ExporterPrometheusRemoteWriteSamplesSent.Add(ctx, r.sent)
			failed[i] = true
			anyFailed = true
		}
	}
	switch {
	case idle:
		// Markers only: a failed one is restored below.
	case anyFailed:
		for i, r := range results {
			ok := shards[i]
			if r.err != nil {
				ok = ok[:r.delivered]
			}
			for _, s := range ok {
				if ts, found := lastTimestamp(s); found {
					e.delivered[s.hash] = max(e.delivered[s.hash], ts)
				}
			}
		}
	default:
		clear(e.delivered)
	}
	for _, m := range markers {
		if failed[m.hash%uint64(n)] {
			e.stale.restore(m)
		}
	}
	if len(permanent) > 0 {
		// One line per push, not per sample: the counter carries the volume.
		e.set.Logger.Warn("Remote-write endpoint rejected data; it will not be retried", zap.Error(errors.Join(permanent...)))
	}
	if anyFailed {
		retry := e.failedSubset(md, failed)
		if cutShort {
			e.cutShort(ctx, retry.DataPointCount())
		}
		return consumererror.NewMetrics(errors.Join(retryable...), retry)
	}
	if len(permanent) > 0 {
		return consumererror.NewPermanent(errors.Join(permanent...))
	}
	return nil
}

func (e *prwExporter) cutShort(ctx context.Context, n int) {
	e.telemetry.ExporterPrometheusRemoteWriteDataPointsCutShort.Add(ctx, int64(n), e.cutShortAttr)
	e.bound.CutShort(int64(n))
}

func countSamples(ss []*series) int64 {
	var n int64
	for _, s := range ss {
		n += int64(len(s.samples) + len(s.histograms) + len(s.exemplars))
	}
	return n
}

// sendShard sends ss in requests of at most MaxBatchSizeBytes, in order,
// stopping at the first failure.
func (e *prwExporter) sendShard(ctx context.Context, enc *encoder, ss []*series) shardResult {
	total := countSamples(ss)
	var sent int64
	start, size := 0, 0
	for i, s := range ss {
		sz := seriesSize(s)
		if i > start && size+sz > e.cfg.MaxBatchSizeBytes {
			if res := e.sendChunk(ctx, enc, ss[start:i]); res.err != nil {
				res.samples, res.sent, res.delivered = total-sent, sent, start
				return res
			}
			sent += countSamples(ss[start:i])
			start, size = i, 0
		}
		size += sz
	}
	res := e.sendChunk(ctx, enc, ss[start:])
	if res.err != nil {
		res.samples, res.sent, res.delivered = total-sent, sent, start
		return res
	}
	res.samples, res.delivered = total, len(ss)
	return res
}

// trimDelivered removes from s what the endpoint already accepted while this data was being
// retried (see delivered) and reports whether anything is left to send.
func (e *prwExporter) trimDelivered(s *series) bool {
	last, ok := e.delivered[s.hash]
	if !ok {
		return true
	}
	s.samples = slices.DeleteFunc(s.samples, func(x prompb.Sample) bool { return x.Timestamp <= last })
	s.histograms = slices.DeleteFunc(s.histograms, func(x prompb.Histogram) bool { return x.Timestamp <= last })
	s.exemplars = slices.DeleteFunc(s.exemplars, func(x prompb.Exemplar) bool { return x.Timestamp <= last })
	return len(s.samples)+len(s.histograms)+len(s.exemplars) > 0
}

func (e *prwExporter) sendChunk(ctx context.Context, enc *encoder, ss []*series) shardResult {
	if !e.v1Only.Load() {
		body, err := enc.encodeV2(ss)
		if err != nil {
			return shardResult{err: fmt.Errorf("marshal remote-write 2.0 request: %w", err), permanent: true}
		}
		fallback, res := e.post(ctx, body, true, countSamples(ss) > 0)
		if !fallback {
			return res
		}
		if e.v1Only.CompareAndSwap(false, true) {
			e.telemetry.ExporterPrometheusRemoteWriteProtocolFallbacks.Add(ctx, 1)
			e.set.Logger.Warn("Remote-write endpoint does not accept protocol 2.0; falling back to 1.0")
		}
	}
	body, err := enc.encodeV1(ss)
	if err != nil {
		return shardResult{err: fmt.Errorf("marshal remote-write 1.0 request: %w", err), permanent: true}
	}
	_, res := e.post(ctx, body, false, false)
	return res
}

// post sends one compressed request and classifies the outcome. fallback
// is true when a 2.0 request must be resent as 1.0: the endpoint answered
// 415, or it answered 2xx without the written-count headers every 2.0
// receiver returns, which is what a 1.0-only receiver that ignores the
// content type does after silently decoding nothing.
func (e *prwExporter) post(ctx context.Context, body []byte, v2, expectWritten bool) (fallback bool, res shardResult) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.Endpoint, bytes.NewReader(body))
	if err != nil {
		return false, shardResult{err: err, permanent: true}
	}
	// Configured headers are added later by the confighttp transport;
	// Validate refuses any that would replace these.
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("User-Agent", e.userAgent)
	if v2 {
		req.Header.Set("Content-Type", contentTypeV2)
		req.Header.Set(headerVersion, versionV2)
	} else {
		req.Header.Set("Content-Type", contentTypeV1)
		req.Header.Set(headerVersion, versionV1)
	}
	if e.cfg.TenantID != "" {
		req.Header.Set(e.cfg.TenantHeader, e.cfg.TenantID)
	}
	resp, err := e.client.Do(req)
	if err != nil && errors.Is(context.Cause(ctx), shutdownbound.ErrCutShort) {
		return false, shardResult{err: shutdownbound.Err(err)}
	}
	if err != nil {
		e.requestFailed(ctx, reasonConnection)
		if ctx.Err() != nil {
			return false, shardResult{err: err}
		}
		return false, shardResult{err: fmt.Errorf("remote write to %s: %w", e.cfg.Endpoint, err)}
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode/100 == 2 {
		if v2 && expectWritten && !writtenHeadersPresent(resp.Header) {
			e.requestFailed(ctx, reasonUnconfirmed)
			return true, shardResult{}
		}
		e.telemetry.ExporterPrometheusRemoteWriteBytesSent.Add(ctx, int64(len(body)))
		return false, shardResult{}
	}
	if v2 && resp.StatusCode == http.StatusUnsupportedMediaType {
		e.requestFailed(ctx, reasonUnsupportedMedia)
		return true, shardResult{}
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	err = fmt.Errorf("remote write to %s: HTTP %d: %s", e.cfg.Endpoint, resp.StatusCode, bytes.TrimSpace(msg))
	return false, e.classify(ctx, resp, err)
}

func writtenHeadersPresent(h http.Header) bool {
	return h.Get(headerSamplesWritten) != "" || h.Get(headerHistogramsWritten) != "" || h.Get(headerExemplarsWritten) != ""
}

// classify maps a non-2xx response to retryable, throttled or permanent with Sieve's one HTTP
// retry rule (httpretry), the way Prometheus' own remote-write client does.
func (e *prwExporter) classify(ctx context.Context, resp *http.Response, err error) shardResult {
	r := httpretry.Classify(resp.StatusCode, resp.Header, e.now(), err)
	e.requestFailed(ctx, r.Reason)
	return shardResult{err: r.Err, permanent: r.Permanent}
}

// failedSubset returns the data points of md that produced a series in a
// failed shard. Points whose resource's target_info went to a failed shard
// are included too so that target_info is resent with them. Resending a
// point whose other series did arrive is harmless: Prometheus accepts an
// identical sample at the same timestamp.
func (e *prwExporter) failedSubset(md pmetric.Metrics, failed []bool) pmetric.Metrics {
	out := pmetric.NewMetrics()
	n := uint64(len(failed))
	scratch := newBatch()
	shardFailed := func() bool {
		for _, s := range scratch.all() {
			if failed[s.hash%n] {
				return true
			}
		}
		return false
	}
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		job, instance := resourceLabels(rm.Resource())
		var base []prompb.Label
		if job != "" {
			base = append(base, prompb.Label{Name: jobLabel, Value: job})
		}
		if instance != "" {
			base = append(base, prompb.Label{Name: instanceLabel, Value: instance})
		}
		scratch.reset()
		targetFailed := false
		if e.tr.targetInfo {
			e.tr.addTargetInfo(rm.Resource(), base, 1, scratch)
			targetFailed = shardFailed()
		}
		var outRM pmetric.ResourceMetrics
		hasRM := false
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			sm := sms.At(j)
			var outSM pmetric.ScopeMetrics
			hasSM := false
			ms := sm.Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				var outM pmetric.Metric
				hasM := false
				for p := range dataPointCount(m) {
					scratch.reset()
					e.tr.translateMetric(m, base, scratch, p)
					if !targetFailed && !shardFailed() {
						continue
					}
					if !hasRM {
						hasRM = true
						outRM = out.ResourceMetrics().AppendEmpty()
						rm.Resource().CopyTo(outRM.Resource())
						outRM.SetSchemaUrl(rm.SchemaUrl())
					}
					if !hasSM {
						outSM = outRM.ScopeMetrics().AppendEmpty()
						sm.Scope().CopyTo(outSM.Scope())
						outSM.SetSchemaUrl(sm.SchemaUrl())
						hasSM = true
					}
					if !hasM {
						outM = outSM.Metrics().AppendEmpty()
						copyMetricShell(m, outM)
						hasM = true
					}
					copyPoint(m, p, outM)
				}
			}
		}
	}
	return out
}

func copyMetricShell(src, dst pmetric.Metric) {
	dst.SetName(src.Name())
	dst.SetDescription(src.Description())
	dst.SetUnit(src.Unit())
	src.Metadata().CopyTo(dst.Metadata())
	switch src.Type() {
	case pmetric.MetricTypeGauge:
		dst.SetEmptyGauge()
	case pmetric.MetricTypeSum:
		dst.SetEmptySum().SetAggregationTemporality(src.Sum().AggregationTemporality())
		dst.Sum().SetIsMonotonic(src.Sum().IsMonotonic())
	case pmetric.MetricTypeHistogram:
		dst.SetEmptyHistogram().SetAggregationTemporality(src.Histogram().AggregationTemporality())
	case pmetric.MetricTypeExponentialHistogram:
		dst.SetEmptyExponentialHistogram().SetAggregationTemporality(src.ExponentialHistogram().AggregationTemporality())
	case pmetric.MetricTypeSummary:
		dst.SetEmptySummary()
	}
}

func copyPoint(src pmetric.Metric, i int, dst pmetric.Metric) {
	switch src.Type() {
	case pmetric.MetricTypeGauge:
		src.Gauge().DataPoints().At(i).CopyTo(dst.Gauge().DataPoints().AppendEmpty())
	case pmetric.MetricTypeSum:
		src.Sum().DataPoints().At(i).CopyTo(dst.Sum().DataPoints().AppendEmpty())
	case pmetric.MetricTypeHistogram:
		src.Histogram().DataPoints().At(i).CopyTo(dst.Histogram().DataPoints().AppendEmpty())
	case pmetric.MetricTypeExponentialHistogram:
		src.ExponentialHistogram().DataPoints().At(i).CopyTo(dst.ExponentialHistogram().DataPoints().AppendEmpty())
	case pmetric.MetricTypeSummary:
		src.Summary().DataPoints().At(i).CopyTo(dst.Summary().DataPoints().AppendEmpty())
	}
}
