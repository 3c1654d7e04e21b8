package load

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/loadgen"
	"github.com/sieveobs/sieve/testbed/sieveproc"
	"github.com/sieveobs/sieve/testbed/sinks"
)

// Gateway is bin/sieve running the gateway configuration with every exporter pointed at one
// counting sink: logs at its Loki push API, metrics at its remote-write endpoint (which counts
// every data point by the ID its sieve_test_id label carries, so a lost point made up for by a
// duplicate shows), and the sampled traces (which the gateway prints with its debug exporter) at
// its OTLP gRPC endpoint.
type Gateway struct {
	Sink   *sinks.Sink
	Proc   *sieveproc.Process
	Config string
	// PprofAddr serves the pprof extension (goroutine profile).
	PprofAddr string
}

// GatewayOptions adjust StartGateway.
type GatewayOptions struct {
	// PolicyFile replaces the shipped sampling policy (SIEVE_POLICY_FILE).
	PolicyFile string
	// Env adds environment variables for Sieve.
	Env map[string]string
	// Edits change the derived configuration further.
	Edits []Edit
	// LogPath keeps Sieve's log there instead of in its temporary directory.
	LogPath string
}

// StartGateway starts the sink and Sieve; both stop at the test's cleanup, Sieve first so it
// can drain into the sink.
func StartGateway(t testing.TB, opts GatewayOptions) *Gateway {
	t.Helper()
	sink, err := sinks.Start()
	if err != nil {
		t.Fatalf("start sink: %v", err)
	}
	t.Cleanup(func() {
		if err := sink.Close(); err != nil {
			t.Errorf("close sink: %v", err)
		}
	})
	// The original design's pipeline, which the load data models: records without a uid dropped.
	cfg, err := GatewayConfig(t.TempDir(), append([]Edit{SampledTracesTo(sink.GRPCAddr), Overlay("configs/examples/require-uid.yaml")}, opts.Edits...)...)
	if err != nil {
		t.Fatalf("derive gateway config: %v", err)
	}
	ports, err := harness.FreePorts(1)
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	g := &Gateway{Sink: sink, Config: cfg, PprofAddr: fmt.Sprintf("127.0.0.1:%d", ports[0])}
	env := map[string]string{
		"SIEVE_LOKI_PUSH_URL":     sink.HTTPURL + "/loki/api/v1/push",
		"SIEVE_PROMETHEUS_RW_URL": sink.HTTPURL + "/api/v1/write",
		"SIEVE_PPROF_ENDPOINT":    g.PprofAddr,
	}
	if opts.PolicyFile != "" {
		env["SIEVE_POLICY_FILE"] = opts.PolicyFile
	}
	for k, v := range opts.Env {
		env[k] = v
	}
	g.Proc = sieveproc.StartT(t, sieveproc.Options{Config: cfg, Env: env, LogPath: opts.LogPath})
	return g
}

// Counts reads what arrived of a signal.
func (g *Gateway) Counts(sig loadgen.Signal) sinks.Counts {
	switch sig {
	case loadgen.Traces:
		return g.Sink.Traces.Snapshot()
	case loadgen.Metrics:
		return g.Sink.RemoteWrite.IDs.Snapshot()
	}
	return g.Sink.Loki.Snapshot()
}

// DecodeFailures lists requests the sink could not decode: items in them were not counted.
func (g *Gateway) DecodeFailures() []string { return g.Sink.DecodeFailures() }

// WaitTailIdle waits, up to limit, until the gateway holds nothing for tail decisions: no spans
// waiting for their trace's decision and no log records waiting for it. Records that failed their
// tier wait up to follow_traces.wait before they are passed on or dropped, so a drain that did not
// wait for them would judge a run before its sampled logs could arrive.
func (g *Gateway) WaitTailIdle(ctx context.Context, client *http.Client, limit time.Duration) error {
	end := time.Now().Add(limit)
	for {
		m, err := harness.Scrape(ctx, client, g.Proc.TelemetryURL)
		if err != nil {
			return err
		}
		held := m.Sum("otelcol_processor_trace_sampling_buffered_spans") +
			m.Sum("otelcol_processor_tiered_sampling_held_records")
		if held == 0 {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("gateway still holds %.0f spans and records after %s", held, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
