package loadbalancing

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
)

// backend is an in-process OTLP/gRPC endpoint that records the trace IDs of what it receives.
type backend struct {
	ptraceotlp.UnimplementedGRPCServer
	addr string
	srv  *grpc.Server

	mu         sync.Mutex
	spans      map[pcommon.TraceID]int
	logs       map[pcommon.TraceID]int
	logRecords int
}

func startBackend(t *testing.T) *backend {
	t.Helper()
	return startBackendAt(t, "127.0.0.1:0")
}

func (b *backend) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rss := req.Traces().ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		for j := 0; j < rss.At(i).ScopeSpans().Len(); j++ {
			spans := rss.At(i).ScopeSpans().At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				b.spans[spans.At(k).TraceID()]++
			}
		}
	}
	return ptraceotlp.NewExportResponse(), nil
}

// logsServer is the logs service of a backend (Export clashes with the traces service's).
type logsServer struct {
	plogotlp.UnimplementedGRPCServer
	b *backend
}

func (s *logsServer) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	rls := req.Logs().ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		for j := 0; j < rls.At(i).ScopeLogs().Len(); j++ {
			recs := rls.At(i).ScopeLogs().At(j).LogRecords()
			for k := 0; k < recs.Len(); k++ {
				b.logs[recs.At(k).TraceID()]++
				b.logRecords++
			}
		}
	}
	return plogotlp.NewExportResponse(), nil
}

func (b *backend) logCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.logRecords
}

// testConfig is the factory's default config with conf applied, as the collector loads it.
func testConfig(t *testing.T, conf map[string]any) *Config {
	t.Helper()
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, confmap.NewFromStringMap(conf).Unmarshal(cfg))
	return cfg
}

// syncOTLP is protocol.otlp as the agent sets it: no queue or retry per endpoint, so a send
// returns once the endpoint answered.
func syncOTLP() map[string]any {
	return map[string]any{
		"timeout":          "2s",
		"tls":              map[string]any{"insecure": true},
		"sending_queue":    map[string]any{"enabled": false},
		"retry_on_failure": map[string]any{"enabled": false},
	}
}

// startBackendAt is startBackend on a given address.
func startBackendAt(t *testing.T, addr string) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	b := &backend{addr: ln.Addr().String(), srv: grpc.NewServer(),
		spans: map[pcommon.TraceID]int{}, logs: map[pcommon.TraceID]int{}}
	ptraceotlp.RegisterGRPCServer(b.srv, b)
	plogotlp.RegisterGRPCServer(b.srv, &logsServer{b: b})
	go func() { _ = b.srv.Serve(ln) }()
	t.Cleanup(b.srv.Stop)
	return b
}
