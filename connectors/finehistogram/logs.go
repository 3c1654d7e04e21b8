package finehistogram // import "github.com/sieveobs/sieve/connectors/finehistogram"

import (
	"context"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// thresholdAttr carries the consistent-probability threshold of a sampled log record.
const thresholdAttr = "sampling.threshold"

func (c *fineHistogramConnector) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	if len(c.cfg.Logs) == 0 {
		return nil
	}
	return c.consume(ctx, entryLogs, func() ([]byte, error) { return logsMarshaler.MarshalLogs(ld) }, func() func() {
		stats := c.recordLogs(ld)
		return func() {
			for n, l := range c.cfg.Logs {
				c.report(ctx, l.MetricName, &stats[n])
			}
		}
	})
}

// recordLogs counts the records of ld; the caller holds mu.
func (c *fineHistogramConnector) recordLogs(ld plog.Logs) []batchStats {
	stats := make([]batchStats, len(c.cfg.Logs))
	now := c.clock.Now()
	aggs := make([]*metricAgg, len(c.cfg.Logs))
	for i, l := range c.cfg.Logs {
		aggs[i] = c.agg.metric(l.MetricName)
	}
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource().Attributes()
		svc := ""
		if v, ok := res.Get(serviceNameKey); ok {
			svc = v.AsString()
		}
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			records := sls.At(j).LogRecords()
			for k := 0; k < records.Len(); k++ {
				lr := records.At(k)
				for n := range c.cfg.Logs {
					c.consumeLogRecord(n, aggs[n], lr, res, svc, now, &stats[n])
				}
			}
		}
	}
	return stats
}

func (c *fineHistogramConnector) consumeLogRecord(n int, m *metricAgg, lr plog.LogRecord, res pcommon.Map, svc string, now time.Time, st *batchStats) {
	attrs := lr.Attributes()
	raw, ok := attrs.Get(c.cfg.Logs[n].Attribute)
	if !ok {
		// Records without the field are not observations of this metric.
		return
	}
	value, ok := numericValue(raw)
	if !ok {
		st.drop(reasonInvalidValue)
		return
	}
	value *= c.unitScale[n]
	if !validDuration(value) {
		st.drop(reasonInvalidValue)
		return
	}
	key := c.keyBuf[:0]
	key = append(key, svc...)
	key = append(key, 0)
	key = appendDims(key, c.cfg.Dimensions, attrs, res)
	c.keyBuf = key

	s := m.lookup(key)
	if s == nil {
		var fresh, overflowed bool
		s, fresh, overflowed = c.agg.create(m, key, now)
		if fresh {
			s.attrs.PutStr(serviceNameKey, svc)
			copyDims(s.attrs, c.cfg.Dimensions, attrs, res)
		}
		if overflowed {
			st.overflowed++
		}
	} else if s == m.overflow {
		st.overflowed++
	}
	weight := 1.0
	if th, ok := attrs.Get(thresholdAttr); ok && th.Type() == pcommon.ValueTypeStr {
		weight = c.thresholdWeight(th.Str())
	}
	c.agg.record(s, value, s.integerWeight(weight), now)
	if s.exemplars != nil && !lr.TraceID().IsEmpty() && c.exemplarCandidate(lr.TraceID(), svc, false) {
		ts := lr.Timestamp()
		if ts == 0 {
			ts = lr.ObservedTimestamp()
		}
		s.addExemplar(exemplar{value: value, ts: ts, traceID: lr.TraceID(), spanID: lr.SpanID()})
	}
	st.observed++
}

func numericValue(v pcommon.Value) (float64, bool) {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return float64(v.Int()), true
	case pcommon.ValueTypeDouble:
		return v.Double(), true
	case pcommon.ValueTypeStr:
		f, err := strconv.ParseFloat(v.Str(), 64)
		return f, err == nil
	default:
		return 0, false
	}
}
