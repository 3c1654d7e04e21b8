package loadbalancing

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"

	"github.com/sieveobs/sieve/exporters/loadbalancing/internal/metadata"
)

// tracesExporter routes spans by trace ID on the same ring as contrib's traces exporter, so a
// span goes where contrib would send it and where its trace's logs go. What Sieve changes is the
// failure: only the spans of the endpoints that failed are retried. Contrib returns the error of
// the whole batch, and the retry sends again what the healthy endpoints took.
type tracesExporter struct {
	lb        *balancer[exporter.Traces]
	telemetry *metadata.TelemetryBuilder
}

// newTraceIDTraces wraps the exporter in exporterhelper with the top-level timeout, queue and
// retry, as contrib does; the per-endpoint OTLP exporters have their own from protocol.otlp.
func newTraceIDTraces(ctx context.Context, set exporter.Settings, c *Config) (exporter.Traces, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	otlp := otlpexporter.NewFactory()
	lb, err := newBalancer(set, c, tb, func(ctx context.Context, endpoint string) (exporter.Traces, error) {
		oc := c.Protocol.OTLP
		oc.ClientConfig.Endpoint = endpoint
		s := set
		s.ID = component.NewIDWithName(otlp.Type(), set.ID.Name())
		s.Logger = set.Logger.With(zap.String("endpoint", endpoint))
		s.TelemetrySettings.Logger = s.Logger
		s.TelemetrySettings.MeterProvider = metricnoop.NewMeterProvider()
		s.TelemetrySettings.TracerProvider = tracenoop.NewTracerProvider()
		return otlp.CreateTraces(ctx, s, &oc)
	})
	if err != nil {
		tb.Shutdown()
		return nil, err
	}
	e := &tracesExporter{lb: lb, telemetry: tb}
	opts := []exporterhelper.Option{
		exporterhelper.WithStart(lb.start),
		exporterhelper.WithShutdown(func(ctx context.Context) error {
			err := lb.shutdown(ctx)
			tb.Shutdown()
			return err
		}),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
	}
	if c.TimeoutSettings.Timeout > 0 {
		opts = append(opts, exporterhelper.WithTimeout(c.TimeoutSettings))
	}
	if c.QueueSettings.HasValue() {
		opts = append(opts, exporterhelper.WithQueue(c.QueueSettings))
	}
	if c.BackOffConfig.Enabled {
		opts = append(opts, exporterhelper.WithRetry(c.BackOffConfig))
	}
	return exporterhelper.NewTraces(ctx, set, c, e.consume, opts...)
}

func (e *tracesExporter) consume(ctx context.Context, td ptrace.Traces) error {
	parts, err := e.route(td)
	if err != nil {
		return err
	}
	return sendParts(ctx, e.telemetry, parts, tracesSignal)
}

// route splits td into one part per endpoint in a single pass, copying each span once and its
// resource and scope once per run of spans going to the same endpoint. Each endpoint used is
// marked in flight before the lock is released, so it cannot be shut down under the send.
func (e *tracesExporter) route(td ptrace.Traces) (map[*endpointExporter[exporter.Traces]]ptrace.Traces, error) {
	type dest struct {
		traces     ptrace.Traces
		ss         ptrace.ScopeSpans
		rIdx, sIdx int
	}
	b := e.lb
	b.mu.RLock()
	defer b.mu.RUnlock()
	if len(b.live) == 0 {
		return nil, errNoEndpoints
	}
	dests := make(map[*endpointExporter[exporter.Traces]]*dest, len(b.live))
	byTrace := map[pcommon.TraceID]*endpointExporter[exporter.Traces]{}
	release := func() {
		for exp := range dests {
			exp.inflight.Done()
		}
	}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			ss := rs.ScopeSpans().At(j)
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				tid := span.TraceID()
				exp, err := b.endpointOf(tid, byTrace)
				if err != nil {
					release()
					return nil, err
				}
				d := dests[exp]
				if d == nil {
					exp.inflight.Add(1)
					d = &dest{traces: ptrace.NewTraces(), rIdx: -1}
					dests[exp] = d
				}
				if d.rIdx != i || d.sIdx != j {
					nrs := d.traces.ResourceSpans().AppendEmpty()
					rs.Resource().CopyTo(nrs.Resource())
					nrs.SetSchemaUrl(rs.SchemaUrl())
					d.ss = nrs.ScopeSpans().AppendEmpty()
					ss.Scope().CopyTo(d.ss.Scope())
					d.ss.SetSchemaUrl(ss.SchemaUrl())
					d.rIdx, d.sIdx = i, j
				}
				span.CopyTo(d.ss.Spans().AppendEmpty())
			}
		}
	}
	out := make(map[*endpointExporter[exporter.Traces]]ptrace.Traces, len(dests))
	for exp, d := range dests {
		out[exp] = d.traces
	}
	return out, nil
}

var tracesSignal = signal[exporter.Traces, ptrace.Traces]{
	consume: func(ctx context.Context, exp exporter.Traces, td ptrace.Traces) error {
		return exp.ConsumeTraces(ctx, td)
	},
	empty:    ptrace.NewTraces,
	appendTo: func(dst, part ptrace.Traces) { part.ResourceSpans().MoveAndAppendTo(dst.ResourceSpans()) },
	partial:  func(err error, td ptrace.Traces) error { return consumererror.NewTraces(err, td) },
}
