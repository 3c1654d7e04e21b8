package prometheusremotewrite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/sieveobs/sieve/exporters/prometheusremotewrite/internal/metadatatest"
)

func oneGauge(ts int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	addGauge(newResource(md, "svc", "i-1"), "g", float64(ts), tsAt(ts))
	return md
}

func TestHeaders(t *testing.T) {
	tests := []struct {
		name     string
		protocol string
		tenant   string
		want     map[string]string
	}{
		{
			name:     "v2",
			protocol: protocolV2,
			want: map[string]string{
				"Content-Encoding":                  "snappy",
				"Content-Type":                      "application/x-protobuf;proto=io.prometheus.write.v2.Request",
				"X-Prometheus-Remote-Write-Version": "2.0.0",
				"User-Agent":                        "otelcol/latest",
				"Authorization":                     "Bearer abc",
			},
		},
		{
			name:     "v1 with tenant",
			protocol: protocolV1,
			tenant:   "team-a",
			want: map[string]string{
				"Content-Encoding":                  "snappy",
				"Content-Type":                      "application/x-protobuf",
				"X-Prometheus-Remote-Write-Version": "0.1.0",
				"User-Agent":                        "otelcol/latest",
				"X-Scope-Orgid":                     "team-a",
				"Authorization":                     "Bearer abc",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := newFakeReceiver(t)
			cfg := testConfig(rcv.url())
			cfg.Protocol = tt.protocol
			cfg.TenantID = tt.tenant
			cfg.Headers = configopaque.MapList{{Name: "Authorization", Value: "Bearer abc"}}
			e := startRaw(t, cfg, time.Now)
			require.NoError(t, e.pushMetrics(context.Background(), oneGauge(1)))
			reqs := rcv.accepted()
			require.Len(t, reqs, 1)
			for k, v := range tt.want {
				require.Equal(t, v, reqs[0].header.Get(k), k)
			}
			require.Equal(t, tt.protocol == protocolV2, reqs[0].v2)
		})
	}
}

func TestReservedHeadersCannotBeConfigured(t *testing.T) {
	for _, h := range reservedHeaders {
		t.Run(h, func(t *testing.T) {
			cfg := testConfig("http://localhost:9090/api/v1/write")
			cfg.Headers = configopaque.MapList{{Name: h, Value: "override"}}
			require.ErrorContains(t, cfg.Validate(), h)
		})
	}
}

func TestStatusClassification(t *testing.T) {
	tests := []struct {
		code       int
		retryAfter string
		wantErr    bool
		permanent  bool
		throttle   string
	}{
		{code: 200},
		{code: 204},
		{code: 300, wantErr: true, permanent: true},
		{code: 400, wantErr: true, permanent: true},
		{code: 401, wantErr: true, permanent: true},
		{code: 403, wantErr: true, permanent: true},
		{code: 404, wantErr: true, permanent: true},
		{code: 409, wantErr: true, permanent: true},
		{code: 413, wantErr: true, permanent: true},
		{code: 415, wantErr: true, permanent: true},
		{code: 422, wantErr: true, permanent: true},
		{code: 429, wantErr: true},
		{code: 429, retryAfter: "7", wantErr: true, throttle: "Throttle (7s)"},
		{code: 500, wantErr: true},
		{code: 502, wantErr: true},
		{code: 503, wantErr: true},
		{code: 503, retryAfter: "Tue, 14 Nov 2023 22:14:00 GMT", wantErr: true, throttle: "Throttle (1m40s)"},
		{code: 504, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d%s", tt.code, tt.retryAfter), func(t *testing.T) {
			rcv := newFakeReceiver(t)
			rcv.setRespond(func(*received) (int, http.Header) {
				h := http.Header{}
				if tt.retryAfter != "" {
					h.Set("Retry-After", tt.retryAfter)
				}
				return tt.code, h
			})
			cfg := testConfig(rcv.url())
			// 1.0 so that 415 is a plain rejection, not a fallback.
			cfg.Protocol = protocolV1
			clock := newTestClock()
			// 100s before the HTTP date above.
			clock.t = time.Date(2023, 11, 14, 22, 12, 20, 0, time.UTC)
			e := startRaw(t, cfg, clock.now)
			err := e.pushMetrics(context.Background(), oneGauge(1))
			if !tt.wantErr {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Equal(t, tt.permanent, consumererror.IsPermanent(err))
			require.ErrorContains(t, err, "HTTP "+strconv.Itoa(tt.code))
			if tt.throttle != "" {
				require.ErrorContains(t, err, tt.throttle)
			} else {
				require.NotContains(t, err.Error(), "Throttle")
			}
			if !tt.permanent {
				var me consumererror.Metrics
				require.ErrorAs(t, err, &me)
				require.Equal(t, 1, me.Data().DataPointCount(), "the failed point is handed back for retry")
			}
		})
	}
}

func TestConnectionErrorIsRetryable(t *testing.T) {
	rcv := newFakeReceiver(t)
	cfg := testConfig(rcv.url())
	rcv.srv.Close()
	e := startRaw(t, cfg, time.Now)
	err := e.pushMetrics(context.Background(), oneGauge(1))
	require.Error(t, err)
	require.False(t, consumererror.IsPermanent(err))
}

func TestFallbackToV1(t *testing.T) {
	tests := []struct {
		name    string
		respond func(r *received) (int, http.Header)
	}{
		{
			name: "415",
			respond: func(r *received) (int, http.Header) {
				if r.v2 {
					return http.StatusUnsupportedMediaType, nil
				}
				return http.StatusNoContent, nil
			},
		},
		{
			// Prometheus before 2.5x decodes any body as 1.0, finds nothing
			// in a 2.0 message and answers 204 without written counts.
			name: "2xx without written headers",
			respond: func(*received) (int, http.Header) {
				return http.StatusNoContent, nil
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := newFakeReceiver(t)
			rcv.setRespond(tt.respond)
			tel := componenttest.NewTelemetry()
			t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
			e, err := newExporter(testConfig(rcv.url()), metadatatest.NewSettings(tel), time.Now)
			require.NoError(t, err)
			require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
			t.Cleanup(func() { require.NoError(t, e.shutdown(context.Background())) })

			require.NoError(t, e.pushMetrics(context.Background(), oneGauge(1)))
			require.NoError(t, e.pushMetrics(context.Background(), oneGauge(2)))
			var v1 []int64
			for _, r := range rcv.accepted() {
				if r.v2 {
					continue
				}
				for _, s := range r.series {
					if labelString(s.Labels) == `g{instance="i-1",job="svc"}` {
						v1 = append(v1, s.Samples[0].Timestamp)
					}
				}
			}
			require.Equal(t, []int64{int64(tsAt(1)) / 1e6, int64(tsAt(2)) / 1e6}, v1, "both batches arrive as 1.0, in order")
			require.True(t, e.v1Only.Load())
			metadatatest.AssertEqualExporterPrometheusRemoteWriteProtocolFallbacks(t, tel,
				[]metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
		})
	}
}

func TestV2RoundTrip(t *testing.T) {
	rcv := newFakeReceiver(t)
	cfg := testConfig(rcv.url())
	e := startRaw(t, cfg, time.Now)
	md := goldenCases()["native_histogram"]()
	require.NoError(t, e.pushMetrics(context.Background(), md))
	var got []prompb.TimeSeries
	for _, r := range rcv.accepted() {
		require.True(t, r.v2)
		got = append(got, r.series...)
	}
	b := newBatch()
	newTranslator(cfg).translate(goldenCases()["native_histogram"](), b)
	b.finish()
	want, _ := batchSeries(b)
	require.Equal(t, renderSeries(want, nil), renderSeries(got, nil), "2.0 carries exactly what 1.0 would")
}

func TestDropsAreCountedByReason(t *testing.T) {
	rcv := newFakeReceiver(t)
	rcv.setRespond(func(*received) (int, http.Header) { return http.StatusBadRequest, nil })
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cfg := testConfig(rcv.url())
	cfg.Protocol = protocolV1
	cfg.TargetInfo.Enabled = false
	e, err := newExporter(cfg, metadatatest.NewSettings(tel), time.Now)
	require.NoError(t, err)
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, e.shutdown(context.Background())) })

	md := oneGauge(1)
	bad := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().AppendEmpty()
	bad.SetName("broken")
	dp := bad.SetEmptyHistogram().DataPoints().AppendEmpty()
	dp.BucketCounts().FromRaw([]uint64{1, 2})
	err = e.pushMetrics(context.Background(), md)
	require.True(t, consumererror.IsPermanent(err))
	metadatatest.AssertEqualExporterPrometheusRemoteWriteSamplesDropped(t, tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", reasonInvalidHistogram))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", reasonRejected))},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualExporterPrometheusRemoteWriteRequestsFailed(t, tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", reasonClientError))},
	}, metricdatatest.IgnoreTimestamp())
}

func TestPartialFailureRetriesOnlyFailedShards(t *testing.T) {
	rcv := newFakeReceiver(t)
	cfg := testConfig(rcv.url())
	cfg.Shards = 4
	cfg.TargetInfo.Enabled = false
	e := startRaw(t, cfg, time.Now)

	md := pmetric.NewMetrics()
	sm := newResource(md, "svc", "i-1")
	for i := range 40 {
		addGauge(sm, "g", float64(i), tsAt(1), "n", strconv.Itoa(i))
	}
	// Fail every request carrying a series of shard 0.
	rcv.setRespond(func(r *received) (int, http.Header) {
		for _, s := range r.series {
			if hashLabels(fromProm(s.Labels))%4 == 0 {
				return http.StatusServiceUnavailable, nil
			}
		}
		return http.StatusNoContent, http.Header{headerSamplesWritten: []string{"1"}}
	})
	err := e.pushMetrics(context.Background(), md)
	require.Error(t, err)
	require.False(t, consumererror.IsPermanent(err))
	var me consumererror.Metrics
	require.ErrorAs(t, err, &me)

	var wantFailed int
	b := newBatch()
	newTranslator(cfg).translate(md, b)
	for _, s := range b.all() {
		if s.hash%4 == 0 {
			wantFailed++
		}
	}
	require.Positive(t, wantFailed)
	require.Less(t, wantFailed, 40)
	require.Equal(t, wantFailed, me.Data().DataPointCount())

	// Retrying the subset once the receiver recovers completes the batch.
	rcv.setRespond(nil)
	require.NoError(t, e.pushMetrics(context.Background(), me.Data()))
	seen := map[string]bool{}
	for _, r := range rcv.accepted() {
		for _, s := range r.series {
			seen[labelString(s.Labels)] = true
		}
	}
	require.Len(t, seen, 40)
}

func TestMaxBatchSizeSplitsRequests(t *testing.T) {
	rcv := newFakeReceiver(t)
	cfg := testConfig(rcv.url())
	cfg.Shards = 1
	cfg.MaxBatchSizeBytes = minBatchBytes
	e := startRaw(t, cfg, time.Now)
	md := pmetric.NewMetrics()
	sm := newResource(md, "svc", "i-1")
	for i := range 500 {
		addGauge(sm, "some.reasonably.long.metric.name", float64(i), tsAt(1), "n", strconv.Itoa(i))
	}
	require.NoError(t, e.pushMetrics(context.Background(), md))
	reqs := rcv.accepted()
	require.Greater(t, len(reqs), 1)
	total := 0
	for _, r := range reqs {
		total += len(r.series)
	}
	require.Equal(t, 500, total)
}

// TestOrderingUnderConcurrentRetries drives the full exporter (queue,
// exporterhelper retry, shards) against a receiver that fails a random
// third of the requests, and checks that every series arrives complete and
// strictly in time order, as Prometheus requires.
func TestOrderingUnderConcurrentRetries(t *testing.T) {
	rcv := newFakeReceiver(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var rngMu sync.Mutex
	rcv.setRespond(func(*received) (int, http.Header) {
		rngMu.Lock()
		defer rngMu.Unlock()
		switch rng.IntN(6) {
		case 0:
			return http.StatusServiceUnavailable, nil
		case 1:
			return http.StatusTooManyRequests, http.Header{"Retry-After": []string{"0"}}
		}
		return http.StatusNoContent, http.Header{headerSamplesWritten: []string{"1"}}
	})
	cfg := testConfig(rcv.url())
	cfg.Shards = 8
	cfg.RetryConfig.Enabled = true
	cfg.RetryConfig.InitialInterval = time.Millisecond
	cfg.RetryConfig.MaxInterval = 5 * time.Millisecond
	cfg.RetryConfig.MaxElapsedTime = 0
	exp, err := newMetricsExporter(context.Background(), exportertest.NewNopSettings(component.MustNewType(typeStr)), cfg, time.Now)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))

	const batches, seriesN = 30, 50
	for ts := 1; ts <= batches; ts++ {
		md := pmetric.NewMetrics()
		sm := newResource(md, "svc", "i-1")
		for s := range seriesN {
			addGauge(sm, "g", float64(ts), tsAt(ts), "s", strconv.Itoa(s))
		}
		require.NoError(t, exp.ConsumeMetrics(context.Background(), md))
	}
	require.Eventually(t, func() bool {
		n := 0
		for _, r := range rcv.accepted() {
			for _, s := range r.series {
				n += len(s.Samples)
			}
		}
		return n >= batches*seriesN
	}, 30*time.Second, 10*time.Millisecond)
	require.NoError(t, exp.Shutdown(context.Background()))

	perSeries := map[string][]int64{}
	for _, r := range rcv.accepted() {
		for _, s := range r.series {
			key := labelString(s.Labels)
			for _, smp := range s.Samples {
				perSeries[key] = append(perSeries[key], smp.Timestamp)
			}
		}
	}
	require.Len(t, perSeries, seriesN)
	for key, tss := range perSeries {
		for i := 1; i < len(tss); i++ {
			require.Greater(t, tss[i], tss[i-1], "series %s went back in time at %d: %v", key, i, tss)
		}
		require.Len(t, tss, batches, key)
	}
}
