package load

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/loadgen"
	"github.com/sieveobs/sieve/testbed/sinks"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// traceRate is the only trace rate of testdata/policy.yaml.
const traceRate = 0.05

// loadData raises the share of must-keep and must-drop items over the benchmark mix (as the
// correctness runs do), so a few seconds of traffic hold hundreds of each.
var loadData = loadgen.DataConfig{ErrorRatio: 0.03, WarnRatio: 0.10, Status5xxRatio: 0.01, MissingUIDRatio: 0.03, Templates: 32}

var signals = []loadgen.Signal{loadgen.Logs, loadgen.Traces, loadgen.Metrics}

// exporterOf names the gateway exporter whose delivery each signal's count checks.
var exporterOf = map[loadgen.Signal]string{loadgen.Logs: "loki", loadgen.Traces: "otlp_grpc/sink", loadgen.Metrics: "prometheus_remote_write"}

// itemSuffix is the item word of the collector's exporter metrics per signal.
var itemSuffix = map[loadgen.Signal]string{loadgen.Logs: "log_records", loadgen.Traces: "spans", loadgen.Metrics: "metric_points"}

func policyFile(t testing.TB) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", "policy.yaml"))
	require.NoError(t, err)
	return p
}

func newClient(t testing.TB) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 2}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// TestLoad drives each signal through the gateway over OTLP gRPC and OTLP HTTP at fixed rates and
// checks the loss rule on what Sieve acknowledged. The short run (10k items/s for 5 s) is part of
// every test run; SIEVE_LONG=1 runs 10k and 100k items/s for 60 s each. On a small machine the
// higher rate may not be reached: the achieved rate is reported, and only acked items are judged.
func TestLoad(t *testing.T) {
	rates, dur := []float64{10_000}, 5*time.Second
	if harness.Long() {
		rates, dur = []float64{10_000, 100_000}, 60*time.Second
	}
	for _, rate := range rates {
		for _, sig := range signals {
			for _, proto := range []string{"grpc", "http"} {
				t.Run(fmt.Sprintf("%s/%s/%dk", sig, proto, int(rate/1000)), func(t *testing.T) {
					runLoad(t, sig, proto, rate, dur)
				})
			}
		}
	}
}

func runLoad(t *testing.T, sig loadgen.Signal, proto string, rate float64, dur time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), dur+5*time.Minute)
	defer cancel()
	g := StartGateway(t, GatewayOptions{PolicyFile: policyFile(t)})
	client := newClient(t)
	exp := GatewayExpectations(traceRate)[sig]

	ep := g.Proc.OTLPGRPC
	if proto == "http" {
		ep = g.Proc.OTLPHTTP
	}
	// 100 items per request: enough senders that each needs a reply within ~30 ms to keep up.
	gen, err := loadgen.New(loadgen.Config{Signal: sig, Protocol: proto, Endpoint: ep, Rate: rate,
		Concurrency: max(4, int(rate/100/30)), Duration: dur, Data: loadData})
	require.NoError(t, err)
	defer gen.Close()

	cpu0, err := harness.CPUSeconds(g.Proc.PID())
	require.NoError(t, err)
	start := time.Now()
	gen.Run(ctx)
	loadSecs := time.Since(start).Seconds()
	st := gen.Stats()
	require.NoError(t, g.WaitTailIdle(ctx, client, time.Minute))
	Drain(ctx, func() sinks.Counts { return g.Counts(sig) }, st, exp, 2*time.Second, 15*time.Second, 2*time.Minute, g.Proc.Exited)
	require.False(t, g.Proc.Exited(), "sieve exited during the run:\n%s", g.Proc.LogTail(40))
	cpu1, err := harness.CPUSeconds(g.Proc.PID())
	require.NoError(t, err)
	hwm, err := harness.StatusKiB(g.Proc.PID(), "VmHWM")
	require.NoError(t, err)
	tel, err := harness.Scrape(ctx, client, g.Proc.TelemetryURL)
	require.NoError(t, err)

	got := g.Counts(sig)
	v := Judge(st, got, exp)
	exportFailed := tel.Sum("otelcol_exporter_send_failed_"+itemSuffix[sig], "exporter", exporterOf[sig]) +
		tel.Sum("otelcol_exporter_enqueue_failed_"+itemSuffix[sig], "exporter", exporterOf[sig])
	cpu := cpu1 - cpu0
	t.Logf("%s/%s target %.0f/s achieved %.0f/s over %.1fs | sent %d acked %d failed_requests %d | delivered %d expected %.0f duplicates %d | sieve cpu %.1fs (%.0f%% of the load time, %.1f s per million acked) peak_rss %.0f MiB | exporter failures %.0f",
		sig, proto, rate, float64(st.Acked())/loadSecs, loadSecs, st.Sent(), st.Acked(), st.FailedRequests,
		v.Delivered, v.Expected, v.Duplicates, cpu, 100*cpu/loadSecs, cpu/float64(max(st.Acked(), 1))*1e6,
		float64(hwm)/1024, exportFailed)
	if st.FailedRequests > 0 {
		t.Logf("last refusal: %s", st.LastError)
	}

	require.Empty(t, g.DecodeFailures(), "the endpoints could not decode what Sieve sent, so counts are incomplete")
	require.NotZero(t, st.Acked(), "sieve acknowledged nothing: %s", st.LastError)
	for c, f := range exp.Fractions {
		if f > 0 && st.AckedItems[c] > 0 {
			require.NotZero(t, got.Unique[c], "class %s never arrived", c)
		}
	}
	require.Empty(t, v.Problems, "%s", strings.Join(v.Problems, "; "))
}
