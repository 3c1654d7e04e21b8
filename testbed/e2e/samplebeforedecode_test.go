package e2e

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/bridges/otelzap"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.uber.org/zap"

	"github.com/sieveobs/sieve/testbed/backends"
	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/sieveproc"
)

// TestZapLogsSampledBeforeDecodeOnLoki logs a known mix with zap through otelzap and the OTel
// SDK into the shipped gateway, whose otlp receiver samples logs before decode, and counts per
// severity what Loki holds: every error and 5xx, warn and info inside their binomial bounds.
// The records carry no trace context, so every one of them is decided on the wire: the
// receiver's count of records dropped before decode must be exactly what Loki lacks, and its
// accepted count every record logged.
func TestZapLogsSampledBeforeDecodeOnLoki(t *testing.T) {
	loki := backends.StartLoki(t, backends.LokiOptions{})
	prom := backends.StartPrometheus(t, backends.PrometheusOptions{})
	sieve := sieveproc.StartT(t, sieveproc.Options{
		Config: harness.RepoPath("configs/gateway.yaml"),
		Env: map[string]string{
			"SIEVE_LOKI_PUSH_URL":     loki.PushURL(),
			"SIEVE_PROMETHEUS_RW_URL": prom.RemoteWriteURL(),
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	exp, err := otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(sieve.OTLPGRPC), otlploggrpc.WithInsecure())
	require.NoError(t, err)
	lp := sdklog.NewLoggerProvider(
		sdklog.WithResource(resource.NewSchemaless(attribute.String("service.name", "zap-e2e"))),
		sdklog.WithProcessor(sdklog.NewBatchProcessor(exp, sdklog.WithMaxQueueSize(200_000), sdklog.WithExportMaxBatchSize(2_000))))
	defer func() { _ = lp.Shutdown(context.Background()) }()
	logger := zap.New(otelzap.NewCore("sample-before-decode-e2e", otelzap.WithLoggerProvider(lp)))

	type class struct {
		name    string
		n       int
		log     func(msg string, fields ...zap.Field)
		status  int
		percent float64
	}
	classes := []class{
		{"error", 300, logger.Error, 0, 100},
		{"info-5xx", 200, logger.Info, 503, 100},
		{"warn", 20_000, logger.Warn, 0, 10},
		{"info", 150_000, logger.Info, 200, 0.1},
		{"debug", 30_000, logger.Debug, 0, 0.1},
		// Logged last and always kept: once Loki holds it, it holds everything before it.
		{"last", 1, logger.Error, 0, 100},
	}
	sent := 0
	for _, c := range classes {
		for i := range c.n {
			fields := []zap.Field{zap.String("kind", c.name), zap.String("uid", fmt.Sprintf("u%d", i%1000))}
			if c.status != 0 {
				fields = append(fields, zap.Int("http.status_code", c.status))
			}
			c.log(fmt.Sprintf("%s record %d", c.name, i), fields...)
			sent++
		}
		// The SDK drops what overflows its queue: flush between classes.
		require.NoError(t, lp.ForceFlush(ctx))
	}

	counts := map[string]float64{}
	query := `sum by (kind) (count_over_time({service_name="zap-e2e"}[15m]))`
	require.Eventually(t, func() bool {
		res, err := loki.QueryMetric(ctx, "", query, time.Now())
		if err != nil {
			return false
		}
		counts = map[string]float64{}
		for _, s := range res {
			counts[s.Metric["kind"]] = s.Value
		}
		return counts["last"] == 1
	}, 2*time.Minute, time.Second, "loki holds %v", counts)
	t.Logf("kept per class: %v", counts)

	inLoki := 0.0
	for _, c := range classes {
		inLoki += counts[c.name]
		switch c.percent {
		case 100:
			require.Equal(t, float64(c.n), counts[c.name], c.name)
		default:
			// 99.99% binomial interval (z = 3.89).
			p := c.percent / 100
			mean, sd := float64(c.n)*p, math.Sqrt(float64(c.n)*p*(1-p))
			require.InDelta(t, mean, counts[c.name], 3.89*sd, "%s kept %v of %d at %.1f%%", c.name, counts[c.name], c.n, c.percent)
		}
	}

	m := harness.ScrapeT(t, sieve.TelemetryURL)
	require.Equal(t, float64(sent), m.Sum("otelcol_receiver_accepted_log_records"), "every record logged is counted as received")
	require.Equal(t, float64(sent)-inLoki, m.Sum("otelcol_receiver_sampled_before_decode", "signal", "logs"),
		"records without trace context are all decided on the wire: what Loki lacks was dropped before decode")
	require.Equal(t, float64(sent)-inLoki, m.Sum("otelcol_processor_tiered_sampling_records_dropped"), "the sampler counts them among its drops")
}
