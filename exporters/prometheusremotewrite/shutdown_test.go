package prometheusremotewrite

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sieveobs/sieve/exporters/prometheusremotewrite/internal/metadatatest"
	"github.com/sieveobs/sieve/internal/shutdownbound"
	"github.com/sieveobs/sieve/internal/storagetest"
)

// hangingEndpoint reads each request and never answers (until the test ends), as a receiver
// that stopped responding behind a load balancer that still accepts connections.
type hangingEndpoint struct {
	srv      *httptest.Server
	arrived  chan struct{}
	requests atomic.Int64
}

func newHangingEndpoint(t *testing.T) *hangingEndpoint {
	h := &hangingEndpoint{arrived: make(chan struct{}, 64)}
	release := make(chan struct{})
	h.srv = httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h.requests.Add(1)
		select {
		case h.arrived <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(h.srv.Close)
	t.Cleanup(func() { close(release) })
	return h
}

// shutdownTestConfig is the gateway's setup (persistent queue when storage is given, batching
// after the queue, retries without end, the 30 s client timeout) with one shard, so that one
// push is one request, and a short flush interval.
func shutdownTestConfig(endpoint string, storageID *component.ID, clientTimeout, bound time.Duration) *Config {
	cfg := testConfig(endpoint)
	cfg.Protocol = protocolV1
	cfg.Shards = 1
	cfg.Timeout = clientTimeout
	cfg.ShutdownTimeout = bound
	cfg.RetryConfig.Enabled = true
	cfg.RetryConfig.MaxElapsedTime = 0
	q := cfg.QueueConfig.Get()
	q.StorageID = storageID
	q.Batch.Get().FlushTimeout = 50 * time.Millisecond
	return cfg
}

// batchOf is 10 gauge points of series of their own, valued base+i.
func batchOf(base int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	sm := newResource(md, "svc", "i-"+strconv.Itoa(base))
	for i := range 10 {
		addGauge(sm, "g", float64(base+i), tsAt(base+i), "point", strconv.Itoa(base+i))
	}
	return md
}

// loadThreeBatches leaves one batch of each kind exporterhelper sends once more at shutdown:
// the first in flight, the second flushed and waiting for the queue's single consumer, the third
// still being formed in the batcher. st, when not nil, is the persistent queue's storage,
// watched to know when the queue handed the third out.
func loadThreeBatches(t *testing.T, exp *metricsExporter, h *hangingEndpoint, st *storagetest.Storage) []float64 {
	t.Helper()
	ctx := context.Background()
	var want []float64
	for n, base := range []int{100, 200, 300} {
		require.NoError(t, exp.ConsumeMetrics(ctx, batchOf(base)))
		for i := range 10 {
			want = append(want, float64(base+i))
		}
		switch n {
		case 0:
			select {
			case <-h.arrived:
			case <-time.After(10 * time.Second):
				t.Fatal("no request reached the endpoint")
			}
		case 1:
			time.Sleep(200 * time.Millisecond) // several flush intervals: flushed, waiting for the worker
		}
	}
	if st != nil {
		require.Eventually(t, func() bool { return st.ItemReads() >= 3 }, 5*time.Second, time.Millisecond)
	} else {
		time.Sleep(100 * time.Millisecond) // an in-memory queue hands out the rest at shutdown anyway
	}
	require.EqualValues(t, 1, h.requests.Load())
	return want
}

func newWatchedHost() (component.Host, *component.ID, *storagetest.Storage) {
	id := component.MustNewID("file_storage")
	st := storagetest.New()
	return st.Host(id), &id, st
}

func pointsCutShort(tt *componenttest.Telemetry, outcome string) int64 {
	m, err := tt.GetMetric("otelcol_exporter_prometheus_remote_write_data_points_cut_short")
	if err != nil {
		return 0
	}
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		if v, ok := dp.Attributes.Value("outcome"); ok && v.AsString() == outcome {
			n += dp.Value
		}
	}
	return n
}

// deliverAfterRestart starts a new exporter on the same storage against an endpoint that
// answers and returns the values of every "g" sample it accepted.
func deliverAfterRestart(t *testing.T, host component.Host, cfg *Config, want int) []float64 {
	t.Helper()
	rcv := newFakeReceiver(t)
	next := *cfg
	next.Endpoint = rcv.url()
	exp, err := newMetricsExporter(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), &next, time.Now)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), host))
	var got []float64
	require.Eventually(t, func() bool {
		got = got[:0]
		for _, r := range rcv.accepted() {
			for _, s := range r.series {
				if labelString(s.Labels)[:2] != "g{" {
					continue
				}
				for _, smp := range s.Samples {
					got = append(got, smp.Value)
				}
			}
		}
		return len(got) >= want
	}, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, exp.Shutdown(context.Background()))
	return got
}

// The root cause, without a bound: exporterhelper's shutdown sends every batch it holds once
// more, one after the other, each for the client's whole timeout (30 s in production). The
// batches stay queued (the stopped retry turns each failure into a shutdown error), but the
// process outlives any grace period.
func TestShutdownWithoutBoundTakesOneTimeoutPerHeldBatch(t *testing.T) {
	h := newHangingEndpoint(t)
	host, storageID, st := newWatchedHost()
	const clientTimeout = 1500 * time.Millisecond
	cfg := shutdownTestConfig(h.srv.URL, storageID, clientTimeout, time.Hour)
	require.NoError(t, cfg.Validate())
	exp, err := newMetricsExporter(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg, time.Now)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), host))
	want := loadThreeBatches(t, exp, h, st)

	began := time.Now()
	require.NoError(t, exp.Shutdown(context.Background()))
	took := time.Since(began)
	t.Logf("shutdown without bound: %v, %d requests", took.Round(time.Millisecond), h.requests.Load())
	require.EqualValues(t, 3, h.requests.Load(), "the in-flight, the waiting and the forming batch are each sent once more")
	require.Greater(t, took, 2*clientTimeout)

	require.ElementsMatch(t, want, deliverAfterRestart(t, host, cfg, len(want)))
}

// With the bound, shutdown returns at shutdown_timeout; the request in flight is cancelled,
// the other two are not attempted, and all three stay in the persistent queue: a new exporter
// on the same storage delivers every point.
func TestShutdownBoundKeepsUnsentInPersistentQueue(t *testing.T) {
	h := newHangingEndpoint(t)
	host, storageID, st := newWatchedHost()
	const bound = 300 * time.Millisecond
	cfg := shutdownTestConfig(h.srv.URL, storageID, 30*time.Second, bound)
	tt := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tt.Shutdown(context.Background())) }()
	exp, err := newMetricsExporter(context.Background(), metadatatest.NewSettings(tt), cfg, time.Now)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), host))
	want := loadThreeBatches(t, exp, h, st)

	began := time.Now()
	require.NoError(t, exp.Shutdown(context.Background()))
	took := time.Since(began)
	t.Logf("shutdown with shutdown_timeout %v: %v", bound, took.Round(time.Millisecond))
	require.GreaterOrEqual(t, took, bound)
	require.Less(t, took, bound+2*time.Second)
	require.EqualValues(t, 1, h.requests.Load(), "nothing is attempted after the deadline")
	require.EqualValues(t, 30, pointsCutShort(tt, shutdownbound.OutcomeKept))

	got := deliverAfterRestart(t, host, cfg, len(want))
	require.ElementsMatch(t, want, got, "every acknowledged point delivered once after the restart")
}

// With an in-memory queue exporterhelper drains the queue at shutdown: after the deadline every
// request fails at once and is lost, and counted.
func TestShutdownBoundWithMemoryQueueCountsWhatIsLost(t *testing.T) {
	h := newHangingEndpoint(t)
	cfg := shutdownTestConfig(h.srv.URL, nil, 30*time.Second, 300*time.Millisecond)
	tt := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tt.Shutdown(context.Background())) }()
	exp, err := newMetricsExporter(context.Background(), metadatatest.NewSettings(tt), cfg, time.Now)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	loadThreeBatches(t, exp, h, nil)

	began := time.Now()
	require.NoError(t, exp.Shutdown(context.Background()))
	require.Less(t, time.Since(began), 2*time.Second)
	require.EqualValues(t, 30, pointsCutShort(tt, shutdownbound.OutcomeDropped))
	require.Zero(t, pointsCutShort(tt, shutdownbound.OutcomeKept))
}
