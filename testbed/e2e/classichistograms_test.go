package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"

	"github.com/sieveobs/sieve/testbed/backends"
	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/sieveproc"
)

// TestClassicAndNativeBucketsThroughAgentAndGateway scrapes a client_golang histogram that has
// both classic buckets and native ones with the shipped agent, through the shipped gateway into
// real Prometheus: every classic bucket, the count and the sum arrive exactly, and the native
// histogram too, so dashboards and alerts on either form see the service.
func TestClassicAndNativeBucketsThroughAgentAndGateway(t *testing.T) {
	prom := backends.StartPrometheus(t, backends.PrometheusOptions{})

	// The service: the design documents' fine classic buckets plus native buckets.
	bounds := []float64{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5}
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:                        "checkout_request_duration_seconds",
		Help:                        "Duration of checkout requests.",
		Buckets:                     bounds,
		NativeHistogramBucketFactor: 1.1,
	})
	reg.MustRegister(h)
	rng := rand.New(rand.NewPCG(5, 18))
	const n = 5000
	values := make([]float64, n)
	for i := range values {
		values[i] = 0.06 * math.Exp(0.7*rng.NormFloat64())
		h.Observe(values[i])
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	gateway := sieveproc.StartT(t, sieveproc.Options{
		Config: harness.RepoPath("configs/gateway.yaml"),
		Env: map[string]string{
			// No logs are sent: Loki is not needed.
			"SIEVE_LOKI_PUSH_URL":     "http://127.0.0.1:1/loki/api/v1/push",
			"SIEVE_PROMETHEUS_RW_URL": prom.RemoteWriteURL(),
		},
	})
	host, port, err := net.SplitHostPort(gateway.OTLPGRPC)
	require.NoError(t, err)
	targets := t.TempDir()
	sd, err := json.Marshal([]map[string]any{{"targets": []string{ln.Addr().String()}, "labels": map[string]string{"service": "checkout"}}})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(targets, "checkout.json"), sd, 0o644))
	sieveproc.StartT(t, sieveproc.Options{
		Config: harness.RepoPath("configs/agent.yaml"),
		Env: map[string]string{
			"SIEVE_GATEWAY_HOST":       host,
			"SIEVE_GATEWAY_PORT":       port,
			"SIEVE_SCRAPE_TARGETS_DIR": targets,
			"SIEVE_SCRAPE_INTERVAL":    "1s",
			"SIEVE_LOG_GLOB":           filepath.Join(t.TempDir(), "*.log"),
		},
	})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	value := func(q string) (float64, bool) {
		res, err := prom.Query(ctx, q, time.Now())
		if err != nil || len(res) != 1 {
			return 0, false
		}
		return res[0].Value, true
	}
	var count float64
	for deadline := time.Now().Add(90 * time.Second); count != n; time.Sleep(500 * time.Millisecond) {
		count, _ = value(`sum(checkout_request_duration_seconds_count)`)
		require.True(t, time.Now().Before(deadline), "classic _count never reached %d (last %v): classic buckets dropped?", n, count)
	}

	sort.Float64s(values)
	var sum float64
	for _, v := range values {
		sum += v
	}
	got, ok := value(`sum(checkout_request_duration_seconds_sum)`)
	require.True(t, ok, "classic _sum")
	require.InEpsilon(t, sum, got, 1e-9)
	for _, le := range append(bounds, math.Inf(1)) {
		want := sort.SearchFloat64s(values, math.Nextafter(le, math.Inf(1))) // observations <= le
		leLabel := strconv.FormatFloat(le, 'f', -1, 64)
		if math.IsInf(le, 1) {
			leLabel = "+Inf"
		}
		got, ok := value(fmt.Sprintf(`sum(checkout_request_duration_seconds_bucket{le=%q})`, leLabel))
		require.True(t, ok, "bucket le=%s", leLabel)
		require.Equal(t, float64(want), got, "bucket le=%s", leLabel)
	}
	native, ok := value(`sum(histogram_count(checkout_request_duration_seconds))`)
	require.True(t, ok, "the native histogram arrives beside the classic one")
	require.Equal(t, float64(n), native)
	t.Logf("%d observations: %d classic buckets, _count and _sum exact; native count %v", n, len(bounds)+1, native)
}
