package loadbalancing

import (
	"context"
	"errors"
	"math/rand/v2"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"

	"github.com/sieveobs/sieve/exporters/loadbalancing/internal/metadata"
)

var errNoEndpoints = errors.New("load_balancing: no endpoint resolved yet")

// logsExporter routes every log record by the raw 16 bytes of its trace ID, the key contrib's
// traces exporter hashes for spans, so a record goes to the endpoint its trace's spans go to.
type logsExporter struct {
	lb        *balancer[exporter.Logs]
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
}

// newTraceIDLogs wraps the exporter in exporterhelper with the top-level timeout, queue and
// retry, as contrib does; the per-endpoint OTLP exporters have their own from protocol.otlp.
func newTraceIDLogs(ctx context.Context, set exporter.Settings, c *Config) (exporter.Logs, error) {
	e, err := newLogsExporter(set, c)
	if err != nil {
		return nil, err
	}
	opts := []exporterhelper.Option{
		exporterhelper.WithStart(e.lb.start),
		exporterhelper.WithShutdown(e.shutdown),
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
	return exporterhelper.NewLogs(ctx, set, c, e.consume, opts...)
}

func newLogsExporter(set exporter.Settings, c *Config) (*logsExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	otlp := otlpexporter.NewFactory()
	newExporter := func(ctx context.Context, endpoint string) (exporter.Logs, error) {
		oc := c.Protocol.OTLP
		oc.ClientConfig.Endpoint = endpoint
		// As contrib: the endpoint exporters' own telemetry is off, their logs name the endpoint.
		s := set
		s.ID = component.NewIDWithName(otlp.Type(), set.ID.Name())
		s.Logger = set.Logger.With(zap.String("endpoint", endpoint))
		s.TelemetrySettings.Logger = s.Logger
		s.TelemetrySettings.MeterProvider = metricnoop.NewMeterProvider()
		s.TelemetrySettings.TracerProvider = tracenoop.NewTracerProvider()
		return otlp.CreateLogs(ctx, s, &oc)
	}
	lb, err := newBalancer(set, c, tb, newExporter)
	if err != nil {
		tb.Shutdown()
		return nil, err
	}
	return &logsExporter{lb: lb, logger: set.Logger, telemetry: tb}, nil
}

func (e *logsExporter) shutdown(ctx context.Context) error {
	err := e.lb.shutdown(ctx)
	e.telemetry.Shutdown()
	return err
}

func (e *logsExporter) consume(ctx context.Context, ld plog.Logs) error {
	parts, err := e.route(ld)
	if err != nil {
		return err
	}
	return sendParts(ctx, e.telemetry, parts, logsSignal)
}

// route splits ld into one part per endpoint in a single pass, copying each record once and its
// resource and scope once per run of records going to the same endpoint. Each endpoint used is
// marked in flight before the lock is released, so it cannot be shut down under the send.
func (e *logsExporter) route(ld plog.Logs) (map[*endpointExporter[exporter.Logs]]plog.Logs, error) {
	type dest struct {
		logs       plog.Logs
		sl         plog.ScopeLogs
		rIdx, sIdx int
	}
	b := e.lb
	b.mu.RLock()
	defer b.mu.RUnlock()
	if len(b.live) == 0 {
		return nil, errNoEndpoints
	}
	dests := make(map[*endpointExporter[exporter.Logs]]*dest, len(b.live))
	byTrace := map[pcommon.TraceID]*endpointExporter[exporter.Logs]{}
	release := func() {
		for exp := range dests {
			exp.inflight.Done()
		}
	}
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			sl := rl.ScopeLogs().At(j)
			recs := sl.LogRecords()
			for k := 0; k < recs.Len(); k++ {
				rec := recs.At(k)
				tid := rec.TraceID()
				var exp *endpointExporter[exporter.Logs]
				var err error
				if tid.IsEmpty() {
					// No trace to follow: spread, as contrib does with a random key.
					exp = b.live[rand.IntN(len(b.live))]
				} else if exp, err = b.endpointOf(tid, byTrace); err != nil {
					release()
					return nil, err
				}
				d := dests[exp]
				if d == nil {
					exp.inflight.Add(1)
					d = &dest{logs: plog.NewLogs(), rIdx: -1}
					dests[exp] = d
				}
				if d.rIdx != i || d.sIdx != j {
					nrl := d.logs.ResourceLogs().AppendEmpty()
					rl.Resource().CopyTo(nrl.Resource())
					nrl.SetSchemaUrl(rl.SchemaUrl())
					d.sl = nrl.ScopeLogs().AppendEmpty()
					sl.Scope().CopyTo(d.sl.Scope())
					d.sl.SetSchemaUrl(sl.SchemaUrl())
					d.rIdx, d.sIdx = i, j
				}
				rec.CopyTo(d.sl.LogRecords().AppendEmpty())
			}
		}
	}
	out := make(map[*endpointExporter[exporter.Logs]]plog.Logs, len(dests))
	for exp, d := range dests {
		out[exp] = d.logs
	}
	return out, nil
}

var logsSignal = signal[exporter.Logs, plog.Logs]{
	consume:  func(ctx context.Context, exp exporter.Logs, ld plog.Logs) error { return exp.ConsumeLogs(ctx, ld) },
	empty:    plog.NewLogs,
	appendTo: func(dst, part plog.Logs) { part.ResourceLogs().MoveAndAppendTo(dst.ResourceLogs()) },
	partial:  func(err error, ld plog.Logs) error { return consumererror.NewLogs(err, ld) },
}
