package prometheusremotewrite

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// received is one decoded request as the fake receiver saw it, with v2
// requests turned back into label sets so tests can treat both alike.
type received struct {
	header http.Header
	v2     bool
	series []prompb.TimeSeries
}

// fakeReceiver is a remote-write endpoint whose answers a test scripts.
type fakeReceiver struct {
	t  testing.TB
	mu sync.Mutex
	// respond decides the answer to a request; nil means 204 with the 2.0
	// written-count headers for 2.0 requests.
	respond func(r *received) (int, http.Header)
	reqs    []*received
	srv     *httptest.Server
}

func newFakeReceiver(t testing.TB) *fakeReceiver {
	f := &fakeReceiver{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(f.handle))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeReceiver) url() string { return f.srv.URL + "/api/v1/write" }

func (f *fakeReceiver) handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rec := &received{header: r.Header.Clone(), v2: strings.Contains(r.Header.Get("Content-Type"), "write.v2")}
	if rec.v2 {
		var req writev2.Request
		if err := req.Unmarshal(raw); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		rec.series = fromV2(&req)
	} else {
		var req prompb.WriteRequest
		if err := req.Unmarshal(raw); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		rec.series = req.Timeseries
	}
	f.mu.Lock()
	respond := f.respond
	f.mu.Unlock()
	code, hdr := http.StatusNoContent, http.Header{}
	if respond != nil {
		code, hdr = respond(rec)
	} else if rec.v2 {
		hdr.Set(headerSamplesWritten, "1")
	}
	if code/100 == 2 {
		f.mu.Lock()
		f.reqs = append(f.reqs, rec)
		f.mu.Unlock()
	}
	for k, v := range hdr {
		w.Header()[k] = v
	}
	w.WriteHeader(code)
}

func (f *fakeReceiver) setRespond(fn func(r *received) (int, http.Header)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.respond = fn
}

func (f *fakeReceiver) accepted() []*received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*received(nil), f.reqs...)
}

func fromV2(req *writev2.Request) []prompb.TimeSeries {
	sym := req.Symbols
	refs := func(r []uint32) []prompb.Label {
		var ls []prompb.Label
		for i := 0; i+1 < len(r); i += 2 {
			ls = append(ls, prompb.Label{Name: sym[r[i]], Value: sym[r[i+1]]})
		}
		return ls
	}
	var out []prompb.TimeSeries
	for _, ts := range req.Timeseries {
		p := prompb.TimeSeries{Labels: refs(ts.LabelsRefs)}
		for _, s := range ts.Samples {
			p.Samples = append(p.Samples, prompb.Sample{Value: s.Value, Timestamp: s.Timestamp})
		}
		for _, h := range ts.Histograms {
			ph := prompb.Histogram{
				Sum: h.Sum, Schema: h.Schema, ZeroThreshold: h.ZeroThreshold,
				PositiveDeltas: h.PositiveDeltas, NegativeDeltas: h.NegativeDeltas, Timestamp: h.Timestamp,
			}
			if c, ok := h.Count.(*writev2.Histogram_CountInt); ok {
				ph.Count = &prompb.Histogram_CountInt{CountInt: c.CountInt}
			}
			if z, ok := h.ZeroCount.(*writev2.Histogram_ZeroCountInt); ok {
				ph.ZeroCount = &prompb.Histogram_ZeroCountInt{ZeroCountInt: z.ZeroCountInt}
			}
			for _, s := range h.PositiveSpans {
				ph.PositiveSpans = append(ph.PositiveSpans, prompb.BucketSpan{Offset: s.Offset, Length: s.Length})
			}
			for _, s := range h.NegativeSpans {
				ph.NegativeSpans = append(ph.NegativeSpans, prompb.BucketSpan{Offset: s.Offset, Length: s.Length})
			}
			p.Histograms = append(p.Histograms, ph)
		}
		for _, e := range ts.Exemplars {
			p.Exemplars = append(p.Exemplars, prompb.Exemplar{Labels: refs(e.LabelsRefs), Value: e.Value, Timestamp: e.Timestamp})
		}
		out = append(out, p)
	}
	return out
}

func promLabels(ls []label) []prompb.Label {
	out := make([]prompb.Label, len(ls))
	for i, l := range ls {
		out[i] = prompb.Label{Name: l.Name, Value: l.Value}
	}
	return out
}

func fromProm(ls []prompb.Label) []label {
	out := make([]label, len(ls))
	for i, l := range ls {
		out[i] = label{Name: l.Name, Value: l.Value}
	}
	return out
}

func promSamples(ss []sample) []prompb.Sample {
	if ss == nil {
		return nil
	}
	out := make([]prompb.Sample, len(ss))
	for i, s := range ss {
		out[i] = prompb.Sample{Value: s.Value, Timestamp: s.Timestamp}
	}
	return out
}

func labelString(ls []prompb.Label) string {
	var b strings.Builder
	name := ""
	var rest []string
	for _, l := range ls {
		if l.Name == nameLabel {
			name = l.Value
			continue
		}
		rest = append(rest, l.Name+"="+`"`+l.Value+`"`)
	}
	b.WriteString(name)
	b.WriteString("{")
	b.WriteString(strings.Join(rest, ","))
	b.WriteString("}")
	return b.String()
}

// testClock is an injected clock the tests advance by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Unix(1_700_000_000, 0)} }

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func testConfig(endpoint string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = endpoint
	cfg.RetryConfig.Enabled = false
	return cfg
}

// startRaw builds the exporter core without exporterhelper so tests see
// each push's error directly.
func startRaw(t testing.TB, cfg *Config, now func() time.Time) *prwExporter {
	t.Helper()
	e, err := newExporter(cfg, exportertest.NewNopSettings(component.MustNewType(typeStr)), now)
	require.NoError(t, err)
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, e.shutdown(context.Background())) })
	return e
}

const typeStr = "prometheus_remote_write"

var baseTime = pcommon.NewTimestampFromTime(time.Unix(1_700_000_000, 0))

func tsAt(sec int) pcommon.Timestamp {
	return baseTime + pcommon.Timestamp(int64(sec)*int64(time.Second))
}

// newResource appends a resource with service identity to md.
func newResource(md pmetric.Metrics, service, instance string) pmetric.ScopeMetrics {
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", service)
	if instance != "" {
		rm.Resource().Attributes().PutStr("service.instance.id", instance)
	}
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("sieve.test")
	return sm
}

func addGauge(sm pmetric.ScopeMetrics, name string, v float64, ts pcommon.Timestamp, attrs ...string) pmetric.NumberDataPoint {
	m := sm.Metrics().AppendEmpty()
	m.SetName(name)
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetDoubleValue(v)
	dp.SetTimestamp(ts)
	for i := 0; i+1 < len(attrs); i += 2 {
		dp.Attributes().PutStr(attrs[i], attrs[i+1])
	}
	return dp
}
