package otlp // import "github.com/sieveobs/sieve/receivers/otlp"

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sieveobs/sieve/internal/otlpwire"
	"github.com/sieveobs/sieve/internal/policy"
	"github.com/sieveobs/sieve/receivers/otlp/internal/metadata"
)

const dataFormatProtobuf = "protobuf"

// signal selects the prefilter and the counter's attribute without a function value per request.
type signal int

const (
	signalLogs signal = iota
	signalTraces
)

var (
	logsSignal   = metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", "logs")))
	tracesSignal = metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", "traces")))
)

// otlpReceiver serves OTLP over gRPC and HTTP like upstream's receiver, reading every protobuf
// request as bytes so that the sampler's prefilter can drop records before they are decoded.
type otlpReceiver struct {
	cfg *Config
	set receiver.Settings
	tb  *metadata.TelemetryBuilder

	nextTraces  consumer.Traces
	nextMetrics consumer.Metrics
	nextLogs    consumer.Logs

	// prefilters is the policy extension's registry, set at Start.
	prefilters policy.Prefilters

	obsGRPC, obsHTTP *receiverhelper.ObsReport
	serverGRPC       *grpc.Server
	serverHTTP       *http.Server
	wg               sync.WaitGroup

	startOnce, stopOnce sync.Once
	startErr, stopErr   error
}

func newReceiver(cfg *Config, set receiver.Settings) (*otlpReceiver, error) {
	r := &otlpReceiver{cfg: cfg, set: set}
	var err error
	if r.obsGRPC, err = receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{ReceiverID: set.ID, Transport: "grpc", ReceiverCreateSettings: set}); err != nil {
		return nil, err
	}
	if r.obsHTTP, err = receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{ReceiverID: set.ID, Transport: "http", ReceiverCreateSettings: set}); err != nil {
		return nil, err
	}
	if r.tb, err = metadata.NewTelemetryBuilder(set.TelemetrySettings); err != nil {
		return nil, err
	}
	return r, nil
}

// Start is called once per signal by the collector; the servers start on the first call.
func (r *otlpReceiver) Start(ctx context.Context, host component.Host) error {
	r.startOnce.Do(func() { r.startErr = r.start(ctx, host) })
	return r.startErr
}

func (r *otlpReceiver) start(ctx context.Context, host component.Host) error {
	s := r.cfg.SampleBeforeDecode
	ext, ok := host.GetExtensions()[s.Policy]
	if !ok {
		return fmt.Errorf("sample_before_decode.policy: extension %q not found; add it to service.extensions", s.Policy)
	}
	reg, ok := ext.(policy.Prefilters)
	if !ok {
		return fmt.Errorf("sample_before_decode.policy: extension %q does not lend sampling decisions (a sampling_policy extension does)", s.Policy)
	}
	// The pipelines' processors start before their receivers: a sampler following the
	// extension has registered by now.
	if s.Logs && r.nextLogs != nil {
		if _, ok := reg.LogsPrefilter(); !ok {
			return fmt.Errorf("sample_before_decode.logs: no single tiered_sampling processor follows extension %q (set its policy_source or follow_traces.decider to it, in one pipeline)", s.Policy)
		}
	}
	if s.Traces && r.nextTraces != nil {
		if _, ok := reg.TracesPrefilter(); !ok {
			return fmt.Errorf("sample_before_decode.traces: no single head-mode trace_sampling processor follows extension %q (set its policy to it, in one pipeline)", s.Policy)
		}
	}
	r.prefilters = reg
	if err := r.startGRPC(ctx, host); err != nil {
		return err
	}
	if err := r.startHTTP(ctx, host); err != nil {
		return errors.Join(err, r.stop(ctx))
	}
	return nil
}

func (r *otlpReceiver) startGRPC(ctx context.Context, host component.Host) error {
	if !r.cfg.Protocols.GRPC.HasValue() {
		return nil
	}
	gcfg := r.cfg.Protocols.GRPC.Get()
	var err error
	r.serverGRPC, err = gcfg.ToServer(ctx, host.GetExtensions(), r.set.TelemetrySettings,
		configgrpc.WithGrpcServerOption(grpc.ForceServerCodecV2(newRawCodec())))
	if err != nil {
		return err
	}
	if r.nextTraces != nil {
		r.serverGRPC.RegisterService(exportService(tracesService, r.exportTraces), &grpcExporter{obs: r.obsGRPC})
	}
	if r.nextMetrics != nil {
		r.serverGRPC.RegisterService(exportService(metricsService, r.exportMetrics), &grpcExporter{obs: r.obsGRPC})
	}
	if r.nextLogs != nil {
		r.serverGRPC.RegisterService(exportService(logsService, r.exportLogs), &grpcExporter{obs: r.obsGRPC})
	}
	ln, err := gcfg.NetAddr.Listen(ctx)
	if err != nil {
		return err
	}
	r.set.Logger.Info("Starting GRPC server", zap.String("endpoint", ln.Addr().String()))
	r.wg.Go(func() {
		if err := r.serverGRPC.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
		}
	})
	return nil
}

func (r *otlpReceiver) startHTTP(ctx context.Context, host component.Host) error {
	if !r.cfg.Protocols.HTTP.HasValue() {
		return nil
	}
	hcfg := r.cfg.Protocols.HTTP.Get()
	mux := http.NewServeMux()
	if r.nextTraces != nil {
		mux.HandleFunc(string(hcfg.TracesURLPath), r.httpHandler(r.exportTraces, func(ctx context.Context, b []byte) error {
			req := ptraceotlp.NewExportRequest()
			if err := req.UnmarshalJSON(b); err != nil {
				return errBadRequest(err)
			}
			return r.consumeTraces(ctx, r.obsHTTP, req, -1, "json")
		}))
	}
	if r.nextMetrics != nil {
		mux.HandleFunc(string(hcfg.MetricsURLPath), r.httpHandler(r.exportMetrics, func(ctx context.Context, b []byte) error {
			req := pmetricotlp.NewExportRequest()
			if err := req.UnmarshalJSON(b); err != nil {
				return errBadRequest(err)
			}
			return r.consumeMetrics(ctx, r.obsHTTP, req, "json")
		}))
	}
	if r.nextLogs != nil {
		mux.HandleFunc(string(hcfg.LogsURLPath), r.httpHandler(r.exportLogs, func(ctx context.Context, b []byte) error {
			req := plogotlp.NewExportRequest()
			if err := req.UnmarshalJSON(b); err != nil {
				return errBadRequest(err)
			}
			return r.consumeLogs(ctx, r.obsHTTP, req, -1, "json")
		}))
	}
	var err error
	if r.serverHTTP, err = hcfg.ServerConfig.ToServer(ctx, host.GetExtensions(), r.set.TelemetrySettings, mux, confighttp.WithErrorHandler(errorHandler)); err != nil {
		return err
	}
	var ln net.Listener
	if ln, err = hcfg.ServerConfig.ToListener(ctx); err != nil {
		return err
	}
	r.set.Logger.Info("Starting HTTP server", zap.String("endpoint", ln.Addr().String()))
	r.wg.Go(func() {
		if err := r.serverHTTP.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
		}
	})
	return nil
}

// Shutdown stops the servers once, after the last signal's call, and forgets the instance so a
// reload can create it again.
func (r *otlpReceiver) Shutdown(ctx context.Context) error {
	r.stopOnce.Do(func() {
		r.stopErr = r.stop(ctx)
		receivers.remove(r.cfg)
		r.tb.Shutdown()
	})
	return r.stopErr
}

func (r *otlpReceiver) stop(ctx context.Context) error {
	var err error
	if r.serverHTTP != nil {
		err = r.serverHTTP.Shutdown(ctx)
	}
	if r.serverGRPC != nil {
		r.serverGRPC.GracefulStop()
	}
	r.wg.Wait()
	return err
}

// sampleBeforeDecode runs a signal's prefilter over a request's bytes when the signal is sampled
// before decode. It returns the bytes to decode and the number of items the request held (-1
// when it did not look: the decode counts them); done is set when no item is left to decode.
// The rewritten request is written into scratch, a pooled buffer the caller returns with
// putScratch once the request is decoded (pdata copies what it decodes).
// A request the wire reader refuses (malformed, or a shape it leaves to pdata) is decoded
// whole: the client then gets the decoder's own error, or its data sampled after the decode.
func (r *otlpReceiver) sampleBeforeDecode(ctx context.Context, body []byte, sig signal) (data []byte, scratch *[]byte, received int, done bool) {
	var (
		on  bool
		opt metric.AddOption
	)
	switch sig {
	case signalLogs:
		on, opt = r.cfg.SampleBeforeDecode.Logs, logsSignal
	case signalTraces:
		on, opt = r.cfg.SampleBeforeDecode.Traces, tracesSignal
	}
	if !on {
		return body, nil, -1, false
	}
	var (
		out []byte
		res otlpwire.FilterResult
		err error
	)
	switch sig {
	case signalLogs:
		p, ok := r.prefilters.LogsPrefilter()
		if !ok {
			return body, nil, -1, false
		}
		scratch = getScratch()
		out, res, err = p.FilterLogs((*scratch)[:0], body)
	case signalTraces:
		p, ok := r.prefilters.TracesPrefilter()
		if !ok {
			return body, nil, -1, false
		}
		scratch = getScratch()
		out, res, err = p.FilterTraces((*scratch)[:0], body)
	}
	if err != nil {
		putScratch(scratch, nil)
		return body, nil, -1, false
	}
	if res.Dropped == 0 {
		// Nothing dropped: the filter hands back the request itself, not the scratch buffer.
		putScratch(scratch, nil)
		return body, nil, res.Records, false
	}
	r.tb.ReceiverSampledBeforeDecode.Add(ctx, int64(res.Dropped), opt)
	return out, scratch, res.Records, res.Dropped == res.Records
}

// exportLogs takes one protobuf ExportLogsServiceRequest. With a prefilter the records it drops
// never reach pdata; the receiver's accepted count still includes them.
func (r *otlpReceiver) exportLogs(ctx context.Context, obs *receiverhelper.ObsReport, body []byte) error {
	data, scratch, received, done := r.sampleBeforeDecode(ctx, body, signalLogs)
	if done {
		putScratch(scratch, data)
		if received > 0 {
			obs.EndLogsOp(obs.StartLogsOp(ctx), dataFormatProtobuf, received, nil)
		}
		return nil
	}
	req := plogotlp.NewExportRequest()
	err := req.UnmarshalProto(data)
	putScratch(scratch, data)
	if err != nil {
		return errBadRequest(err)
	}
	return r.consumeLogs(ctx, obs, req, received, dataFormatProtobuf)
}

func (r *otlpReceiver) consumeLogs(ctx context.Context, obs *receiverhelper.ObsReport, req plogotlp.ExportRequest, received int, format string) error {
	ld := req.Logs()
	n := ld.LogRecordCount()
	if received < 0 {
		received = n
	}
	if n == 0 {
		return nil
	}
	ctx = obs.StartLogsOp(ctx)
	err := r.nextLogs.ConsumeLogs(ctx, ld)
	obs.EndLogsOp(ctx, format, received, err)
	return statusFromError(err)
}

// exportTraces is exportLogs for spans.
func (r *otlpReceiver) exportTraces(ctx context.Context, obs *receiverhelper.ObsReport, body []byte) error {
	data, scratch, received, done := r.sampleBeforeDecode(ctx, body, signalTraces)
	if done {
		putScratch(scratch, data)
		if received > 0 {
			obs.EndTracesOp(obs.StartTracesOp(ctx), dataFormatProtobuf, received, nil)
		}
		return nil
	}
	req := ptraceotlp.NewExportRequest()
	err := req.UnmarshalProto(data)
	putScratch(scratch, data)
	if err != nil {
		return errBadRequest(err)
	}
	return r.consumeTraces(ctx, obs, req, received, dataFormatProtobuf)
}

func (r *otlpReceiver) consumeTraces(ctx context.Context, obs *receiverhelper.ObsReport, req ptraceotlp.ExportRequest, received int, format string) error {
	td := req.Traces()
	n := td.SpanCount()
	if received < 0 {
		received = n
	}
	if n == 0 {
		return nil
	}
	ctx = obs.StartTracesOp(ctx)
	err := r.nextTraces.ConsumeTraces(ctx, td)
	obs.EndTracesOp(ctx, format, received, err)
	return statusFromError(err)
}

func (r *otlpReceiver) exportMetrics(ctx context.Context, obs *receiverhelper.ObsReport, body []byte) error {
	req := pmetricotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		return errBadRequest(err)
	}
	return r.consumeMetrics(ctx, obs, req, dataFormatProtobuf)
}

func (r *otlpReceiver) consumeMetrics(ctx context.Context, obs *receiverhelper.ObsReport, req pmetricotlp.ExportRequest, format string) error {
	md := req.Metrics()
	n := md.DataPointCount()
	if n == 0 {
		return nil
	}
	ctx = obs.StartMetricsOp(ctx)
	err := r.nextMetrics.ConsumeMetrics(ctx, md)
	obs.EndMetricsOp(ctx, format, n, err)
	return statusFromError(err)
}

// errBadRequest marks a request that does not decode: not retryable.
func errBadRequest(err error) error {
	return status.Error(codes.InvalidArgument, err.Error())
}

// statusFromError gives a pipeline error the gRPC status OTLP clients act on, as upstream's
// receiver does: permanent errors are not retried, anything else is.
func statusFromError(err error) error {
	if err == nil {
		return nil
	}
	if s, ok := status.FromError(err); ok {
		return s.Err()
	}
	code := codes.Unavailable
	if consumererror.IsPermanent(err) {
		code = codes.Internal
	}
	return status.New(code, err.Error()).Err()
}
