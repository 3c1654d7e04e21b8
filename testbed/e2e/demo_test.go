package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sieveobs/sieve/testbed/backends"
	"github.com/sieveobs/sieve/testbed/demoapp"
	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/sieveproc"
)

// TestDemoTrafficArrives runs the demo's services (zap + otelzap, OpenTelemetry SDK) through the
// demo pipeline: every error record that carries a uid reaches Loki, the other levels are sampled
// down, records without a uid are dropped, and Prometheus' request counter equals the requests made.
func TestDemoTrafficArrives(t *testing.T) {
	loki := backends.StartLoki(t, backends.LokiOptions{})
	prom := backends.StartPrometheus(t, backends.PrometheusOptions{})
	sieve := sieveproc.StartT(t, sieveproc.Options{
		Config: harness.RepoPath("configs/demo.yaml"),
		Env: map[string]string{
			"SIEVE_LOKI_PUSH_URL":     loki.PushURL(),
			"SIEVE_PROMETHEUS_RW_URL": prom.RemoteWriteURL(),
		},
	})
	stats := &demoapp.Stats{}
	trafficCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, demoapp.Run(trafficCtx, demoapp.Config{Endpoint: sieve.OTLPGRPC, Rate: 60, MetricInterval: time.Second}, stats))
	require.Positive(t, stats.Requests.Load())

	ctx := context.Background()
	sent, noUID := stats.Logs(), stats.LogsWithoutUID()
	wantErrors := map[string]float64{}
	for svc, levels := range sent {
		if n := levels["error"] - noUID[svc]["error"]; n > 0 {
			wantErrors[svc] = float64(n)
		}
	}
	require.NotEmpty(t, wantErrors, "the demo must produce errors for this test to mean anything")
	held := func() (map[string]map[string]float64, error) {
		res, err := loki.QueryMetric(ctx, "", `sum by (service_name, level) (count_over_time({service_name=~".+"}[10m]))`, time.Now())
		if err != nil {
			return nil, err
		}
		out := map[string]map[string]float64{}
		for _, s := range res {
			if out[s.Metric["service_name"]] == nil {
				out[s.Metric["service_name"]] = map[string]float64{}
			}
			out[s.Metric["service_name"]][s.Metric["level"]] = s.Value
		}
		return out, nil
	}
	var got map[string]map[string]float64
	require.Eventually(t, func() bool {
		var err error
		if got, err = held(); err != nil {
			return false
		}
		for svc, n := range wantErrors {
			if got[svc]["error"] != n {
				return false
			}
		}
		return true
	}, time.Minute, time.Second, "errors in Loki %v, want %v", got, wantErrors)

	for svc, levels := range sent {
		var uidRecords int64
		for lvl, n := range levels {
			uidRecords += n - noUID[svc][lvl]
		}
		var kept float64
		for _, n := range got[svc] {
			kept += n
		}
		require.LessOrEqual(t, kept, float64(uidRecords), "%s: more records in Loki than were sent with a uid", svc)
	}
	require.Less(t, got["frontend"]["info"], float64(sent["frontend"]["info"]), "info records must be sampled down")

	require.Eventually(t, func() bool {
		res, err := prom.Query(ctx, `sum(http_server_requests_total{job="frontend"})`, time.Now())
		return err == nil && len(res) == 1 && res[0].Value == float64(stats.Requests.Load())
	}, time.Minute, time.Second, fmt.Sprintf("frontend requests in Prometheus must equal %d", stats.Requests.Load()))
}
