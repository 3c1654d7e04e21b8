package prometheusremotewrite

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/otlptranslator"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func fmtValue(v float64) string {
	switch {
	case isStaleNaN(v):
		return "StaleNaN"
	case math.IsNaN(v):
		if math.Float64bits(v) != math.Float64bits(normalNaN) {
			return "NaN(non-canonical)"
		}
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func fmtSpans(ss []prompb.BucketSpan) string {
	var parts []string
	for _, s := range ss {
		parts = append(parts, fmt.Sprintf("%d:%d", s.Offset, s.Length))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// renderSeries prints series in a stable, reviewable text form.
func renderSeries(ss []prompb.TimeSeries, types map[string]string) string {
	var lines []string
	for _, s := range ss {
		key := labelString(s.Labels)
		prefix := key
		if types != nil {
			prefix = types[key] + " " + key
		}
		for _, smp := range s.Samples {
			lines = append(lines, fmt.Sprintf("%s %s @%d", prefix, fmtValue(smp.Value), smp.Timestamp))
		}
		for _, h := range s.Histograms {
			lines = append(lines, fmt.Sprintf("%s native schema=%d count=%d sum=%s zero=%d/%s pos=%s%v neg=%s%v reset=%s @%d",
				prefix, h.Schema, h.GetCountInt(), fmtValue(h.Sum), h.GetZeroCountInt(), fmtValue(h.ZeroThreshold),
				fmtSpans(h.PositiveSpans), h.PositiveDeltas, fmtSpans(h.NegativeSpans), h.NegativeDeltas, h.ResetHint, h.Timestamp))
		}
		for _, ex := range s.Exemplars {
			lines = append(lines, fmt.Sprintf("%s exemplar%s %s @%d", prefix, labelString(ex.Labels), fmtValue(ex.Value), ex.Timestamp))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

func batchSeries(b *batch) ([]prompb.TimeSeries, map[string]string) {
	var out []prompb.TimeSeries
	types := map[string]string{}
	for _, s := range b.all() {
		out = append(out, prompb.TimeSeries{Labels: promLabels(s.labels), Samples: promSamples(s.samples), Histograms: s.histograms, Exemplars: s.exemplars})
		types[labelString(promLabels(s.labels))] = strings.ToLower(strings.TrimPrefix(s.mtype.String(), "METRIC_TYPE_"))
	}
	return out, types
}

func goldenCases() map[string]func() pmetric.Metrics {
	return map[string]func() pmetric.Metrics{
		"gauges": func() pmetric.Metrics {
			md := pmetric.NewMetrics()
			sm := newResource(md, "checkout", "pod-1")
			addGauge(sm, "process.cpu.utilization", 0.25, tsAt(1), "http.method", "GET", "0bad", "x", "_private", "y")
			m := sm.Metrics().At(0)
			m.SetUnit("1")
			im := sm.Metrics().AppendEmpty()
			im.SetName("queue-depth")
			im.SetUnit("{item}")
			dp := im.SetEmptyGauge().DataPoints().AppendEmpty()
			dp.SetIntValue(42)
			dp.SetTimestamp(tsAt(2))
			return md
		},
		"sums": func() pmetric.Metrics {
			md := pmetric.NewMetrics()
			sm := newResource(md, "checkout", "pod-1")
			c := sm.Metrics().AppendEmpty()
			c.SetName("http.server.request.duration.total")
			c.SetUnit("s")
			s := c.SetEmptySum()
			s.SetIsMonotonic(true)
			s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			dp := s.DataPoints().AppendEmpty()
			dp.SetDoubleValue(12.5)
			dp.SetTimestamp(tsAt(1))
			dp.Attributes().PutStr("route", "/cart")
			g := sm.Metrics().AppendEmpty()
			g.SetName("memory.in_use")
			g.SetUnit("By")
			us := g.SetEmptySum()
			us.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			udp := us.DataPoints().AppendEmpty()
			udp.SetIntValue(1024)
			udp.SetTimestamp(tsAt(1))
			r := sm.Metrics().AppendEmpty()
			r.SetName("network.io")
			r.SetUnit("By/s")
			rs := r.SetEmptySum()
			rs.SetIsMonotonic(true)
			rs.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			rdp := rs.DataPoints().AppendEmpty()
			rdp.SetIntValue(7)
			rdp.SetTimestamp(tsAt(3))
			return md
		},
		"classic_histogram": func() pmetric.Metrics {
			md := pmetric.NewMetrics()
			sm := newResource(md, "checkout", "pod-1")
			m := sm.Metrics().AppendEmpty()
			m.SetName("rpc.duration")
			m.SetUnit("ms")
			h := m.SetEmptyHistogram()
			h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			dp := h.DataPoints().AppendEmpty()
			dp.SetTimestamp(tsAt(5))
			dp.ExplicitBounds().FromRaw([]float64{0.5, 10, 100})
			dp.BucketCounts().FromRaw([]uint64{1, 2, 3, 4})
			dp.SetCount(10)
			dp.SetSum(1234.5)
			dp.Attributes().PutStr("method", "Get")
			ex := dp.Exemplars().AppendEmpty()
			ex.SetDoubleValue(7.5)
			ex.SetTimestamp(tsAt(4))
			ex.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
			ex.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
			ex2 := dp.Exemplars().AppendEmpty()
			ex2.SetIntValue(500)
			ex2.SetTimestamp(tsAt(4))
			ex2.FilteredAttributes().PutStr("user", "u1")
			return md
		},
		"native_histogram": func() pmetric.Metrics {
			md := pmetric.NewMetrics()
			sm := newResource(md, "checkout", "pod-1")
			m := sm.Metrics().AppendEmpty()
			m.SetName("rpc.latency")
			m.SetUnit("s")
			eh := m.SetEmptyExponentialHistogram()
			eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			dp := eh.DataPoints().AppendEmpty()
			dp.SetTimestamp(tsAt(5))
			dp.SetStartTimestamp(tsAt(0))
			dp.SetScale(2)
			dp.SetCount(16)
			dp.SetSum(42.5)
			dp.SetZeroCount(1)
			dp.SetZeroThreshold(1e-9)
			dp.Positive().SetOffset(-2)
			// A run of four empty buckets splits the spans; a run of two
			// stays inside one.
			dp.Positive().BucketCounts().FromRaw([]uint64{1, 0, 0, 2, 3, 0, 0, 0, 0, 4})
			dp.Negative().SetOffset(1)
			dp.Negative().BucketCounts().FromRaw([]uint64{2, 3})
			ex := dp.Exemplars().AppendEmpty()
			ex.SetDoubleValue(0.3)
			ex.SetTimestamp(tsAt(5))
			ex.SetTraceID(pcommon.TraceID{0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
			fine := eh.DataPoints().AppendEmpty()
			fine.SetTimestamp(tsAt(5))
			fine.Attributes().PutStr("precision", "fine")
			fine.SetScale(10)
			fine.SetCount(6)
			fine.SetSum(6)
			fine.Positive().SetOffset(1023)
			// Indexes 1023..1026 at scale 10 become 255 (1) and 256 (1+2+2)
			// at scale 8, i.e. Prometheus buckets 256 and 257.
			fine.Positive().BucketCounts().FromRaw([]uint64{1, 1, 2, 2})
			return md
		},
		"summary": func() pmetric.Metrics {
			md := pmetric.NewMetrics()
			sm := newResource(md, "checkout", "")
			m := sm.Metrics().AppendEmpty()
			m.SetName("gc.pause")
			m.SetUnit("s")
			dp := m.SetEmptySummary().DataPoints().AppendEmpty()
			dp.SetTimestamp(tsAt(9))
			dp.SetCount(3)
			dp.SetSum(0.75)
			q := dp.QuantileValues().AppendEmpty()
			q.SetQuantile(0.5)
			q.SetValue(0.2)
			q = dp.QuantileValues().AppendEmpty()
			q.SetQuantile(0.99)
			q.SetValue(0.4)
			return md
		},
		"special_values": func() pmetric.Metrics {
			md := pmetric.NewMetrics()
			sm := newResource(md, "checkout", "pod-1")
			addGauge(sm, "temp", math.NaN(), tsAt(1), "k", "nan")
			addGauge(sm, "temp", math.Inf(1), tsAt(1), "k", "pinf")
			addGauge(sm, "temp", math.Inf(-1), tsAt(1), "k", "ninf")
			addGauge(sm, "temp", 3, tsAt(2), "k", "gone").SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
			// Out of order within one batch, and a duplicate timestamp
			// whose later value wins.
			addGauge(sm, "temp", 2, tsAt(3), "k", "seq")
			addGauge(sm, "temp", 1, tsAt(1), "k", "seq")
			addGauge(sm, "temp", 5, tsAt(3), "k", "seq")
			return md
		},
		"resource_and_labels": func() pmetric.Metrics {
			md := pmetric.NewMetrics()
			rm := md.ResourceMetrics().AppendEmpty()
			rm.Resource().Attributes().PutStr("service.name", "cart")
			rm.Resource().Attributes().PutStr("service.namespace", "shop")
			rm.Resource().Attributes().PutStr("service.instance.id", "i-1")
			rm.Resource().Attributes().PutStr("k8s.pod.name", "cart-7f")
			rm.Resource().Attributes().PutInt("host.cpus", 8)
			sm := rm.ScopeMetrics().AppendEmpty()
			dp := addGauge(sm, "up.time", 1, tsAt(4), "a.b", "x", "a_b", "y", "job", "spoofed", "cluster", "from-data")
			dp.Attributes().PutStr("empty", "")
			return md
		},
	}
}

func TestTranslateGolden(t *testing.T) {
	for name, build := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			if name == "resource_and_labels" {
				cfg.Namespace = "shop"
				cfg.ExternalLabels = map[string]string{"cluster": "eu-1"}
			}
			b := newBatch()
			newTranslator(cfg).translate(build(), b)
			b.finish()
			got := renderSeries(batchSeries(b))
			path := filepath.Join("testdata", "golden", name+".txt")
			if *updateGolden {
				require.NoError(t, os.WriteFile(path, []byte(got), 0o600))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, string(want), got)
		})
	}
}

func TestMetricName(t *testing.T) {
	mk := func(name, unit string, typ pmetric.MetricType, monotonic bool) pmetric.Metric {
		m := pmetric.NewMetric()
		m.SetName(name)
		m.SetUnit(unit)
		switch typ {
		case pmetric.MetricTypeGauge:
			m.SetEmptyGauge()
		case pmetric.MetricTypeSum:
			m.SetEmptySum().SetIsMonotonic(monotonic)
		case pmetric.MetricTypeHistogram:
			m.SetEmptyHistogram()
		}
		return m
	}
	tests := []struct {
		name, unit string
		typ        pmetric.MetricType
		monotonic  bool
		namespace  string
		suffixes   bool
		want       string
	}{
		{"http.server.duration", "s", pmetric.MetricTypeHistogram, false, "", true, "http_server_duration_seconds"},
		{"requests", "1", pmetric.MetricTypeSum, true, "", true, "requests_total"},
		{"requests.total", "{request}", pmetric.MetricTypeSum, true, "", true, "requests_total"},
		{"total.requests", "", pmetric.MetricTypeSum, true, "", true, "requests_total"},
		{"cpu.utilization", "1", pmetric.MetricTypeGauge, false, "", true, "cpu_utilization_ratio"},
		{"disk.io", "By/s", pmetric.MetricTypeSum, true, "", true, "disk_io_bytes_per_second_total"},
		{"latency_seconds", "s", pmetric.MetricTypeGauge, false, "", true, "latency_seconds"},
		{"mem", "MiBy", pmetric.MetricTypeGauge, false, "", true, "mem_mebibytes"},
		{"weird unit", "foo", pmetric.MetricTypeGauge, false, "", true, "weird_unit_foo"},
		{"2xx.count", "", pmetric.MetricTypeGauge, false, "", true, "_2xx_count"},
		{"requests", "s", pmetric.MetricTypeSum, true, "", false, "requests"},
		{"up", "", pmetric.MetricTypeGauge, false, "sieve", true, "sieve_up"},
		{"ünïcode-name", "", pmetric.MetricTypeGauge, false, "", true, "n_code_name"},
		{"...", "", pmetric.MetricTypeGauge, false, "", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.unit, func(t *testing.T) {
			cfg := &Config{Namespace: tt.namespace, AddMetricSuffixes: tt.suffixes}
			namer := otlptranslator.NewMetricNamer(cfg.Namespace, strategy(cfg))
			got := metricName(&namer, mk(tt.name, tt.unit, tt.typ, tt.monotonic))
			require.Equal(t, tt.want, got)
			if got != "" {
				require.True(t, validMetricName(got), got)
			}
		})
	}
}

func TestLabelName(t *testing.T) {
	tests := map[string]string{
		"http.method":  "http_method",
		"service_name": "service_name",
		"0day":         "key_0day",
		"_hidden":      "key_hidden",
		"__name__":     "key__name__",
		"a:b":          "a_b",
		"ü":            "key_",
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			got := labelName(&otlptranslator.LabelNamer{}, in)
			require.Equal(t, want, got)
			require.True(t, validLabelName(got) && !strings.HasPrefix(got, "__"), got)
		})
	}
}

func TestTranslateDropsAreCounted(t *testing.T) {
	md := pmetric.NewMetrics()
	sm := newResource(md, "svc", "")
	bad := sm.Metrics().AppendEmpty()
	bad.SetName("broken.histogram")
	dp := bad.SetEmptyHistogram().DataPoints().AppendEmpty()
	dp.ExplicitBounds().FromRaw([]float64{1, 2})
	dp.BucketCounts().FromRaw([]uint64{1})
	coarse := sm.Metrics().AppendEmpty()
	coarse.SetName("too.coarse")
	coarse.SetEmptyExponentialHistogram().DataPoints().AppendEmpty().SetScale(-5)
	noname := sm.Metrics().AppendEmpty()
	noname.SetName("...")
	noname.SetEmptyGauge().DataPoints().AppendEmpty()
	empty := sm.Metrics().AppendEmpty()
	empty.SetName("empty.type")

	b := newBatch()
	newTranslator(createDefaultConfig().(*Config)).translate(md, b)
	require.Equal(t, map[string]int64{
		reasonInvalidHistogram: 1,
		reasonUnsupportedScale: 1,
		reasonEmptyName:        1,
	}, b.dropped)
	require.Zero(t, b.n, "no series may come out of invalid points")
}

func TestExemplarPlacement(t *testing.T) {
	tests := []struct {
		name      string
		value     float64
		attrs     map[string]string
		wantLE    string
		wantDrops int64
	}{
		{name: "first bucket", value: 0.5, wantLE: "1"},
		{name: "upper bound is inclusive", value: 1, wantLE: "1"},
		{name: "middle bucket", value: 1.5, wantLE: "2"},
		{name: "overflow", value: 3, wantLE: "+Inf"},
		{name: "minus infinity", value: math.Inf(-1), wantLE: "1"},
		{name: "NaN", value: math.NaN(), wantLE: "+Inf"},
		{name: "labels too long", value: 0.5, attrs: map[string]string{"user": strings.Repeat("x", 120)}, wantDrops: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := pmetric.NewMetrics()
			m := newResource(md, "svc", "").Metrics().AppendEmpty()
			m.SetName("h")
			dp := m.SetEmptyHistogram().DataPoints().AppendEmpty()
			dp.ExplicitBounds().FromRaw([]float64{1, 2})
			dp.BucketCounts().FromRaw([]uint64{1, 1, 1})
			dp.SetCount(3)
			ex := dp.Exemplars().AppendEmpty()
			ex.SetDoubleValue(tt.value)
			ex.SetTraceID(pcommon.TraceID{1})
			for k, v := range tt.attrs {
				ex.FilteredAttributes().PutStr(k, v)
			}
			b := newBatch()
			newTranslator(createDefaultConfig().(*Config)).translate(md, b)
			var got []string
			for _, s := range b.all() {
				for range s.exemplars {
					for _, l := range s.labels {
						if l.Name == "le" {
							got = append(got, l.Value)
						}
					}
				}
			}
			require.Equal(t, tt.wantDrops, b.dropped[reasonExemplarTooLong])
			if tt.wantDrops > 0 {
				require.Empty(t, got)
				return
			}
			require.Equal(t, []string{tt.wantLE}, got)
		})
	}
}

// translation_strategy selects otlptranslator's strategy, for metric and label names alike;
// unset, add_metric_suffixes chooses between the two escaping ones.
func TestTranslationStrategies(t *testing.T) {
	m := pmetric.NewMetric()
	m.SetName("http.server.duration")
	m.SetUnit("s")
	m.SetEmptyHistogram()
	for _, tt := range []struct {
		strategy    string
		suffixes    bool
		name, label string
	}{
		{"", true, "http_server_duration_seconds", "http_method"},
		{"", false, "http_server_duration", "http_method"},
		{"UnderscoreEscapingWithSuffixes", false, "http_server_duration_seconds", "http_method"},
		{"UnderscoreEscapingWithoutSuffixes", true, "http_server_duration", "http_method"},
		{"NoUTF8EscapingWithSuffixes", true, "http.server.duration_seconds", "http.method"},
		{"NoTranslation", true, "http.server.duration", "http.method"},
	} {
		t.Run(tt.strategy, func(t *testing.T) {
			tr := newTranslator(&Config{TranslationStrategy: tt.strategy, AddMetricSuffixes: tt.suffixes})
			require.Equal(t, tt.name, tr.familyNames(m).base)
			require.Equal(t, tt.label, tr.labelName("http.method"))
			got := tr.labelName("__reserved")
			require.True(t, strings.HasPrefix(got, "key_") && !strings.HasPrefix(got, "__"), "reserved names never come from data: %q", got)
		})
	}
}
