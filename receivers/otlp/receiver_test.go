package otlp

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/encoding/gzip" // the client compresses with gzip
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"

	"github.com/sieveobs/sieve/internal/otlpwire"
	"github.com/sieveobs/sieve/internal/policy"
	"github.com/sieveobs/sieve/receivers/otlp/internal/metadata"
)

var policyID = component.MustNewID("sampling_policy")

// severityPrefilter drops records below ERROR and spans not named "keep", as a sampler would.
type severityPrefilter struct{}

func (severityPrefilter) FilterLogs(dst, req []byte) ([]byte, otlpwire.FilterResult, error) {
	var f otlpwire.LogsFilter
	return f.Filter(dst, req, dropBelowError{})
}

func (severityPrefilter) FilterTraces(dst, req []byte) ([]byte, otlpwire.FilterResult, error) {
	var f otlpwire.SpansFilter
	return f.Filter(dst, req, dropBelowError{})
}

type dropBelowError struct{}

func (dropBelowError) DropLog(_ *otlpwire.Resource, rec *otlpwire.LogRecord) bool {
	return rec.SeverityNumber < int64(plog.SeverityNumberError)
}

func (dropBelowError) DropSpan(_ *otlpwire.Resource, s *otlpwire.Span) bool {
	return string(s.Name) != "keep"
}

type registryExt struct {
	component.StartFunc
	component.ShutdownFunc
	policy.PrefilterRegistry
}

type fakeHost struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h fakeHost) GetExtensions() map[component.ID]component.Component { return h.exts }

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// sampledReceiver starts the receiver for logs and traces with sample_before_decode on both.
func sampledReceiver(t *testing.T, tel *componenttest.Telemetry, reg *registryExt) (grpcAddr, httpAddr string, logs *consumertest.LogsSink, traces *consumertest.TracesSink) {
	cfg := createDefaultConfig().(*Config)
	grpcAddr, httpAddr = freeAddr(t), freeAddr(t)
	cfg.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = grpcAddr
	cfg.Protocols.HTTP.GetOrInsertDefault().ServerConfig.NetAddr.Endpoint = httpAddr
	cfg.SampleBeforeDecode = SampleBeforeDecodeConfig{Policy: policyID, Logs: true, Traces: true}
	require.NoError(t, cfg.Validate())

	set := receivertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	logs, traces = new(consumertest.LogsSink), new(consumertest.TracesSink)
	f := NewFactory()
	lr, err := f.CreateLogs(context.Background(), set, cfg, logs)
	require.NoError(t, err)
	tr, err := f.CreateTraces(context.Background(), set, cfg, traces)
	require.NoError(t, err)
	host := fakeHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{policyID: reg}}
	require.NoError(t, lr.Start(context.Background(), host))
	require.NoError(t, tr.Start(context.Background(), host))
	t.Cleanup(func() {
		require.NoError(t, lr.Shutdown(context.Background()))
		require.NoError(t, tr.Shutdown(context.Background()))
	})
	return grpcAddr, httpAddr, logs, traces
}

func testLogs() plog.Logs {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for _, sev := range []plog.SeverityNumber{plog.SeverityNumberInfo, plog.SeverityNumberError, plog.SeverityNumberWarn, plog.SeverityNumberFatal} {
		lr := lrs.AppendEmpty()
		lr.SetSeverityNumber(sev)
		lr.Body().SetStr(sev.String())
	}
	return ld
}

func testTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for _, name := range []string{"keep", "drop", "drop"} {
		spans.AppendEmpty().SetName(name)
	}
	return td
}

func sumOf(t *testing.T, tel *componenttest.Telemetry, name string) int64 {
	m, err := tel.GetMetric(name)
	require.NoError(t, err)
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		n += dp.Value
	}
	return n
}

func TestSampleBeforeDecode(t *testing.T) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	reg := &registryExt{}
	unregister := reg.RegisterLogsPrefilter(severityPrefilter{})
	defer unregister()
	defer reg.RegisterTracesPrefilter(severityPrefilter{})()
	grpcAddr, httpAddr, logs, traces := sampledReceiver(t, tel, reg)

	// gRPC, gzip-compressed: only ERROR and FATAL reach the pipeline.
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	_, err = plogotlp.NewGRPCClient(conn).Export(context.Background(), plogotlp.NewExportRequestFromLogs(testLogs()), grpc.UseCompressor("gzip"))
	require.NoError(t, err)
	require.Equal(t, 2, logs.LogRecordCount())
	for _, lr := range []string{"Error", "Fatal"} {
		found := false
		for _, ld := range logs.AllLogs() {
			rs := ld.ResourceLogs()
			for i := 0; i < rs.Len(); i++ {
				recs := rs.At(i).ScopeLogs().At(0).LogRecords()
				for k := 0; k < recs.Len(); k++ {
					found = found || recs.At(k).Body().Str() == lr
				}
			}
		}
		require.True(t, found, lr)
	}
	_, err = ptraceotlp.NewGRPCClient(conn).Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(testTraces()))
	require.NoError(t, err)
	require.Equal(t, 1, traces.SpanCount())

	// HTTP protobuf takes the same path; JSON is decoded whole.
	body, err := plogotlp.NewExportRequestFromLogs(testLogs()).MarshalProto()
	require.NoError(t, err)
	resp, err := http.Post(fmt.Sprintf("http://%s/v1/logs", httpAddr), pbContentType, bytes.NewReader(body))
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 4, logs.LogRecordCount())
	js, err := plogotlp.NewExportRequestFromLogs(testLogs()).MarshalJSON()
	require.NoError(t, err)
	resp, err = http.Post(fmt.Sprintf("http://%s/v1/logs", httpAddr), jsonContentType, bytes.NewReader(js))
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 8, logs.LogRecordCount())

	// A request whose every record is dropped is answered OK without reaching the pipeline.
	all := plog.NewLogs()
	all.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().SetSeverityNumber(plog.SeverityNumberDebug)
	_, err = plogotlp.NewGRPCClient(conn).Export(context.Background(), plogotlp.NewExportRequestFromLogs(all))
	require.NoError(t, err)
	require.Equal(t, 8, logs.LogRecordCount())

	// Every record received is counted as accepted; those dropped on the wire besides.
	require.Equal(t, int64(4+4+4+1), sumOf(t, tel, "otelcol_receiver_accepted_log_records"))
	require.Equal(t, int64(3), sumOf(t, tel, "otelcol_receiver_accepted_spans"))
	require.Equal(t, int64(2+2+1+2), sumOf(t, tel, "otelcol_receiver_sampled_before_decode"))

	// Bytes that do not decode are refused as not retryable, on both transports.
	_, err = plogotlp.NewGRPCClient(conn).Export(context.Background(), plogotlp.NewExportRequest(), grpc.ForceCodecV2(badCodec{}))
	require.Equal(t, codes.InvalidArgument, status.Code(err))
	resp, err = http.Post(fmt.Sprintf("http://%s/v1/logs", httpAddr), pbContentType, bytes.NewReader([]byte{0x0a, 0x05, 0x01}))
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestStartRefusesWhatCannotSample(t *testing.T) {
	for name, tc := range map[string]struct {
		exts map[component.ID]component.Component
		want string
	}{
		"no extension":   {exts: nil, want: "not found"},
		"not a registry": {exts: map[component.ID]component.Component{policyID: plainExt{}}, want: "does not lend"},
		"no sampler":     {exts: map[component.ID]component.Component{policyID: &registryExt{}}, want: "no single tiered_sampling processor"},
		"two samplers":   {exts: map[component.ID]component.Component{policyID: twoSamplers()}, want: "no single tiered_sampling processor"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = freeAddr(t)
			cfg.SampleBeforeDecode = SampleBeforeDecodeConfig{Policy: policyID, Logs: true}
			r, err := NewFactory().CreateLogs(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
			require.NoError(t, err)
			err = r.Start(context.Background(), fakeHost{Host: componenttest.NewNopHost(), exts: tc.exts})
			require.ErrorContains(t, err, tc.want)
			require.NoError(t, r.Shutdown(context.Background()))
		})
	}
}

func twoSamplers() *registryExt {
	r := &registryExt{}
	r.RegisterLogsPrefilter(severityPrefilter{})
	r.RegisterLogsPrefilter(severityPrefilter{})
	return r
}

func TestWithoutSampleBeforeDecodeIsUpstreamsReceiver(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = freeAddr(t)
	r, err := NewFactory().CreateLogs(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(t, err)
	_, ours := r.(*otlpReceiver)
	require.False(t, ours)
	_, err = NewFactory().CreateLogs(context.Background(), receiver.Settings{ID: component.MustNewID("otlp"), TelemetrySettings: componenttest.NewNopTelemetrySettings()}, cfg, consumertest.NewNop())
	require.NoError(t, err)
}

// badCodec sends garbage in place of the request.
type badCodec struct{}

func (badCodec) Marshal(any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer([]byte{0x0a, 0x05, 0x01})}, nil
}
func (badCodec) Unmarshal(mem.BufferSlice, any) error { return nil }
func (badCodec) Name() string                         { return "proto" }

type plainExt struct {
	component.StartFunc
	component.ShutdownFunc
}

// Request buffers are pooled and reused: many concurrent requests over both transports, each
// with its own bodies, some kept whole, some rewritten, some dropped whole, must each deliver
// exactly their own kept records.
func TestConcurrentRequestsKeepTheirOwnRecords(t *testing.T) {
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	reg := &registryExt{}
	defer reg.RegisterLogsPrefilter(severityPrefilter{})()
	defer reg.RegisterTracesPrefilter(severityPrefilter{})()
	grpcAddr, httpAddr, logs, _ := sampledReceiver(t, tel, reg)
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := plogotlp.NewGRPCClient(conn)

	const workers, perWorker = 8, 40
	want := map[string]bool{}
	var wantMu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				ld := plog.NewLogs()
				lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
				// Sizes vary so that pooled buffers are reused at other lengths.
				for k := range 1 + (w*perWorker+i)%23 {
					lr := lrs.AppendEmpty()
					body := fmt.Sprintf("w%d-r%d-k%d-%s", w, i, k, strings.Repeat("x", (i*k)%300))
					lr.Body().SetStr(body)
					switch (i + k) % 3 {
					case 0:
						lr.SetSeverityNumber(plog.SeverityNumberError)
						wantMu.Lock()
						want[body] = true
						wantMu.Unlock()
					case 1:
						lr.SetSeverityNumber(plog.SeverityNumberInfo)
					case 2:
						if i%2 == 0 {
							lr.SetSeverityNumber(plog.SeverityNumberFatal)
							wantMu.Lock()
							want[body] = true
							wantMu.Unlock()
						} else {
							lr.SetSeverityNumber(plog.SeverityNumberDebug)
						}
					}
				}
				req := plogotlp.NewExportRequestFromLogs(ld)
				if i%2 == 0 {
					_, err := client.Export(context.Background(), req)
					assert.NoError(t, err)
					continue
				}
				body, err := req.MarshalProto()
				if !assert.NoError(t, err) {
					return
				}
				resp, err := http.Post(fmt.Sprintf("http://%s/v1/logs", httpAddr), pbContentType, bytes.NewReader(body))
				if assert.NoError(t, err) {
					assert.NoError(t, resp.Body.Close())
					assert.Equal(t, http.StatusOK, resp.StatusCode)
				}
			}
		})
	}
	wg.Wait()
	got := map[string]bool{}
	for _, ld := range logs.AllLogs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			sls := ld.ResourceLogs().At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				recs := sls.At(j).LogRecords()
				for k := 0; k < recs.Len(); k++ {
					b := recs.At(k).Body().Str()
					require.False(t, got[b], "record %q delivered twice", b)
					got[b] = true
				}
			}
		}
	}
	require.Equal(t, want, got)
}
