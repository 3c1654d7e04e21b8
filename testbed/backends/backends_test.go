package backends

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func TestLokiRoundTrip(t *testing.T) {
	l := StartLoki(t, LokiOptions{AuthEnabled: true})
	now := time.Now()
	body := fmt.Sprintf(`{"streams":[{"stream":{"service_name":"checkout","level":"error"},"values":[["%d","payment failed",{"trace_id":"abc123"}]]}]}`, now.UnixNano())
	req, err := http.NewRequest(http.MethodPost, l.PushURL(), bytes.NewBufferString(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Scope-OrgID", "tenant-a")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)

	ctx := context.Background()
	var streams []LokiStream
	require.Eventually(t, func() bool {
		streams, err = l.QueryRange(ctx, "tenant-a", `{service_name="checkout"} | trace_id="abc123"`, now.Add(-time.Minute), now.Add(time.Minute))
		return err == nil && len(streams) == 1
	}, 30*time.Second, 200*time.Millisecond, "query: %v", err)
	require.Len(t, streams[0].Entries, 1)
	require.Equal(t, "payment failed", streams[0].Entries[0].Line)
	require.Equal(t, "abc123", streams[0].Entries[0].Metadata["trace_id"])
	require.Equal(t, "error", streams[0].Labels["level"])

	// Another tenant sees nothing: auth_enabled really isolates tenants.
	other, err := l.QueryRange(ctx, "tenant-b", `{service_name="checkout"}`, now.Add(-time.Minute), now.Add(time.Minute))
	require.NoError(t, err)
	require.Empty(t, other)

	n, err := l.QueryMetric(ctx, "tenant-a", `sum(count_over_time({service_name="checkout"}[5m]))`, now.Add(time.Second))
	require.NoError(t, err)
	require.Len(t, n, 1)
	require.Equal(t, 1.0, n[0].Value)
}

func TestPrometheusRemoteWriteRoundTrip(t *testing.T) {
	p := StartPrometheus(t, PrometheusOptions{})
	now := time.Now()
	wr := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "sieve_backends_probe"}, {Name: "job", Value: "probe"}},
		Samples: []prompb.Sample{{Value: 42, Timestamp: now.UnixMilli()}},
	}}}
	raw, err := wr.Marshal()
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, p.RemoteWriteURL(), bytes.NewReader(snappy.Encode(nil, raw)))
	require.NoError(t, err)
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)

	got, err := p.Query(context.Background(), `sieve_backends_probe{job="probe"}`, now.Add(time.Second))
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, 42.0, got[0].Value)

	names, err := p.MetricNames(context.Background())
	require.NoError(t, err)
	require.Contains(t, names, "sieve_backends_probe")
}

func TestEtcdRestartKeepsData(t *testing.T) {
	e := StartEtcd(t)
	put := func() *http.Response {
		// etcd's v3 JSON gateway: base64("sieve/k") and base64("v").
		resp, err := http.Post(e.Endpoint+"/v3/kv/put", "application/json",
			bytes.NewBufferString(`{"key":"c2lldmUvaw==","value":"dg=="}`))
		require.NoError(t, err)
		return resp
	}
	resp := put()
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	e.Stop(t)
	_, err := http.Post(e.Endpoint+"/v3/kv/range", "application/json", bytes.NewBufferString(`{"key":"c2lldmUvaw=="}`))
	require.Error(t, err, "etcd must be unreachable while stopped")

	e.Start(t)
	resp, err = http.Post(e.Endpoint+"/v3/kv/range", "application/json", bytes.NewBufferString(`{"key":"c2lldmUvaw=="}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	require.Contains(t, buf.String(), `"value":"dg=="`)
}

func TestCloseRemovesDirectory(t *testing.T) {
	e, err := NewEtcd(context.Background())
	require.NoError(t, err)
	dir := e.dir
	require.NoError(t, e.Close())
	_, err = os.Stat(dir)
	require.True(t, os.IsNotExist(err), "data dir %s must be removed", dir)
	require.True(t, e.proc.Exited())
}

func TestJaegerRoundTrip(t *testing.T) {
	j := StartJaeger(t, JaegerOptions{})
	// A trace ID with a leading zero byte: Jaeger's JSON drops leading zeros, the helper restores them.
	tid := pcommon.TraceID{0x00, 0x1a, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	now := time.Now().Truncate(time.Microsecond)
	td := ptrace.NewTraces()
	for i, svc := range []string{"frontend", "payment"} {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", svc)
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(tid)
		sp.SetSpanID(pcommon.SpanID{0, 0, 0, 0, 0, 0, 1, byte(i + 1)})
		if i > 0 {
			sp.SetParentSpanID(pcommon.SpanID{0, 0, 0, 0, 0, 0, 1, 1})
			sp.Status().SetCode(ptrace.StatusCodeError)
		}
		sp.SetName(svc + " op")
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Duration(i) * time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(50 * time.Millisecond)))
		sp.Attributes().PutStr("http.route", "/pay")
	}
	conn, err := grpc.NewClient(j.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx := context.Background()
	_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
	require.NoError(t, err)

	var spans []JaegerSpan
	require.Eventually(t, func() bool {
		spans, err = j.Trace(ctx, tid.String())
		return err == nil && len(spans) == 2
	}, 10*time.Second, 50*time.Millisecond, "trace: %v, %d spans", err, len(spans))
	require.Equal(t, "001a02030405060708090a0b0c0d0e0f", spans[0].TraceID)
	require.Equal(t, "frontend", spans[0].Service)
	require.Equal(t, "frontend op", spans[0].Operation)
	require.Equal(t, "0000000000000101", spans[0].SpanID)
	require.Empty(t, spans[0].ParentSpanID)
	require.False(t, spans[0].Error())
	require.Equal(t, now, spans[0].Start)
	require.Equal(t, 50*time.Millisecond, spans[0].Duration)
	require.Equal(t, "/pay", spans[0].Tags["http.route"])
	require.Equal(t, "payment", spans[1].Service)
	require.Equal(t, "0000000000000101", spans[1].ParentSpanID)
	require.True(t, spans[1].Error())

	found, err := j.FindTraces(ctx, "payment", now.Add(-time.Minute), now.Add(time.Minute), 10)
	require.NoError(t, err)
	require.Len(t, found, 1)
	require.Equal(t, tid.String(), found[0].TraceID)
	require.Len(t, found[0].Spans, 2, "a found trace comes with the spans of every service")
	services, err := j.Services(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"frontend", "payment"}, services)

	missing, err := j.Trace(ctx, "0123456789abcdef0123456789abcdef")
	require.NoError(t, err)
	require.Empty(t, missing)
}
