package prometheusremotewrite // import "github.com/sieveobs/sieve/exporters/prometheusremotewrite"

import (
	"go.opentelemetry.io/collector/pdata/pmetric"
)

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
		var base []label
		if job != "" {
			base = append(base, label{Name: jobLabel, Value: job})
		}
		if instance != "" {
			base = append(base, label{Name: instanceLabel, Value: instance})
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
