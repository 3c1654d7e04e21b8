package finehistogram // import "github.com/sieveobs/sieve/connectors/finehistogram"

import (
	"context"
	"math"
	"sort"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// ConsumeMetrics merges delta histograms from agents into the gateway's series. Explicit
// histograms must carry the configured bounds; exponential ones are merged whatever their
// scale, the result being downscaled as needed to stay within max_size.
func (c *fineHistogramConnector) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	return c.consume(ctx, entryMetrics, func() ([]byte, error) { return metricsMarshaler.MarshalMetrics(md) }, func() func() {
		stats := c.recordMetrics(md)
		return func() {
			for name, st := range stats {
				c.report(ctx, name, st)
			}
		}
	})
}

// recordMetrics merges the histograms of md; the caller holds mu.
func (c *fineHistogramConnector) recordMetrics(md pmetric.Metrics) map[string]*batchStats {
	stats := map[string]*batchStats{}
	now := c.clock.Now()
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		res := rms.At(i).Resource().Attributes()
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				metric := ms.At(k)
				st, ok := stats[metric.Name()]
				if !ok {
					st = &batchStats{}
					stats[metric.Name()] = st
				}
				c.mergeMetric(metric, res, now, st)
			}
		}
	}
	return stats
}

func (c *fineHistogramConnector) mergeMetric(metric pmetric.Metric, res pcommon.Map, now time.Time, st *batchStats) {
	if _, known := c.agg.metrics[metric.Name()]; !known && len(c.agg.metrics) >= maxMergedMetrics {
		st.dropN(reasonTooManyMetrics, dataPointCount(metric))
		return
	}
	switch {
	case metric.Type() == pmetric.MetricTypeHistogram && c.agg.kind == KindExplicit:
		h := metric.Histogram()
		dps := h.DataPoints()
		if h.AggregationTemporality() != pmetric.AggregationTemporalityDelta {
			st.dropN(reasonNonDeltaInput, dps.Len())
			return
		}
		m := c.agg.mergedMetric(metric.Name())
		for i := 0; i < dps.Len(); i++ {
			dp := dps.At(i)
			if !sameBounds(dp.ExplicitBounds(), m.bounds) || dp.BucketCounts().Len() != len(m.bounds)+1 {
				st.drop(reasonBoundsMismatch)
				continue
			}
			if _, ok := boundedSum(dp.BucketCounts(), 0); !ok {
				st.drop(reasonInvalidValue)
				continue
			}
			s := c.mergeSeries(m, dp.Attributes(), res, now, st)
			if _, ok := boundedSum(dp.BucketCounts(), s.count); !ok {
				st.drop(reasonInvalidValue)
				continue
			}
			mergeStats(s, dp.Count(), dp.Sum(), dp.HasMin(), dp.Min(), dp.HasMax(), dp.Max(), now)
			for b := 0; b < dp.BucketCounts().Len(); b++ {
				s.buckets[b] += dp.BucketCounts().At(b)
			}
			mergeExemplars(s, dp.Exemplars())
			st.observed++
		}
	case metric.Type() == pmetric.MetricTypeExponentialHistogram && c.agg.kind == KindExponential:
		h := metric.ExponentialHistogram()
		dps := h.DataPoints()
		if h.AggregationTemporality() != pmetric.AggregationTemporalityDelta {
			st.dropN(reasonNonDeltaInput, dps.Len())
			return
		}
		m := c.agg.mergedMetric(metric.Name())
		for i := 0; i < dps.Len(); i++ {
			dp := dps.At(i)
			if dp.Negative().BucketCounts().Len() > 0 || dp.Scale() < minScale || dp.Scale() > maxScale || !midpointsFinite(dp) {
				// Latencies are never negative, and a scale or offset outside the mapping's range
				// cannot come from an OTLP producer; neither is merged.
				st.drop(reasonInvalidValue)
				continue
			}
			if _, ok := boundedSum(dp.Positive().BucketCounts(), dp.ZeroCount()); !ok {
				st.drop(reasonInvalidValue)
				continue
			}
			s := c.mergeSeries(m, dp.Attributes(), res, now, st)
			if _, ok := boundedSum(dp.Positive().BucketCounts(), dp.ZeroCount()+s.expo.Count()); !ok {
				// The exponential structure cannot hold more than 2^64 in a bucket.
				st.drop(reasonInvalidValue)
				continue
			}
			mergeStats(s, dp.Count(), dp.Sum(), dp.HasMin(), dp.Min(), dp.HasMax(), dp.Max(), now)
			mergeExponential(s, dp)
			mergeExemplars(s, dp.Exemplars())
			st.observed++
		}
	default:
		st.dropN(reasonUnsupportedType, dataPointCount(metric))
	}
}

func (b *batchStats) dropN(reason string, n int) {
	if n == 0 {
		return
	}
	if b.dropped == nil {
		b.dropped = map[string]int64{}
	}
	b.dropped[reason] += int64(n)
}

// mergeSeries finds or creates the series of an incoming data point. The key is built from the
// data point attributes in sorted order, so agents that order attributes differently still meet.
func (c *fineHistogramConnector) mergeSeries(m *metricAgg, attrs, res pcommon.Map, now time.Time, st *batchStats) *series {
	keys := make([]string, 0, attrs.Len())
	for k := range attrs.All() {
		// An agent's own instance attribute is replaced by this collector's at emission: the
		// merged series is this collector's, whichever agents fed it.
		if k == c.cfg.InstanceAttribute {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	key := c.keyBuf[:0]
	for _, k := range keys {
		v, _ := attrs.Get(k)
		key = append(key, k...)
		key = append(key, 0, byte(v.Type()))
		key = append(key, v.AsString()...)
		key = append(key, 0)
	}
	key = appendDims(key, c.cfg.Dimensions, pcommon.NewMap(), res)
	c.keyBuf = key
	s := m.lookup(key)
	if s == nil {
		var fresh, overflowed bool
		s, fresh, overflowed = c.agg.create(m, key, now)
		if fresh {
			attrs.CopyTo(s.attrs)
			if c.cfg.InstanceAttribute != "" {
				s.attrs.Remove(c.cfg.InstanceAttribute)
			}
			for _, d := range c.cfg.Dimensions {
				if _, ok := s.attrs.Get(d); ok {
					continue
				}
				if v, ok := res.Get(d); ok {
					v.CopyTo(s.attrs.PutEmpty(d))
				}
			}
		}
		if overflowed {
			st.overflowed++
		}
	} else if s == m.overflow {
		st.overflowed++
	}
	return s
}

func mergeStats(s *series, count uint64, sum float64, hasMin bool, minV float64, hasMax bool, maxV float64, now time.Time) {
	s.lastSeen = now
	empty := s.count == 0
	if hasMin && (empty || minV < s.min) {
		s.min = minV
	}
	if hasMax && (empty || maxV > s.max) {
		s.max = maxV
	}
	s.count += count
	s.sum += sum
}

// mergeExponential adds the incoming buckets by index. A series finer than the incoming point
// is first downscaled to its scale, so every incoming bucket lands in exactly one bucket of the
// series: the merge is exact whatever the two scales.
func mergeExponential(s *series, dp pmetric.ExponentialHistogramDataPoint) {
	if zc := dp.ZeroCount(); zc > 0 {
		s.expo.UpdateByIncr(0, zc)
	}
	s.expo.MergePositive(dp.Scale(), dp.Positive().Offset(), dp.Positive().BucketCounts().AsRaw())
}

// maxCount keeps merged totals far from uint64 overflow.
const maxCount = 1 << 62

// boundedSum adds counts to base and reports whether the total stays below maxCount.
func boundedSum(counts pcommon.UInt64Slice, base uint64) (uint64, bool) {
	total := base
	if total >= maxCount {
		return total, false
	}
	for i := 0; i < counts.Len(); i++ {
		n := counts.At(i)
		if n >= maxCount-total {
			return total, false
		}
		total += n
	}
	return total, true
}

func midpointsFinite(dp pmetric.ExponentialHistogramDataPoint) bool {
	n := dp.Positive().BucketCounts().Len()
	if n == 0 {
		return true
	}
	inv := math.Ldexp(1, -int(dp.Scale()))
	lo := math.Exp2((float64(dp.Positive().Offset()) + 0.5) * inv)
	hi := math.Exp2((float64(dp.Positive().Offset()) + float64(n) - 0.5) * inv)
	return lo > 0 && !math.IsInf(hi, 0) && hi <= math.MaxFloat64
}

func mergeExemplars(s *series, exs pmetric.ExemplarSlice) {
	for i := 0; i < exs.Len(); i++ {
		e := exs.At(i)
		v := e.DoubleValue()
		if e.ValueType() == pmetric.ExemplarValueTypeInt {
			v = float64(e.IntValue())
		}
		s.addExemplar(exemplar{value: v, ts: e.Timestamp(), traceID: e.TraceID(), spanID: e.SpanID()})
	}
}

func sameBounds(got pcommon.Float64Slice, want []float64) bool {
	if got.Len() != len(want) {
		return false
	}
	for i, b := range want {
		if got.At(i) != b {
			return false
		}
	}
	return true
}

func dataPointCount(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	default:
		return 0
	}
}
