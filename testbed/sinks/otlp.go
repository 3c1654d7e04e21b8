package sinks

import (
	"context"
	"net/http"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/sieveobs/sieve/testbed/loadgen"
)

func idOf(attrs pcommon.Map, b *batch) {
	if v, ok := attrs.Get(loadgen.IDAttribute); ok {
		b.add(v.AsString())
		return
	}
	b.noID++
}

func countLogs(ld plog.Logs, c *Counter) {
	var b batch
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		sls := ld.ResourceLogs().At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				idOf(lrs.At(k).Attributes(), &b)
			}
		}
	}
	c.commit(&b)
}

func countTraces(td ptrace.Traces, c *Counter) {
	var b batch
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		sss := td.ResourceSpans().At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				idOf(spans.At(k).Attributes(), &b)
			}
		}
	}
	c.commit(&b)
}

func countMetrics(md pmetric.Metrics, c *Counter) {
	var b batch
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		sms := md.ResourceMetrics().At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					for p := 0; p < m.Gauge().DataPoints().Len(); p++ {
						idOf(m.Gauge().DataPoints().At(p).Attributes(), &b)
					}
				case pmetric.MetricTypeSum:
					for p := 0; p < m.Sum().DataPoints().Len(); p++ {
						idOf(m.Sum().DataPoints().At(p).Attributes(), &b)
					}
				case pmetric.MetricTypeHistogram:
					for p := 0; p < m.Histogram().DataPoints().Len(); p++ {
						idOf(m.Histogram().DataPoints().At(p).Attributes(), &b)
					}
				case pmetric.MetricTypeExponentialHistogram:
					for p := 0; p < m.ExponentialHistogram().DataPoints().Len(); p++ {
						idOf(m.ExponentialHistogram().DataPoints().At(p).Attributes(), &b)
					}
				case pmetric.MetricTypeSummary:
					for p := 0; p < m.Summary().DataPoints().Len(); p++ {
						idOf(m.Summary().DataPoints().At(p).Attributes(), &b)
					}
				}
			}
		}
	}
	c.commit(&b)
}

func isJSON(contentType string) bool { return strings.HasPrefix(contentType, "application/json") }

func (s *Sink) otlpLogs(c *Counter) decodeFunc {
	return func(_ http.Header, body []byte, ct string) error {
		req := plogotlp.NewExportRequest()
		var err error
		if isJSON(ct) {
			err = req.UnmarshalJSON(body)
		} else {
			err = req.UnmarshalProto(body)
		}
		if err != nil {
			return err
		}
		countLogs(req.Logs(), c)
		return nil
	}
}

func (s *Sink) otlpTraces(_ http.Header, body []byte, ct string) error {
	req := ptraceotlp.NewExportRequest()
	var err error
	if isJSON(ct) {
		err = req.UnmarshalJSON(body)
	} else {
		err = req.UnmarshalProto(body)
	}
	if err != nil {
		return err
	}
	countTraces(req.Traces(), &s.Traces)
	return nil
}

func (s *Sink) otlpMetrics(_ http.Header, body []byte, ct string) error {
	req := pmetricotlp.NewExportRequest()
	var err error
	if isJSON(ct) {
		err = req.UnmarshalJSON(body)
	} else {
		err = req.UnmarshalProto(body)
	}
	if err != nil {
		return err
	}
	countMetrics(req.Metrics(), &s.Metrics)
	return nil
}

type logsServer struct {
	plogotlp.UnimplementedGRPCServer
	s *Sink
}

func (l *logsServer) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	if err := l.s.grpcFault(); err != nil {
		return plogotlp.NewExportResponse(), err
	}
	countLogs(req.Logs(), &l.s.Logs)
	return plogotlp.NewExportResponse(), nil
}

type tracesServer struct {
	ptraceotlp.UnimplementedGRPCServer
	s *Sink
}

func (t *tracesServer) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	if err := t.s.grpcFault(); err != nil {
		return ptraceotlp.NewExportResponse(), err
	}
	countTraces(req.Traces(), &t.s.Traces)
	return ptraceotlp.NewExportResponse(), nil
}

type metricsServer struct {
	pmetricotlp.UnimplementedGRPCServer
	s *Sink
}

func (m *metricsServer) Export(_ context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	if err := m.s.grpcFault(); err != nil {
		return pmetricotlp.NewExportResponse(), err
	}
	countMetrics(req.Metrics(), &m.s.Metrics)
	return pmetricotlp.NewExportResponse(), nil
}
