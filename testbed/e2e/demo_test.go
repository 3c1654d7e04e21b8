package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sieveobs/sieve/testbed/backends"
	"github.com/sieveobs/sieve/testbed/demoapp"
	"github.com/sieveobs/sieve/testbed/sieveproc"
)

// TestDemoTrafficArrives runs the demo's services (zap + otelzap, OpenTelemetry SDK) through the
// demo pipeline and checks that Loki holds every log record per service and that Prometheus'
// request counter equals the requests made.
func TestDemoTrafficArrives(t *testing.T) {
	loki := backends.StartLoki(t, backends.LokiOptions{})
	prom := backends.StartPrometheus(t, backends.PrometheusOptions{})
	sieve := sieveproc.StartT(t, sieveproc.Options{
		Config: sieveproc.RepoPath("configs/demo.yaml"),
		Env: map[string]string{
			"SIEVE_LOKI_OTLP_URL":     loki.OTLPURL(),
			"SIEVE_LOKI_PUSH_URL":     loki.PushURL(),
			"SIEVE_PROMETHEUS_RW_URL": prom.RemoteWriteURL(),
		},
	})
	start := time.Now()
	stats := &demoapp.Stats{}
	trafficCtx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	require.NoError(t, demoapp.Run(trafficCtx, demoapp.Config{Endpoint: sieve.OTLPGRPC, Rate: 50, MetricInterval: time.Second}, stats))
	require.Positive(t, stats.Requests.Load())

	ctx := context.Background()
	sent := stats.Logs()
	got := map[string]float64{}
	require.Eventually(t, func() bool {
		res, err := loki.QueryMetric(ctx, "", `sum by (service_name) (count_over_time({service_name=~".+"}[10m]))`, time.Now())
		if err != nil {
			return false
		}
		got = map[string]float64{}
		for _, s := range res {
			got[s.Metric["service_name"]] = s.Value
		}
		for svc, levels := range sent {
			var n int64
			for _, c := range levels {
				n += c
			}
			if got[svc] != float64(n) {
				return false
			}
		}
		return true
	}, time.Minute, time.Second, "loki per service %v, sent %v", got, sent)

	// Errors are findable by level in structured metadata, as the demo's example query does.
	errs, err := loki.QueryRange(ctx, "", `{service_name="payment"} | severity_text="error"`, start.Add(-time.Minute), time.Now().Add(time.Minute))
	require.NoError(t, err)
	var nErr int
	for _, s := range errs {
		nErr += len(s.Entries)
	}
	require.Equal(t, int(sent["payment"]["error"]), nErr)

	require.Eventually(t, func() bool {
		res, err := prom.Query(ctx, `sum(http_server_requests_total{job="frontend"})`, time.Now())
		return err == nil && len(res) == 1 && res[0].Value == float64(stats.Requests.Load())
	}, time.Minute, time.Second, fmt.Sprintf("frontend requests in Prometheus must equal %d", stats.Requests.Load()))
}
