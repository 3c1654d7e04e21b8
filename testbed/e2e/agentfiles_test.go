package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"

	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/sieveproc"
)

// capturedLog is one log record the gateway stand-in received, flattened with its resource.
type capturedLog struct {
	resource map[string]any
	attrs    map[string]any
	body     string
	severity plog.SeverityNumber
	traceID  pcommon.TraceID
	ts       time.Time
}

// logCapture is an OTLP/gRPC logs server standing in for the gateways: it keeps every record.
type logCapture struct {
	plogotlp.UnimplementedGRPCServer
	mu   sync.Mutex
	recs []capturedLog
}

func (c *logCapture) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rls := req.Logs().ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		res := rls.At(i).Resource().Attributes().AsRaw()
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				c.recs = append(c.recs, capturedLog{
					resource: res, attrs: lr.Attributes().AsRaw(), body: lr.Body().AsString(),
					severity: lr.SeverityNumber(), traceID: lr.TraceID(), ts: lr.Timestamp().AsTime(),
				})
			}
		}
	}
	return plogotlp.NewExportResponse(), nil
}

func (c *logCapture) byBody() map[string]capturedLog {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]capturedLog{}
	for _, r := range c.recs {
		out[r.body] = r
	}
	return out
}

type discardMetrics struct {
	pmetricotlp.UnimplementedGRPCServer
}

func (*discardMetrics) Export(context.Context, pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	return pmetricotlp.NewExportResponse(), nil
}

func startLogCapture(t *testing.T) (*logCapture, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	c := &logCapture{}
	srv := grpc.NewServer()
	plogotlp.RegisterGRPCServer(srv, c)
	// The agent also forwards host metrics; they are accepted and ignored.
	pmetricotlp.RegisterGRPCServer(srv, &discardMetrics{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return c, lis.Addr().String()
}

func appendLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	for _, l := range lines {
		_, err = f.WriteString(l + "\n")
		require.NoError(t, err)
	}
	require.NoError(t, f.Close())
}

// TestAgentFileLogsCarryServiceName runs the shipped agent configuration on two kinds of files at
// once: a plain zap JSON file as on a host (/var/log/services/<service>.log) and a container log
// in CRI format under a /var/log/pods-shaped directory. The agent forwards to an OTLP server
// standing in for the gateways, which checks that every record has a resource service.name
// (from the record, the container name or the file name), the k8s.* attributes of container
// files, and that zap's fields (level, ts, msg, trace context) are still parsed in both.
func TestAgentFileLogsCarryServiceName(t *testing.T) {
	capture, addr := startLogCapture(t)
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)

	root := t.TempDir()
	servicesDir := filepath.Join(root, "services")
	const podUID = "5f0b2a3c-1d2e-4f60-8a9b-0c1d2e3f4a5b"
	podDir := filepath.Join(root, "pods", "shop_cart-7d9f8b-x2x4q_"+podUID, "cart")
	for _, d := range []string{servicesDir, podDir} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	plainFile := filepath.Join(servicesDir, "checkout.log")
	criFile := filepath.Join(podDir, "0.log")
	// Created empty before the agent starts: start_at is end, so only what is appended is read.
	for _, f := range []string{plainFile, criFile} {
		require.NoError(t, os.WriteFile(f, nil, 0o644))
	}
	// A file with a line before the start: file_log's first poll takes it at its end (the line
	// is never sent) and logs it; after that poll, files that get content are read from their
	// start, so the test writes only then.
	warmup := filepath.Join(servicesDir, "warmup.log")
	require.NoError(t, os.WriteFile(warmup, []byte(`{"level":"error","ts":1,"msg":"written before the start"}`+"\n"), 0o644))

	agent := sieveproc.StartT(t, sieveproc.Options{
		Config: harness.RepoPath("configs/agent.yaml"),
		Env: map[string]string{
			"SIEVE_GATEWAY_HOST":       host,
			"SIEVE_GATEWAY_PORT":       port,
			"SIEVE_LOG_GLOB":           filepath.Join(root, "**", "*.log"),
			"SIEVE_SCRAPE_TARGETS_DIR": filepath.Join(root, "targets"),
			"K8S_NODE_NAME":            "node-a",
		},
	})
	require.Eventually(t, func() bool {
		log, _ := os.ReadFile(agent.LogPath)
		return strings.Contains(string(log), `"path": "`+warmup+`"`)
	}, 30*time.Second, 50*time.Millisecond, "file_log's first poll never saw %s", warmup)

	now := time.Now()
	ts := func(d time.Duration) string { return fmt.Sprintf("%.3f", float64(now.Add(d).UnixMilli())/1000) }
	cri := func(d time.Duration, stream, tag, line string) string {
		return now.Add(d).UTC().Format("2006-01-02T15:04:05.000000000Z") + " " + stream + " " + tag + " " + line
	}
	const traceID = "0af7651916cd43dd8448eb211c80319c"
	appendLines(t, plainFile,
		`{"level":"error","ts":`+ts(-3*time.Second)+`,"caller":"checkout/main.go:42","msg":"payment failed","trace_id":"`+traceID+`","span_id":"b7ad6b7169203331","uid":"u1"}`,
		`{"level":"info","ts":`+ts(-2*time.Second)+`,"caller":"checkout/main.go:50","msg":"sent by billing","service.name":"billing"}`,
	)
	appendLines(t, criFile,
		cri(-3*time.Second, "stdout", "F", `{"level":"warn","ts":`+ts(-3*time.Second)+`,"caller":"cart/cart.go:7","msg":"cart updated","trace_id":"`+traceID+`","span_id":"00f067aa0ba902b7"}`),
		cri(-2*time.Second, "stdout", "P", `{"level":"dpanic","ts":`+ts(-2*time.Second)+`,"msg":"split `),
		cri(-2*time.Second, "stdout", "F", `across two CRI lines"}`),
		cri(-time.Second, "stderr", "F", "plain text from the runtime"),
		cri(-time.Second, "stdout", "F", `{"level":"info","ts":`+ts(-time.Second)+`,"msg":"own name","service.name":"cart-api"}`),
	)

	want := []string{"payment failed", "sent by billing", "cart updated", "split across two CRI lines", "plain text from the runtime", "own name"}
	var got map[string]capturedLog
	missing := want
	for deadline := time.Now().Add(30 * time.Second); len(missing) > 0 && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		got, missing = capture.byBody(), nil
		for _, b := range want {
			if _, ok := got[b]; !ok {
				missing = append(missing, b)
			}
		}
	}
	if len(missing) > 0 {
		var bodies []string
		for b := range got {
			bodies = append(bodies, b)
		}
		t.Fatalf("records %q never arrived; received: %q", missing, bodies)
	}
	for _, b := range want {
		t.Logf("%q: resource=%v attributes=%v severity=%v", b, got[b].resource, got[b].attrs, got[b].severity)
	}

	k8s := map[string]any{
		"k8s.namespace.name":          "shop",
		"k8s.pod.name":                "cart-7d9f8b-x2x4q",
		"k8s.pod.uid":                 podUID,
		"k8s.container.name":          "cart",
		"k8s.container.restart_count": "0",
		"k8s.node.name":               "node-a",
	}
	withK8s := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range k8s {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}

	// Plain host file: service.name from the file name, zap fields parsed as before.
	r := got["payment failed"]
	require.Equal(t, map[string]any{"service.name": "checkout", "k8s.node.name": "node-a"}, r.resource)
	require.Equal(t, plog.SeverityNumberError, r.severity)
	require.Equal(t, traceID, r.traceID.String())
	require.Equal(t, plainFile, r.attrs["log.file.path"])
	require.Equal(t, "u1", r.attrs["uid"])
	require.WithinDuration(t, now.Add(-3*time.Second), r.ts, 2*time.Millisecond)
	// A record's own service.name wins over the file name and leaves the attributes.
	r = got["sent by billing"]
	require.Equal(t, "billing", r.resource["service.name"])
	require.NotContains(t, r.attrs, "service.name")

	// Container file: CRI unwrapped, k8s.* from the path, service.name = container name.
	r = got["cart updated"]
	require.Equal(t, withK8s(map[string]any{"service.name": "cart"}), r.resource)
	require.Equal(t, plog.SeverityNumberWarn, r.severity)
	require.Equal(t, traceID, r.traceID.String())
	require.Equal(t, "stdout", r.attrs["log.iostream"])
	require.Equal(t, criFile, r.attrs["log.file.path"])
	require.NotContains(t, r.attrs, "logtag")
	require.Equal(t, "cart/cart.go:7", r.attrs["caller"])
	require.WithinDuration(t, now.Add(-3*time.Second), r.ts, 2*time.Millisecond)
	// Partial CRI lines are joined before the JSON is parsed.
	r = got["split across two CRI lines"]
	require.Equal(t, "cart", r.resource["service.name"])
	require.Equal(t, plog.SeverityNumberFatal, r.severity)
	// Output that is not JSON passes with the runtime's timestamp and the pod's attributes.
	r = got["plain text from the runtime"]
	require.Equal(t, withK8s(map[string]any{"service.name": "cart"}), r.resource)
	require.Equal(t, "stderr", r.attrs["log.iostream"])
	require.WithinDuration(t, now.Add(-time.Second), r.ts, time.Millisecond)
	// A container record's own service.name wins over the container name.
	r = got["own name"]
	require.Equal(t, withK8s(map[string]any{"service.name": "cart-api"}), r.resource)
	require.NotContains(t, got, "written before the start", "start_at: end")
	for b, rec := range got {
		require.NotEmpty(t, rec.resource["service.name"], "record %q without service.name", b)
		require.False(t, strings.HasPrefix(b, "{"), "record %q was not parsed", b)
	}
}
