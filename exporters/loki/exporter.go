package loki // import "github.com/sieveobs/sieve/exporters/loki"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sieveobs/sieve/exporters/loki/internal/metadata"
	"github.com/sieveobs/sieve/internal/httpretry"
	"github.com/sieveobs/sieve/internal/shutdownbound"
)

// Request failure reasons, used as the reason attribute of requests_failed.
const (
	failThrottled        = httpretry.Throttled
	failServerError      = httpretry.ServerError
	failConnection       = "connection"
	failBadRequest       = "bad_request"
	failPartial          = "partial_rejection"
	failClientError      = httpretry.ClientError
	failUnexpectedStatus = httpretry.Unexpected
	failEncode           = "encode"
)

const (
	headerTenant     = "X-Scope-OrgID"
	headerRetryAfter = "Retry-After"
	// Loki's error bodies are short; reading more only costs memory.
	maxResponseBody = 64 << 10
)

type lokiExporter struct {
	cfg       *Config
	set       exporter.Settings
	conv      *converter
	telemetry *metadata.TelemetryBuilder
	now       func() time.Time
	userAgent string

	client *http.Client

	// bound cuts sends short once shutdown has lasted shutdown_timeout;
	// cutShortAttr says what becomes of the data then.
	bound        *shutdownbound.Bound
	cutShortAttr metric.MeasurementOption
}

func newExporter(cfg *Config, set exporter.Settings, now func() time.Time) (*lokiExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	bound := shutdownbound.New(cfg.ShutdownTimeout, set.Logger,
		shutdownbound.Outcome(cfg.QueueConfig.HasValue(), cfg.QueueConfig.HasValue() && cfg.QueueConfig.Get().StorageID != nil, cfg.RetryConfig.Enabled),
		"log_records")
	return &lokiExporter{
		cfg:          cfg,
		set:          set,
		conv:         newConverter(cfg, now),
		telemetry:    tb,
		now:          now,
		userAgent:    fmt.Sprintf("%s/%s", set.BuildInfo.Description, set.BuildInfo.Version),
		bound:        bound,
		cutShortAttr: metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", bound.Outcome()))),
	}, nil
}

func (e *lokiExporter) start(ctx context.Context, host component.Host) error {
	client, err := e.cfg.ClientConfig.ToClient(ctx, host.GetExtensions(), e.set.TelemetrySettings)
	if err != nil {
		return err
	}
	e.client = client
	e.bound.Start()
	return nil
}

func (e *lokiExporter) shutdown(context.Context) error {
	if e.client != nil {
		e.client.CloseIdleConnections()
	}
	e.telemetry.Shutdown()
	return nil
}

func reasonAttr(reason string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reason)))
}

func (e *lokiExporter) recordStats(ctx context.Context, st *convertStats) {
	for r, n := range st.dropped {
		e.telemetry.ExporterLokiEntriesDropped.Add(ctx, n, reasonAttr(r))
	}
	for r, n := range st.demoted {
		e.telemetry.ExporterLokiLabelsDemoted.Add(ctx, n, reasonAttr(r))
	}
	if st.truncated > 0 {
		e.telemetry.ExporterLokiLinesTruncated.Add(ctx, st.truncated)
	}
	if st.smTruncated > 0 {
		e.telemetry.ExporterLokiStructuredMetadataTruncated.Add(ctx, st.smTruncated)
	}
}

// pushLogs sends one request per tenant, in order. When a tenant fails with
// a retryable error, only that tenant and the ones not yet attempted are
// handed back for retry, so tenants already accepted are not sent twice.
func (e *lokiExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	if e.client == nil {
		return errors.New("loki exporter not started")
	}
	if e.bound.Reached() {
		e.cutShort(ctx, ld.LogRecordCount())
		return shutdownbound.Err(nil)
	}
	ctx, done := e.bound.Context(ctx)
	defer done()

	var global convertStats
	batches := e.conv.convert(ld, &global)
	defer func() {
		for _, tb := range batches {
			tb.release()
		}
	}()
	e.recordStats(ctx, &global)

	var permanent []error
	for i, tb := range batches {
		if tb.entries == 0 {
			// Everything was dropped client-side: nothing to retry.
			e.recordStats(ctx, &tb.stats)
			continue
		}
		err := e.send(ctx, tb)
		if errors.Is(err, shutdownbound.ErrCutShort) {
			// The tenants not sent yet are cut short too. With a persistent
			// queue the whole request stays queued.
			var n int
			for _, rest := range batches[i:] {
				for _, ri := range rest.resources {
					n += countRecords(ld.ResourceLogs().At(ri))
				}
			}
			e.cutShort(ctx, n)
			return err
		}
		if err == nil || consumererror.IsPermanent(err) {
			// Demotions and drops are counted once the outcome is final,
			// so retries of the same data do not count them twice.
			e.recordStats(ctx, &tb.stats)
			if err != nil {
				permanent = append(permanent, err)
			}
			continue
		}
		if len(batches) == 1 {
			return err
		}
		retry := plog.NewLogs()
		for _, rest := range batches[i:] {
			for _, ri := range rest.resources {
				ld.ResourceLogs().At(ri).CopyTo(retry.ResourceLogs().AppendEmpty())
			}
		}
		return consumererror.NewLogs(err, retry)
	}
	if len(permanent) > 0 {
		return consumererror.NewPermanent(errors.Join(permanent...))
	}
	return nil
}

func (e *lokiExporter) send(ctx context.Context, tb *tenantBatch) error {
	enc, err := encode(tb, e.cfg.Format)
	if err != nil {
		e.telemetry.ExporterLokiRequestsFailed.Add(ctx, 1, reasonAttr(failEncode))
		e.telemetry.ExporterLokiEntriesDropped.Add(ctx, int64(tb.entries), reasonAttr(failEncode))
		return consumererror.NewPermanent(err)
	}
	defer enc.release()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.ClientConfig.Endpoint, bytes.NewReader(enc.body))
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	req.Header.Set("Content-Type", enc.contentType)
	req.Header.Set("User-Agent", e.userAgent)
	if tb.tenant != "" {
		req.Header.Set(headerTenant, tb.tenant)
	}

	resp, err := e.client.Do(req)
	if err != nil && errors.Is(context.Cause(ctx), shutdownbound.ErrCutShort) {
		return shutdownbound.Err(err)
	}
	if err != nil {
		e.telemetry.ExporterLokiRequestsFailed.Add(ctx, 1, reasonAttr(failConnection))
		// Connection errors are transient: retryable.
		return fmt.Errorf("push to Loki: %w", err)
	}
	body := readBody(resp)

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		e.telemetry.ExporterLokiEntriesSent.Add(ctx, int64(tb.entries))
		e.telemetry.ExporterLokiBytesSent.Add(ctx, int64(len(enc.body)))
		e.telemetry.ExporterLokiStreamsPerRequest.Record(ctx, int64(len(tb.streams)))
		return nil
	}

	res := classify(resp.StatusCode, resp.Header, body, e.now())
	e.telemetry.ExporterLokiRequestsFailed.Add(ctx, 1, reasonAttr(res.reason))
	if res.permanent {
		rejected := int64(tb.entries)
		if res.ignored > 0 && res.ignored < tb.entries {
			// Loki stored the rest of the request.
			rejected = int64(res.ignored)
			e.telemetry.ExporterLokiEntriesSent.Add(ctx, int64(tb.entries-res.ignored))
			e.telemetry.ExporterLokiEntriesDropped.Add(ctx, rejected, reasonAttr(dropPartial))
		} else {
			e.telemetry.ExporterLokiEntriesDropped.Add(ctx, rejected, reasonAttr(dropRejected))
		}
	}
	return res.err
}

func (e *lokiExporter) cutShort(ctx context.Context, n int) {
	e.telemetry.ExporterLokiLogRecordsCutShort.Add(ctx, int64(n), e.cutShortAttr)
	e.bound.CutShort(int64(n))
}

func countRecords(rl plog.ResourceLogs) int {
	n := 0
	for i := 0; i < rl.ScopeLogs().Len(); i++ {
		n += rl.ScopeLogs().At(i).LogRecords().Len()
	}
	return n
}

// readBody reads what is needed of an error body, then drains and closes
// it so the connection can be reused.
func readBody(resp *http.Response) []byte {
	defer resp.Body.Close()
	var body []byte
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		body, _ = io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
	return body
}

// outcome is the classification of a non-2xx response.
type outcome struct {
	err       error
	reason    string
	permanent bool
	throttled bool          // a Retry-After was honoured
	delay     time.Duration // from Retry-After
	ignored   int           // entries Loki reported as ignored
}

var ignoredRE = regexp.MustCompile(`total ignored: (\d+) out of (\d+)`)

// classify maps a Loki response to a retryable, throttled or permanent error with Sieve's one
// HTTP retry rule (httpretry), and reads Loki's 400 body for the entries it ignored.
func classify(status int, header http.Header, body []byte, now time.Time) outcome {
	msg := string(bytes.TrimSpace(body))
	if len(msg) > 1024 {
		msg = msg[:1024] + "..."
	}
	base := fmt.Errorf("loki responded %d %s: %s", status, http.StatusText(status), msg)
	r := httpretry.Classify(status, header, now, base)
	o := outcome{err: r.Err, reason: r.Reason, permanent: r.Permanent, throttled: r.Throttled, delay: r.Delay}
	if status == http.StatusBadRequest {
		o.reason = failBadRequest
		ignored, total := 0, 0
		for _, m := range ignoredRE.FindAllSubmatch(body, -1) {
			n, _ := strconv.Atoi(string(m[1]))
			t, _ := strconv.Atoi(string(m[2]))
			ignored += n
			total += t
		}
		if ignored > 0 {
			o.ignored = ignored
			if ignored < total {
				o.reason = failPartial
			}
		}
	}
	return o
}
