package otlp

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// The OTel SDK's own exporters, over gRPC and over HTTP, gzip-compressed as SDKs are commonly
// configured, against the receiver sampling before decode: every export succeeds (the SDK reads
// the response as it would upstream's), only what the sampler keeps reaches the pipeline, and
// every record sent is counted as accepted.
func TestSDKExportersSampledBeforeDecode(t *testing.T) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	reg := &registryExt{}
	defer reg.RegisterLogsPrefilter(severityPrefilter{})()
	defer reg.RegisterTracesPrefilter(severityPrefilter{})()
	grpcAddr, httpAddr, logs, traces := sampledReceiver(t, tel, reg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	records := func() []sdklog.Record {
		var out []sdklog.Record
		for _, sev := range []otellog.Severity{otellog.SeverityInfo, otellog.SeverityError, otellog.SeverityDebug, otellog.SeverityWarn, otellog.SeverityFatal} {
			var r sdklog.Record
			r.SetSeverity(sev)
			r.SetBody(attribute.StringValue(sev.String()))
			r.SetTimestamp(time.Unix(1_700_000_000, 0))
			out = append(out, r)
		}
		return out
	}
	logExporters := map[string]func() (sdklog.Exporter, error){
		"grpc": func() (sdklog.Exporter, error) {
			return otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(grpcAddr), otlploggrpc.WithInsecure(), otlploggrpc.WithCompressor("gzip"))
		},
		"http": func() (sdklog.Exporter, error) {
			return otlploghttp.New(ctx, otlploghttp.WithEndpoint(httpAddr), otlploghttp.WithInsecure(), otlploghttp.WithCompression(otlploghttp.GzipCompression))
		},
	}
	wantLogs := 0
	for _, name := range []string{"grpc", "http"} {
		exp, err := logExporters[name]()
		require.NoError(t, err)
		require.NoError(t, exp.Export(ctx, records()), name)
		require.NoError(t, exp.Shutdown(ctx))
		wantLogs += 2 // ERROR and FATAL
		require.Equal(t, wantLogs, logs.LogRecordCount(), "%s: only ERROR and FATAL reach the pipeline", name)
	}

	spans := func() []sdktrace.ReadOnlySpan {
		var stubs tracetest.SpanStubs
		for i, name := range []string{"keep", "drop", "drop", "keep"} {
			stubs = append(stubs, tracetest.SpanStub{
				Name: name,
				SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
					TraceID: trace.TraceID{1, byte(i)}, SpanID: trace.SpanID{2, byte(i)}, TraceFlags: trace.FlagsSampled,
				}),
				StartTime: time.Unix(1_700_000_000, 0),
				EndTime:   time.Unix(1_700_000_001, 0),
			})
		}
		return stubs.Snapshots()
	}
	traceExporters := map[string]func() (sdktrace.SpanExporter, error){
		"grpc": func() (sdktrace.SpanExporter, error) {
			return otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(grpcAddr), otlptracegrpc.WithInsecure(), otlptracegrpc.WithCompressor("gzip"))
		},
		"http": func() (sdktrace.SpanExporter, error) {
			return otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(httpAddr), otlptracehttp.WithInsecure(), otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
		},
	}
	wantSpans := 0
	for _, name := range []string{"grpc", "http"} {
		exp, err := traceExporters[name]()
		require.NoError(t, err)
		require.NoError(t, exp.ExportSpans(ctx, spans()), name)
		require.NoError(t, exp.Shutdown(ctx))
		wantSpans += 2
		require.Equal(t, wantSpans, traces.SpanCount(), "%s: only the spans named keep reach the pipeline", name)
	}

	require.Equal(t, int64(10), sumOf(t, tel, "otelcol_receiver_accepted_log_records"))
	require.Equal(t, int64(8), sumOf(t, tel, "otelcol_receiver_accepted_spans"))
	require.Equal(t, int64(6+4), sumOf(t, tel, "otelcol_receiver_sampled_before_decode"))
}
