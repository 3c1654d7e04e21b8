package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	prw "github.com/sieveobs/sieve/exporters/prometheusremotewrite"
	"github.com/sieveobs/sieve/testbed/backends"
)

// startPRWExporter builds the exporter through its factory with the
// default protocol (2.0), waiting for each push's result so that a nil
// ConsumeMetrics means Prometheus accepted the data.
func startPRWExporter(t *testing.T, endpoint string) exporter.Metrics {
	t.Helper()
	f := prw.NewFactory()
	cfg := f.CreateDefaultConfig().(*prw.Config)
	cfg.Endpoint = endpoint
	cfg.RetryConfig.Enabled = false
	q := cfg.QueueConfig.Get()
	q.WaitForResult = true
	q.Batch = configoptional.None[exporterhelper.BatchConfig]()
	require.NoError(t, cfg.Validate())
	exp, err := f.CreateMetrics(context.Background(), exportertest.NewNopSettings(component.MustNewType("prometheus_remote_write")), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	return exp
}

func prwTestMetrics(t0, t1 time.Time) pmetric.Metrics {
	ts0, ts1 := pcommon.NewTimestampFromTime(t0), pcommon.NewTimestampFromTime(t1)
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "e2e")
	rm.Resource().Attributes().PutStr("service.instance.id", "i-1")
	rm.Resource().Attributes().PutStr("deployment.environment", "test")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()

	c := ms.AppendEmpty()
	c.SetName("e2e.requests")
	sum := c.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for i, v := range []int64{10, 25} {
		dp := sum.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(ts0)
		dp.SetTimestamp([]pcommon.Timestamp{ts0, ts1}[i])
		dp.SetIntValue(v)
		dp.Attributes().PutStr("route", "/cart")
	}

	g := ms.AppendEmpty()
	g.SetName("e2e.temperature")
	g.SetUnit("Cel")
	gauge := g.SetEmptyGauge()
	for _, kv := range []struct {
		room string
		v    float64
	}{{"lab", 21.5}, {"oven", math.Inf(1)}} {
		dp := gauge.DataPoints().AppendEmpty()
		dp.SetTimestamp(ts1)
		dp.SetDoubleValue(kv.v)
		dp.Attributes().PutStr("room", kv.room)
	}

	h := ms.AppendEmpty()
	h.SetName("e2e.duration")
	h.SetUnit("s")
	hist := h.SetEmptyHistogram()
	hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hdp := hist.DataPoints().AppendEmpty()
	hdp.SetStartTimestamp(ts0)
	hdp.SetTimestamp(ts1)
	hdp.ExplicitBounds().FromRaw([]float64{0.1, 1})
	hdp.BucketCounts().FromRaw([]uint64{2, 3, 1})
	hdp.SetCount(6)
	hdp.SetSum(2.5)
	ex := hdp.Exemplars().AppendEmpty()
	ex.SetDoubleValue(0.5)
	ex.SetTimestamp(ts1)
	ex.SetTraceID(pcommon.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36})

	// Two delta points: the exporter must send their cumulative sum as a
	// native histogram.
	e := ms.AppendEmpty()
	e.SetName("e2e.latency")
	e.SetUnit("s")
	eh := e.SetEmptyExponentialHistogram()
	eh.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	for i, ts := range []pcommon.Timestamp{ts0, ts1} {
		dp := eh.DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetScale(0)
		// Bucket 0 at scale 0 is (1,2], bucket 1 is (2,4].
		dp.Positive().SetOffset(0)
		dp.Positive().BucketCounts().FromRaw([]uint64{uint64(1 + i), 2})
		dp.SetCount(uint64(3 + i))
		dp.SetSum(float64(7 + i))
	}
	return md
}

type promExemplar struct {
	Labels map[string]string `json:"labels"`
	Value  string            `json:"value"`
}

func queryExemplars(ctx context.Context, base, promql string, start, end time.Time) ([]promExemplar, error) {
	q := url.Values{}
	q.Set("query", promql)
	q.Set("start", strconv.FormatInt(start.Unix(), 10))
	q.Set("end", strconv.FormatInt(end.Unix()+1, 10))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/query_exemplars?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	// No keep-alive: the test must not leave idle connections behind.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Data   []struct {
			Exemplars []promExemplar `json:"exemplars"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query_exemplars: status %q", body.Status)
	}
	var out []promExemplar
	for _, d := range body.Data {
		out = append(out, d.Exemplars...)
	}
	return out, nil
}

// TestPRWExporterAgainstPrometheus sends every metric kind to real
// Prometheus 2.42, which only speaks Remote Write 1.0, and checks through
// the query API that counters, gauges, classic and native histograms and
// exemplars arrived with their values.
func TestPRWExporterAgainstPrometheus(t *testing.T) {
	prom := backends.StartPrometheus(t, backends.PrometheusOptions{})
	exp := startPRWExporter(t, prom.RemoteWriteURL())
	ctx := context.Background()

	t1 := time.Now().Truncate(time.Second)
	t0 := t1.Add(-30 * time.Second)
	require.NoError(t, exp.ConsumeMetrics(ctx, prwTestMetrics(t0, t1)))

	query := func(promql string) []backends.Sample {
		t.Helper()
		res, err := prom.Query(ctx, promql, t1)
		require.NoError(t, err, promql)
		return res
	}
	value := func(promql string) float64 {
		t.Helper()
		res := query(promql)
		require.Len(t, res, 1, promql)
		return res[0].Value
	}

	require.InDelta(t, 25, value(`e2e_requests_total{job="e2e",instance="i-1",route="/cart"}`), 0)
	require.InDelta(t, 10, value(`e2e_requests_total @ `+strconv.FormatInt(t0.Unix(), 10)), 0)
	require.InDelta(t, 21.5, value(`e2e_temperature_celsius{room="lab"}`), 0)
	require.True(t, math.IsInf(value(`e2e_temperature_celsius{room="oven"}`), 1))
	require.InDelta(t, 1, value(`target_info{job="e2e",instance="i-1",deployment_environment="test"}`), 0)

	require.InDelta(t, 2, value(`e2e_duration_seconds_bucket{le="0.1"}`), 0)
	require.InDelta(t, 5, value(`e2e_duration_seconds_bucket{le="1"}`), 0)
	require.InDelta(t, 6, value(`e2e_duration_seconds_bucket{le="+Inf"}`), 0)
	require.InDelta(t, 6, value(`e2e_duration_seconds_count`), 0)
	require.InDelta(t, 2.5, value(`e2e_duration_seconds_sum`), 0)

	res := query(`e2e_latency_seconds{job="e2e"}`)
	require.Len(t, res, 1)
	require.NotNil(t, res[0].Histogram, "exponential histogram must arrive as a native histogram")
	nh := res[0].Histogram
	require.InDelta(t, 7, nh.Count, 0, "delta points 3 and 4 accumulate to 7")
	require.InDelta(t, 15, nh.Sum, 0)
	buckets := map[[2]float64]float64{}
	for _, b := range nh.Buckets {
		buckets[[2]float64{b.Lower, b.Upper}] = b.Count
	}
	require.Equal(t, map[[2]float64]float64{{1, 2}: 3, {2, 4}: 4}, buckets)
	require.InDelta(t, 7, value(`histogram_count(e2e_latency_seconds)`), 0)

	exs, err := queryExemplars(ctx, prom.URL, `e2e_duration_seconds_bucket`, t0, t1)
	require.NoError(t, err)
	require.Len(t, exs, 1)
	require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", exs[0].Labels["trace_id"])
	require.Equal(t, "0.5", exs[0].Value)
}

// TestPRWExporterStalenessOnPrometheus checks that a series which stops
// reporting is ended by a staleness marker, for a float series and a
// native histogram, instead of lingering for Prometheus' 5m lookback.
func TestPRWExporterStalenessOnPrometheus(t *testing.T) {
	prom := backends.StartPrometheus(t, backends.PrometheusOptions{})
	f := prw.NewFactory()
	cfg := f.CreateDefaultConfig().(*prw.Config)
	cfg.Endpoint = prom.RemoteWriteURL()
	cfg.Staleness.StaleAfter = time.Second
	cfg.QueueConfig.Get().WaitForResult = true
	cfg.QueueConfig.Get().Batch = configoptional.None[exporterhelper.BatchConfig]()
	require.NoError(t, cfg.Validate())
	exp, err := f.CreateMetrics(context.Background(), exportertest.NewNopSettings(component.MustNewType("prometheus_remote_write")), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	ctx := context.Background()

	now := time.Now()
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "stale")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	g := ms.AppendEmpty()
	g.SetName("stale.gauge")
	gdp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	gdp.SetTimestamp(pcommon.NewTimestampFromTime(now))
	gdp.SetDoubleValue(1)
	h := ms.AppendEmpty()
	h.SetName("stale.native")
	hdp := h.SetEmptyExponentialHistogram().DataPoints().AppendEmpty()
	hdp.SetTimestamp(pcommon.NewTimestampFromTime(now))
	hdp.SetCount(2)
	hdp.SetSum(3)
	hdp.Positive().BucketCounts().FromRaw([]uint64{2})
	require.NoError(t, exp.ConsumeMetrics(ctx, md))

	for _, q := range []string{`stale_gauge{job="stale"}`, `stale_native{job="stale"}`} {
		res, err := prom.Query(ctx, q, now)
		require.NoError(t, err)
		require.Len(t, res, 1, q)
	}
	// Nothing more is pushed: with no traffic at all the exporter's own
	// sweep must send the markers.
	require.Eventually(t, func() bool {
		for _, q := range []string{`stale_gauge{job="stale"}`, `stale_native{job="stale"}`} {
			res, err := prom.Query(ctx, q, time.Now().Add(time.Second))
			if err != nil || len(res) != 0 {
				return false
			}
		}
		return true
	}, 30*time.Second, 200*time.Millisecond)
}
