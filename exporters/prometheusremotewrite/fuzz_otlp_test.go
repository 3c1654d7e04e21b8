package prometheusremotewrite

import (
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
)

// sampleBound is the most samples a metric may become: one per number or native histogram
// point, every bucket plus +Inf, _sum and _count per classic histogram point, every quantile
// plus _sum and _count per summary point.
func sampleBound(m pmetric.Metric) int {
	n := 0
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		n = m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		n = m.Sum().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		n = m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		dps := m.Histogram().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			n += dps.At(i).ExplicitBounds().Len() + 3
		}
	case pmetric.MetricTypeSummary:
		dps := m.Summary().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			n += dps.At(i).QuantileValues().Len() + 2
		}
	}
	return n
}

// FuzzTranslateOTLP decodes arbitrary bytes the way the OTLP receivers do, in both encodings
// (FuzzTranslate covers protobuf only), then converts, translates and encodes them as the
// exporter does before sending: no panic, valid series in both remote-write versions, identical
// content in both, and output bounded by the input's data points.
func FuzzTranslateOTLP(f *testing.F) {
	fuzzSeeds(f)
	for _, build := range goldenCases() {
		js, err := pmetricotlp.NewExportRequestFromMetrics(build()).MarshalJSON()
		require.NoError(f, err)
		f.Add(js)
	}
	cfg := createDefaultConfig().(*Config)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, decode := range []func(pmetricotlp.ExportRequest) error{
			func(r pmetricotlp.ExportRequest) error { return r.UnmarshalProto(data) },
			func(r pmetricotlp.ExportRequest) error { return r.UnmarshalJSON(data) },
		} {
			req := pmetricotlp.NewExportRequest()
			if decode(req) != nil {
				continue
			}
			md := req.Metrics()
			d := newDeltaToCumulative(cfg.DeltaToCumulative, time.Now, func(string) {})
			d.convert(md)
			b := newBatch()
			newTranslator(cfg).translate(md, b)
			b.finish()
			var ptrs []*series
			samples := 0
			for i := range b.all() {
				ptrs = append(ptrs, &b.series[i])
				samples += len(b.series[i].samples) + len(b.series[i].histograms)
			}
			bound := 0
			rms := md.ResourceMetrics()
			for i := 0; i < rms.Len(); i++ {
				sms := rms.At(i).ScopeMetrics()
				for j := 0; j < sms.Len(); j++ {
					ms := sms.At(j).Metrics()
					for k := 0; k < ms.Len(); k++ {
						bound += sampleBound(ms.At(k))
					}
				}
			}
			// One target_info sample per resource comes on top of the data points.
			require.LessOrEqual(t, samples, bound+rms.Len(), "output not bounded by the input")

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
		}
	})
}
