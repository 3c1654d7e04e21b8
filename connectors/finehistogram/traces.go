package finehistogram // import "github.com/sieveobs/sieve/connectors/finehistogram"

import (
	"context"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Dimension names of the span duration metric, as used by contrib spanmetrics so that
// dashboards work with either.
const (
	serviceNameKey = "service.name"
	spanNameKey    = "span.name"
	spanKindKey    = "span.kind"
	statusCodeKey  = "status.code"
)

func (c *fineHistogramConnector) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	return c.consume(ctx, entryTraces, func() ([]byte, error) { return tracesMarshaler.MarshalTraces(td) }, func() func() {
		st := c.recordTraces(td)
		return func() { c.report(ctx, c.cfg.Traces.MetricName, &st) }
	})
}

// recordTraces counts the spans of td; the caller holds mu.
func (c *fineHistogramConnector) recordTraces(td ptrace.Traces) batchStats {
	var st batchStats
	name := c.cfg.Traces.MetricName
	now := c.clock.Now()
	m := c.agg.metric(name)
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := rs.Resource().Attributes()
		svc := ""
		if v, ok := res.Get(serviceNameKey); ok {
			svc = v.AsString()
		}
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				c.consumeSpan(m, spans.At(k), res, svc, now, &st)
			}
		}
	}
	return st
}

// consumeSpan is the per-span hot path; it must not allocate once the series exists.
func (c *fineHistogramConnector) consumeSpan(m *metricAgg, span ptrace.Span, res pcommon.Map, svc string, now time.Time, st *batchStats) {
	start, end := span.StartTimestamp(), span.EndTimestamp()
	if end < start {
		st.drop(reasonInvalidValue)
		return
	}
	value := float64(end-start) / 1e9
	attrs := span.Attributes()

	key := c.keyBuf[:0]
	key = append(key, svc...)
	key = append(key, 0)
	key = append(key, span.Name()...)
	key = append(key, 0, byte(span.Kind()), byte(span.Status().Code()))
	key = appendDims(key, c.cfg.Dimensions, attrs, res)
	c.keyBuf = key

	s := m.lookup(key)
	if s == nil {
		var fresh, overflowed bool
		s, fresh, overflowed = c.agg.create(m, key, now)
		if fresh {
			s.attrs.PutStr(serviceNameKey, svc)
			s.attrs.PutStr(spanNameKey, span.Name())
			s.attrs.PutStr(spanKindKey, traceKindString(span.Kind()))
			s.attrs.PutStr(statusCodeKey, statusCodeString(span.Status().Code()))
			copyDims(s.attrs, c.cfg.Dimensions, attrs, res)
		}
		if overflowed {
			st.overflowed++
		}
	} else if s == m.overflow {
		st.overflowed++
	}
	c.agg.record(s, value, s.integerWeight(c.traceStateWeight(span.TraceState().AsRaw())), now)
	if s.exemplars != nil && c.exemplarCandidate(span.TraceID(), svc, span.Status().Code() == ptrace.StatusCodeError) {
		s.addExemplar(exemplar{value: value, ts: end, traceID: span.TraceID(), spanID: span.SpanID()})
	}
	st.observed++
}

func traceKindString(k ptrace.SpanKind) string {
	switch k {
	case ptrace.SpanKindServer:
		return "SPAN_KIND_SERVER"
	case ptrace.SpanKindClient:
		return "SPAN_KIND_CLIENT"
	case ptrace.SpanKindProducer:
		return "SPAN_KIND_PRODUCER"
	case ptrace.SpanKindConsumer:
		return "SPAN_KIND_CONSUMER"
	case ptrace.SpanKindInternal:
		return "SPAN_KIND_INTERNAL"
	default:
		return "SPAN_KIND_UNSPECIFIED"
	}
}

func statusCodeString(c ptrace.StatusCode) string {
	switch c {
	case ptrace.StatusCodeOk:
		return "STATUS_CODE_OK"
	case ptrace.StatusCodeError:
		return "STATUS_CODE_ERROR"
	default:
		return "STATUS_CODE_UNSET"
	}
}

// appendDims appends the configured dimension values to key. A type tag separates values so that
// the string "1" and the integer 1 never share a series.
func appendDims(key []byte, dims []string, attrs, res pcommon.Map) []byte {
	for _, d := range dims {
		v, ok := attrs.Get(d)
		if !ok {
			v, ok = res.Get(d)
		}
		if !ok {
			key = append(key, 0xff)
			continue
		}
		key = append(key, 0xfe, byte(v.Type()))
		switch v.Type() {
		case pcommon.ValueTypeStr:
			key = append(key, v.Str()...)
		case pcommon.ValueTypeInt:
			key = strconv.AppendInt(key, v.Int(), 10)
		case pcommon.ValueTypeBool:
			key = strconv.AppendBool(key, v.Bool())
		case pcommon.ValueTypeDouble:
			key = strconv.AppendFloat(key, v.Double(), 'g', -1, 64)
		default:
			key = append(key, v.AsString()...)
		}
		key = append(key, 0)
	}
	return key
}

func copyDims(dst pcommon.Map, dims []string, attrs, res pcommon.Map) {
	for _, d := range dims {
		v, ok := attrs.Get(d)
		if !ok {
			v, ok = res.Get(d)
		}
		if ok {
			v.CopyTo(dst.PutEmpty(d))
		}
	}
}
