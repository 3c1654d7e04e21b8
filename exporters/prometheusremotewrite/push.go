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

	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/sieveobs/sieve/internal/httpretry"
	"github.com/sieveobs/sieve/internal/shutdownbound"
)

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
	s.samples = slices.DeleteFunc(s.samples, func(x sample) bool { return x.Timestamp <= last })
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
