package prometheusremotewrite

import (
	"slices"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/otlptranslator"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func fuzzSeeds(f *testing.F) {
	m := &pmetric.ProtoMarshaler{}
	for _, build := range goldenCases() {
		buf, err := m.MarshalMetrics(build())
		require.NoError(f, err)
		f.Add(buf)
	}
	md := deltaSum(tsAt(0), tsAt(1), 3, "x")
	buf, err := m.MarshalMetrics(md)
	require.NoError(f, err)
	f.Add(buf)
	// Delta exponential histograms of changing scale and far-apart
	// offsets exercise the bounded merge.
	md = pmetric.NewMetrics()
	eh := newResource(md, "svc", "").Metrics().AppendEmpty()
	eh.SetName("lat")
	h := eh.SetEmptyExponentialHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	for i, sc := range []int32{5, 2, 20} {
		dp := h.DataPoints().AppendEmpty()
		dp.SetTimestamp(tsAt(i + 1))
		dp.SetScale(sc)
		dp.Positive().SetOffset(int32(i) * 1_000_000_000)
		dp.Positive().BucketCounts().FromRaw([]uint64{1, 2, 3})
		dp.Negative().SetOffset(-5)
		dp.Negative().BucketCounts().FromRaw([]uint64{4})
		dp.SetCount(10)
	}
	buf, err = m.MarshalMetrics(md)
	require.NoError(f, err)
	f.Add(buf)
}

// checkSeries asserts the invariants every receiver relies on.
func checkSeries(t *testing.T, ss []prompb.TimeSeries) {
	for _, s := range ss {
		require.NotEmpty(t, s.Labels)
		hasName := false
		for i, l := range s.Labels {
			require.NotEmpty(t, l.Value, "empty label values must be dropped")
			if i > 0 {
				require.Less(t, s.Labels[i-1].Name, l.Name, "labels sorted and unique")
			}
			if l.Name == nameLabel {
				hasName = true
				require.True(t, validMetricName(l.Value), l.Value)
			} else {
				require.True(t, validLabelName(l.Name), l.Name)
			}
		}
		require.True(t, hasName)
		for i := 1; i < len(s.Samples); i++ {
			require.Less(t, s.Samples[i-1].Timestamp, s.Samples[i].Timestamp)
		}
		for i := 1; i < len(s.Histograms); i++ {
			require.Less(t, s.Histograms[i-1].Timestamp, s.Histograms[i].Timestamp)
		}
		for _, h := range s.Histograms {
			require.GreaterOrEqual(t, h.Schema, int32(minNativeSchema))
			require.LessOrEqual(t, h.Schema, int32(maxNativeSchema))
			var n uint32
			for _, sp := range h.PositiveSpans {
				n += sp.Length
			}
			require.Len(t, h.PositiveDeltas, int(n))
			n = 0
			for _, sp := range h.NegativeSpans {
				n += sp.Length
			}
			require.Len(t, h.NegativeDeltas, int(n))
		}
	}
}

// FuzzTranslate feeds arbitrary OTLP into delta conversion, translation and
// both encodings, and checks that what comes out decodes to valid series.
func FuzzTranslate(f *testing.F) {
	fuzzSeeds(f)
	u := &pmetric.ProtoUnmarshaler{}
	cfg := createDefaultConfig().(*Config)
	f.Fuzz(func(t *testing.T, data []byte) {
		md, err := u.UnmarshalMetrics(data)
		if err != nil {
			return
		}
		d := newDeltaToCumulative(cfg.DeltaToCumulative, time.Now, func(string) {})
		d.convert(md)
		b := newBatch()
		newTranslator(cfg).translate(md, b)
		b.finish()
		var ptrs []*series
		for i := range b.all() {
			ptrs = append(ptrs, &b.series[i])
		}
		enc := newEncoder()

		body, err := enc.encodeV1(ptrs)
		require.NoError(t, err)
		raw, err := snappy.Decode(nil, body)
		require.NoError(t, err)
		var v1 prompb.WriteRequest
		require.NoError(t, v1.Unmarshal(raw))
		require.Len(t, v1.Timeseries, len(ptrs))
		checkSeries(t, v1.Timeseries)

		body, err = enc.encodeV2(ptrs)
		require.NoError(t, err)
		raw, err = snappy.Decode(nil, body)
		require.NoError(t, err)
		var v2 writev2.Request
		require.NoError(t, v2.Unmarshal(raw))
		got := fromV2(&v2)
		checkSeries(t, got)
		require.Equal(t, renderSeries(v1.Timeseries, nil), renderSeries(got, nil))
	})
}

// FuzzNames checks that any OpenTelemetry name and unit yield a valid
// Prometheus name (or none, which is counted as a drop).
func FuzzNames(f *testing.F) {
	f.Add("http.server.duration", "ms", true)
	f.Add("ünï…", "{x}/s", false)
	f.Add("0", "1", true)
	f.Fuzz(func(t *testing.T, name, unit string, counter bool) {
		m := pmetric.NewMetric()
		m.SetName(name)
		m.SetUnit(unit)
		if counter {
			m.SetEmptySum().SetIsMonotonic(true)
		} else {
			m.SetEmptyGauge()
		}
		namer := otlptranslator.NewMetricNamer("", otlptranslator.UnderscoreEscapingWithSuffixes)
		got := metricName(&namer, m)
		if got != "" {
			require.True(t, validMetricName(got), "%q -> %q", name, got)
		}
		if counter && got != "" {
			require.True(t, slices.Equal([]byte(got[max(len(got)-6, 0):]), []byte("_total")) || got == "total", got)
		}
		ln := labelName(&otlptranslator.LabelNamer{}, name)
		if ln != "" {
			require.True(t, validLabelName(ln), "%q -> %q", name, ln)
			require.False(t, len(ln) > 1 && ln[:2] == "__", ln)
		}
	})
}
