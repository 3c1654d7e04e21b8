package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sieveobs/sieve/testbed/backends"
	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/sieveproc"
)

// TestGatewayDeliversExactlyWhatWasSent runs the shipped gateway configuration between real Loki
// and real Prometheus and checks, through their query APIs, that every log record the policy
// keeps (errors: all of them) and every metric point sent over OTLP arrived once with its content.
func TestGatewayDeliversExactlyWhatWasSent(t *testing.T) {
	loki := backends.StartLoki(t, backends.LokiOptions{})
	prom := backends.StartPrometheus(t, backends.PrometheusOptions{})
	sieve := sieveproc.StartT(t, sieveproc.Options{
		Config: harness.RepoPath("configs/gateway.yaml"),
		Env: map[string]string{
			"SIEVE_LOKI_PUSH_URL":     loki.PushURL(),
			"SIEVE_PROMETHEUS_RW_URL": prom.RemoteWriteURL(),
		},
	})

	conn, err := grpc.NewClient(sieve.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Logs: 3 services x 200 records, every record with a unique ID and a known body.
	start := time.Now().Add(-time.Minute)
	const perService = 200
	services := []string{"checkout", "payment", "catalog"}
	want := map[string]string{} // id -> body
	ld := plog.NewLogs()
	for si, svc := range services {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", svc)
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for i := range perService {
			id := fmt.Sprintf("%s-%04d", svc, i)
			body := fmt.Sprintf("order %d handled by %s", i, svc)
			want[id] = body
			lr := lrs.AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(si*perService+i) * time.Millisecond)))
			lr.SetSeverityNumber(plog.SeverityNumberError)
			lr.SetSeverityText("error")
			lr.Body().SetStr(body)
			lr.Attributes().PutStr("test_id", id)
			lr.Attributes().PutStr("uid", fmt.Sprintf("u%d", i%17))
		}
	}
	_, err = plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(ld))
	require.NoError(t, err)

	// Metrics: a cumulative counter, a gauge and an explicit-bucket histogram.
	now := time.Now()
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "checkout")
	rm.Resource().Attributes().PutStr("service.instance.id", "checkout-1")
	rm.Resource().Attributes().PutStr("deployment.environment", "e2e")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	sum := ms.AppendEmpty()
	sum.SetName("orders.placed")
	sum.SetUnit("1")
	s := sum.SetEmptySum()
	s.SetIsMonotonic(true)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := s.DataPoints().AppendEmpty()
	dp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Minute)))
	dp.SetTimestamp(pcommon.NewTimestampFromTime(now))
	dp.SetIntValue(1234)
	dp.Attributes().PutStr("region", "eu-west")
	g := ms.AppendEmpty()
	g.SetName("queue.depth")
	gdp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	gdp.SetTimestamp(pcommon.NewTimestampFromTime(now))
	gdp.SetDoubleValue(17.5)
	h := ms.AppendEmpty()
	h.SetName("checkout.duration")
	h.SetUnit("s")
	hh := h.SetEmptyHistogram()
	hh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hdp := hh.DataPoints().AppendEmpty()
	hdp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Minute)))
	hdp.SetTimestamp(pcommon.NewTimestampFromTime(now))
	hdp.ExplicitBounds().FromRaw([]float64{0.05, 0.1, 0.5})
	hdp.BucketCounts().FromRaw([]uint64{10, 20, 5, 1})
	hdp.SetCount(36)
	hdp.SetSum(3.25)
	_, err = pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(md))
	require.NoError(t, err)

	// Loki: every ID exactly once per service, with its body.
	got := map[string]string{}
	var dup []string
	require.Eventually(t, func() bool {
		got, dup = map[string]string{}, nil
		for _, svc := range services {
			streams, err := loki.QueryRange(ctx, "", fmt.Sprintf(`{service_name=%q}`, svc), start.Add(-time.Minute), time.Now().Add(time.Minute))
			if err != nil {
				t.Logf("loki query: %v", err)
				return false
			}
			for _, st := range streams {
				for _, e := range st.Entries {
					id := e.Metadata["test_id"]
					if _, seen := got[id]; seen {
						dup = append(dup, id)
					}
					got[id] = e.Line
				}
			}
		}
		return len(got) >= len(want)
	}, time.Minute, 500*time.Millisecond, "loki holds %d of %d records", len(got), len(want))
	require.Empty(t, dup, "records delivered twice")
	require.Equal(t, want, got)

	// Prometheus: each series with the value sent.
	at := now.Add(time.Second)
	promValue := func(q string) []backends.Sample {
		var res []backends.Sample
		require.Eventually(t, func() bool {
			res, err = prom.Query(ctx, q, at)
			return err == nil && len(res) > 0
		}, time.Minute, 500*time.Millisecond, "query %s: %v", q, err)
		return res
	}
	counter := promValue(`orders_placed_total{job="checkout",instance="checkout-1",region="eu-west"}`)
	require.Len(t, counter, 1)
	require.Equal(t, 1234.0, counter[0].Value)
	gauge := promValue(`queue_depth{job="checkout"}`)
	require.Equal(t, 17.5, gauge[0].Value)
	buckets := promValue(`checkout_duration_seconds_bucket{job="checkout"}`)
	byLe := map[string]float64{}
	for _, b := range buckets {
		byLe[b.Metric["le"]] = b.Value
	}
	require.Equal(t, map[string]float64{"0.05": 10, "0.1": 30, "0.5": 35, "+Inf": 36}, byLe)
	count := promValue(`checkout_duration_seconds_count{job="checkout"}`)
	require.Equal(t, 36.0, count[0].Value)
	total := promValue(`checkout_duration_seconds_sum{job="checkout"}`)
	require.Equal(t, 3.25, total[0].Value)

	info := promValue(`target_info{job="checkout",instance="checkout-1"}`)
	require.Equal(t, "e2e", info[0].Metric["deployment_environment"], "resource attributes become target_info labels")
}
