package e2e

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sieveobs/sieve/testbed/backends"
	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/sieveproc"
)

// TestTieredSamplingOnLoki sends a corpus with a known mix through the gateway (classic tiers from
// the live policy) and counts what Loki holds with LogQL: every error and every 5xx present, warn
// and info inside their binomial bounds, records without a uid absent.
func TestTieredSamplingOnLoki(t *testing.T) {
	loki := backends.StartLoki(t, backends.LokiOptions{})
	prom := backends.StartPrometheus(t, backends.PrometheusOptions{})
	// The original design's pipeline: the shipped gateway with the uid rule laid over it.
	sieve := sieveproc.StartT(t, sieveproc.Options{
		Config:   harness.RepoPath("configs/gateway.yaml"),
		Overlays: []string{harness.RepoPath("configs/examples/require-uid.yaml")},
		Env: map[string]string{
			"SIEVE_LOKI_PUSH_URL":     loki.PushURL(),
			"SIEVE_PROMETHEUS_RW_URL": prom.RemoteWriteURL(),
		},
	})
	conn, err := grpc.NewClient(sieve.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := plogotlp.NewGRPCClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	type class struct {
		name     string
		n        int
		severity plog.SeverityNumber
		status   int64 // http.status_code, 0 for none
		// statusText, when set, is http.response.status_code (the current semantic conventions'
		// name) written as text, as loggers that format every field do.
		statusText string
		uid        bool
		percent    float64 // expected keep rate
	}
	classes := []class{
		{"error", 300, plog.SeverityNumberError, 0, "", true, 100},
		{"fatal", 50, plog.SeverityNumberFatal, 0, "", true, 100},
		{"info-5xx", 300, plog.SeverityNumberInfo, 503, "", true, 100},
		{"info-5xx-text", 300, plog.SeverityNumberInfo, 0, "503", true, 100},
		{"warn", 20_000, plog.SeverityNumberWarn, 0, "", true, 10},
		{"info", 200_000, plog.SeverityNumberInfo, 200, "", true, 0.1},
		{"error-no-uid", 200, plog.SeverityNumberError, 0, "", false, 0},
		// Sent last and always kept: the gateway sends to Loki in order (one queue consumer),
		// so once it is in Loki every record before it is too.
		{"last", 1, plog.SeverityNumberError, 0, "", true, 100},
	}
	now := time.Now()
	seq := 0
	for _, c := range classes {
		for sent := 0; sent < c.n; {
			ld := plog.NewLogs()
			rl := ld.ResourceLogs().AppendEmpty()
			rl.Resource().Attributes().PutStr("service.name", "tiered-e2e")
			lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
			for ; sent < c.n && lrs.Len() < 5000; sent++ {
				seq++
				lr := lrs.AppendEmpty()
				lr.SetTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Duration(seq) * time.Microsecond)))
				lr.SetSeverityNumber(c.severity)
				lr.Body().SetStr(fmt.Sprintf("%s record %d", c.name, sent))
				lr.Attributes().PutStr("kind", c.name)
				if c.status != 0 {
					lr.Attributes().PutInt("http.status_code", c.status)
				}
				if c.statusText != "" {
					lr.Attributes().PutStr("http.response.status_code", c.statusText)
				}
				if c.uid {
					lr.Attributes().PutStr("uid", fmt.Sprintf("u%d", seq%1000))
				}
			}
			_, err := client.Export(ctx, plogotlp.NewExportRequestFromLogs(ld))
			require.NoError(t, err)
		}
	}

	counts := map[string]float64{}
	query := `sum by (kind) (count_over_time({service_name="tiered-e2e"}[15m]))`
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

	for _, c := range classes {
		switch c.percent {
		case 100:
			require.Equal(t, float64(c.n), counts[c.name], c.name)
		case 0:
			require.Zero(t, counts[c.name], "%s must be dropped", c.name)
		default:
			// 99.99% binomial interval (z = 3.89).
			p := c.percent / 100
			mean, sd := float64(c.n)*p, math.Sqrt(float64(c.n)*p*(1-p))
			require.InDelta(t, mean, counts[c.name], 3.89*sd, "%s kept %v of %d at %.1f%%", c.name, counts[c.name], c.n, c.percent)
		}
	}

	// Kept sampled records carry their threshold so counts can be re-weighted (10% = th e666).
	streams, err := loki.QueryRange(ctx, "", `{service_name="tiered-e2e"} | kind="warn"`, now.Add(-time.Hour), time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.NotEmpty(t, streams)
	for _, s := range streams {
		for _, e := range s.Entries {
			require.Equal(t, "e666", e.Metadata["sampling_threshold"], "warn record without its 10%% threshold: %+v", e.Metadata)
		}
	}
}

// TestGatewayKeepsRecordsWithoutUID: the shipped gateway requires no attribute, so an error logged
// without a uid reaches Loki like any other; configs/examples/require-uid.yaml adds the rule.
func TestGatewayKeepsRecordsWithoutUID(t *testing.T) {
	loki := backends.StartLoki(t, backends.LokiOptions{})
	sieve := sieveproc.StartT(t, sieveproc.Options{
		Config: harness.RepoPath("configs/gateway.yaml"),
		Env:    map[string]string{"SIEVE_LOKI_PUSH_URL": loki.PushURL(), "SIEVE_TRACES_EXPORTER": "debug/traces"},
	})
	conn, err := grpc.NewClient(sieve.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "no-uid-e2e")
	for i := range 20 {
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetSeverityNumber(plog.SeverityNumberError)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
		lr.Body().SetStr(fmt.Sprintf("error %d", i))
		if i%2 == 0 {
			lr.Attributes().PutStr("uid", "u1")
		}
	}
	_, err = plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(ld))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		res, err := loki.QueryMetric(ctx, "", `sum(count_over_time({service_name="no-uid-e2e"}[10m]))`, time.Now())
		return err == nil && len(res) == 1 && res[0].Value == 20
	}, 30*time.Second, 500*time.Millisecond, "every error, with a uid or without, in Loki")
}
