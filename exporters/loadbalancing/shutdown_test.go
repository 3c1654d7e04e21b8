package loadbalancing

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/sieveobs/sieve/exporters/loadbalancing/internal/metadata"
)

// hangingEndpoint accepts TCP connections and never answers, as a gateway stuck in a GC storm
// or behind a black-holed route: a gRPC send waits for its whole timeout.
type hangingEndpoint struct {
	ln       net.Listener
	accepted chan struct{}
	mu       sync.Mutex
	conns    []net.Conn
}

func startHanging(t *testing.T) *hangingEndpoint {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	h := &hangingEndpoint{ln: ln, accepted: make(chan struct{}, 64)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
			h.accepted <- struct{}{}
		}
	}()
	return h
}

// release closes everything, so that the sends still waiting fail and their goroutines end.
func (h *hangingEndpoint) release() {
	_ = h.ln.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		_ = c.Close()
	}
}

// Against a gateway that never answers, Shutdown returns at shutdown_timeout instead of waiting
// for the drain's sends, each up to protocol.otlp's timeout (a minute here).
func TestShutdownBoundedAgainstHangingGateway(t *testing.T) {
	h := startHanging(t)
	otlp := syncOTLP()
	otlp["timeout"] = "1m"
	cfg := testConfig(t, map[string]any{
		"routing_key":      "traceID",
		"shutdown_timeout": "300ms",
		"timeout":          "1m",
		"sending_queue":    map[string]any{"enabled": true},
		"retry_on_failure": map[string]any{"enabled": true},
		"protocol":         map[string]any{"otlp": otlp},
		"resolver":         map[string]any{"static": map[string]any{"hostnames": []string{h.ln.Addr().String()}}},
	})
	exp, err := NewFactory().CreateTraces(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))

	td := ptrace.NewTraces()
	span := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetTraceID(pcommon.TraceID{1, 2, 3})
	span.SetSpanID(pcommon.SpanID{4})
	require.NoError(t, exp.ConsumeTraces(context.Background(), td)) // queued in memory
	select {
	case <-h.accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the send never reached the endpoint")
	}

	began := time.Now()
	require.NoError(t, exp.Shutdown(context.Background()))
	took := time.Since(began)
	t.Logf("Shutdown returned after %s (shutdown_timeout 300ms, send timeout 1m)", took)
	require.GreaterOrEqual(t, took, 250*time.Millisecond, "Shutdown waited for the sends until the bound")
	require.Less(t, took, 5*time.Second, "Shutdown is bounded by shutdown_timeout")

	// The abandoned drain ends once its send fails, before goleak looks.
	h.release()
	select {
	case <-exp.(*boundedTraces).b.innerDone:
	case <-time.After(30 * time.Second):
		t.Fatal("the abandoned shutdown never ended")
	}
}
