package finehistogram

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sieveobs/sieve/connectors/finehistogram/internal/metadatatest"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

var epoch = time.Unix(1_700_000_000, 0).UTC()

// fakeClock is driven by the test; its ticker fires only when the test sends on tick.
type fakeClock struct {
	now  time.Time
	tick chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: epoch, tick: make(chan time.Time)} }

func (f *fakeClock) Now() time.Time { return f.now }

func (f *fakeClock) NewTicker(time.Duration) (<-chan time.Time, func()) { return f.tick, func() {} }

func (f *fakeClock) advance(d time.Duration) { f.now = f.now.Add(d) }

type testConnector struct {
	*fineHistogramConnector
	sink  *consumertest.MetricsSink
	clock *fakeClock
	tel   *componenttest.Telemetry
}

func newTestConnector(t *testing.T, mutate func(*Config)) *testConnector {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	sink := new(consumertest.MetricsSink)
	clk := newFakeClock()
	c, err := newConnector(metadatatest.NewSettings(tel), cfg, sink, clk)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Shutdown(context.Background())) })
	return &testConnector{fineHistogramConnector: c, sink: sink, clock: clk, tel: tel}
}

// flushNow emits at the current fake time and returns what was emitted by this flush (an empty
// Metrics when nothing was).
func (tc *testConnector) flushNow(t *testing.T) pmetric.Metrics {
	t.Helper()
	before := len(tc.sink.AllMetrics())
	tc.flush(context.Background())
	all := tc.sink.AllMetrics()
	if len(all) == before {
		return pmetric.NewMetrics()
	}
	require.Len(t, all, before+1)
	return all[before]
}

type spanSpec struct {
	svc        string
	name       string
	kind       ptrace.SpanKind
	status     ptrace.StatusCode
	dur        time.Duration
	attrs      map[string]any
	traceState string
	id         byte
}

func buildTraces(t *testing.T, specs ...spanSpec) ptrace.Traces {
	t.Helper()
	td := ptrace.NewTraces()
	bySvc := map[string]ptrace.SpanSlice{}
	for _, s := range specs {
		spans, ok := bySvc[s.svc]
		if !ok {
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", s.svc)
			rs.Resource().Attributes().PutStr("deployment.environment.name", "prod")
			spans = rs.ScopeSpans().AppendEmpty().Spans()
			bySvc[s.svc] = spans
		}
		sp := spans.AppendEmpty()
		sp.SetName(s.name)
		sp.SetKind(s.kind)
		sp.Status().SetCode(s.status)
		start := pcommon.NewTimestampFromTime(epoch.Add(-time.Minute))
		sp.SetStartTimestamp(start)
		sp.SetEndTimestamp(start + pcommon.Timestamp(s.dur))
		sp.SetTraceID(pcommon.TraceID{0xaa, s.id})
		sp.SetSpanID(pcommon.SpanID{0xbb, s.id})
		sp.TraceState().FromRaw(s.traceState)
		require.NoError(t, sp.Attributes().FromRaw(s.attrs))
	}
	return td
}

type logSpec struct {
	svc   string
	attrs map[string]any
	id    byte
}

func buildLogs(t *testing.T, specs ...logSpec) plog.Logs {
	t.Helper()
	ld := plog.NewLogs()
	for _, s := range specs {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", s.svc)
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(epoch.Add(-time.Second)))
		if s.id != 0 {
			lr.SetTraceID(pcommon.TraceID{0xaa, s.id})
			lr.SetSpanID(pcommon.SpanID{0xbb, s.id})
		}
		require.NoError(t, lr.Attributes().FromRaw(s.attrs))
	}
	return ld
}

// requireGolden compares md with testdata/golden/<name>.json; -update rewrites the file, which
// is then reviewed like code.
func requireGolden(t *testing.T, name string, md pmetric.Metrics) {
	t.Helper()
	raw, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(md)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, json.Indent(&buf, raw, "", "  "))
	buf.WriteByte('\n')
	path := filepath.Join("testdata", "golden", name+".json")
	if *updateGolden {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run go test -run %s -update", t.Name())
	wantMD, err := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(want)
	require.NoError(t, err)
	require.Equal(t, wantMD, md, "output differs from %s", path)
}

// histPoints returns copies of the explicit histogram points of the named metric, across
// resources, in output order.
func histPoints(t *testing.T, md pmetric.Metrics, name string) pmetric.HistogramDataPointSlice {
	t.Helper()
	out := pmetric.NewHistogramDataPointSlice()
	ms := findMetrics(md, name)
	require.NotEmpty(t, ms, "metric %s not found", name)
	for _, m := range ms {
		require.Equal(t, pmetric.MetricTypeHistogram, m.Type())
		for i := 0; i < m.Histogram().DataPoints().Len(); i++ {
			m.Histogram().DataPoints().At(i).CopyTo(out.AppendEmpty())
		}
	}
	return out
}

func expoPoints(t *testing.T, md pmetric.Metrics, name string) pmetric.ExponentialHistogramDataPointSlice {
	t.Helper()
	out := pmetric.NewExponentialHistogramDataPointSlice()
	ms := findMetrics(md, name)
	require.NotEmpty(t, ms, "metric %s not found", name)
	for _, m := range ms {
		require.Equal(t, pmetric.MetricTypeExponentialHistogram, m.Type())
		for i := 0; i < m.ExponentialHistogram().DataPoints().Len(); i++ {
			m.ExponentialHistogram().DataPoints().At(i).CopyTo(out.AppendEmpty())
		}
	}
	return out
}

func findMetrics(md pmetric.Metrics, name string) []pmetric.Metric {
	var out []pmetric.Metric
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		sms := md.ResourceMetrics().At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				if ms.At(k).Name() == name {
					out = append(out, ms.At(k))
				}
			}
		}
	}
	return out
}

func lognormalValues(rng *rand.Rand, n int, median, sigma float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = median * math.Exp(sigma*rng.NormFloat64())
	}
	return out
}
