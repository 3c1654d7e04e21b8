package loki

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sieveobs/sieve/internal/shutdownbound"
	"github.com/sieveobs/sieve/internal/storagetest"
)

// hangingServer reads each request and never answers (until the test ends), as a backend that
// stopped responding behind a load balancer that still accepts connections.
type hangingServer struct {
	srv      *httptest.Server
	arrived  chan struct{}
	requests atomic.Int64
}

func newHangingServer(t *testing.T) *hangingServer {
	h := &hangingServer{arrived: make(chan struct{}, 64)}
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

func (h *hangingServer) waitRequest(t *testing.T) {
	t.Helper()
	select {
	case <-h.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("no request reached the server")
	}
}

// shutdownTestConfig is the gateway's setup (persistent queue when storage is given, batching
// after the queue, retries without end, the 30 s client timeout) with a short flush interval.
func shutdownTestConfig(endpoint string, storage *component.ID, clientTimeout, bound time.Duration) *Config {
	cfg := testConfig()
	cfg.ClientConfig.Endpoint = endpoint
	cfg.ClientConfig.Timeout = clientTimeout
	cfg.ShutdownTimeout = bound
	cfg.RetryConfig.MaxElapsedTime = 0
	q := cfg.QueueConfig.Get()
	q.StorageID = storage
	q.Batch.Get().FlushTimeout = 50 * time.Millisecond
	return cfg
}

// loadThreeBatches leaves one batch of each kind exporterhelper sends once more at shutdown:
// "a" in flight, "b" flushed and waiting for the queue's single consumer, "c" still being
// formed in the batcher. Each holds 10 records. st, when not nil, is the persistent queue's
// storage, watched to know when the queue handed "c" out.
func loadThreeBatches(t *testing.T, exp exporter.Logs, h *hangingServer, st *storagetest.Storage) []string {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, exp.ConsumeLogs(ctx, testLogs("a", 10)))
	h.waitRequest(t)
	require.NoError(t, exp.ConsumeLogs(ctx, testLogs("b", 10)))
	time.Sleep(200 * time.Millisecond) // several flush intervals: "b" is flushed and waits for the worker
	require.NoError(t, exp.ConsumeLogs(ctx, testLogs("c", 10)))
	if st != nil {
		require.Eventually(t, func() bool { return st.ItemReads() >= 3 }, 5*time.Second, time.Millisecond)
	} else {
		time.Sleep(100 * time.Millisecond) // an in-memory queue hands out the rest at shutdown anyway
	}
	require.EqualValues(t, 1, h.requests.Load())
	var want []string
	for _, p := range []string{"a", "b", "c"} {
		want = append(want, lines(p, 0, 10)...)
	}
	return want
}

func newStorageHost() (component.Host, *component.ID, *storagetest.Storage) {
	id := component.MustNewID("file_storage")
	st := storagetest.New()
	return st.Host(id), &id, st
}

func cutShort(tt *componenttest.Telemetry, outcome string) int64 {
	m, err := tt.GetMetric("otelcol_exporter_loki_log_records_cut_short")
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

// deliverAfterRestart starts a new exporter on the same storage against a Loki that answers
// and returns every line it stored.
func deliverAfterRestart(t *testing.T, host component.Host, cfg *Config, want int) []string {
	t.Helper()
	mock := newMockLoki(t, func(string, int) reply { return reply{} })
	srv := httptest.NewServer(mock)
	defer srv.Close()
	next := *cfg
	next.ClientConfig.Endpoint = srv.URL + "/loki/api/v1/push"
	set, _ := metadataSettings(t)
	exp, err := NewFactory().CreateLogs(context.Background(), set, &next)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), host))
	require.Eventually(t, func() bool {
		_, stored := mock.snapshot()
		return len(stored[""]) >= want
	}, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, exp.Shutdown(context.Background()))
	_, stored := mock.snapshot()
	return stored[""]
}

// The root cause, without a bound: exporterhelper's shutdown sends every batch it holds once
// more, one after the other, each for the client's whole timeout (30 s in production). The
// batches stay queued (the stopped retry turns each failure into a shutdown error), but the
// process outlives any grace period.
func TestShutdownWithoutBoundTakesOneTimeoutPerHeldBatch(t *testing.T) {
	h := newHangingServer(t)
	host, storageID, st := newStorageHost()
	const clientTimeout = 1500 * time.Millisecond
	cfg := shutdownTestConfig(h.srv.URL, storageID, clientTimeout, time.Hour)
	set, _ := metadataSettings(t)
	exp, err := NewFactory().CreateLogs(context.Background(), set, cfg)
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
// on the same storage delivers every record.
func TestShutdownBoundKeepsUnsentInPersistentQueue(t *testing.T) {
	h := newHangingServer(t)
	host, storageID, st := newStorageHost()
	const bound = 300 * time.Millisecond
	cfg := shutdownTestConfig(h.srv.URL, storageID, 30*time.Second, bound)
	set, tt := metadataSettings(t)
	exp, err := NewFactory().CreateLogs(context.Background(), set, cfg)
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
	require.EqualValues(t, 30, cutShort(tt, shutdownbound.OutcomeKept))
	require.Zero(t, connectionFailures(tt), "a cut-short request is not a connection failure")

	got := deliverAfterRestart(t, host, cfg, len(want))
	require.ElementsMatch(t, want, got, "every acknowledged record delivered once after the restart")
}

// With an in-memory queue exporterhelper drains the queue at shutdown: after the deadline every
// request fails at once and is lost, and counted.
func TestShutdownBoundWithMemoryQueueCountsWhatIsLost(t *testing.T) {
	h := newHangingServer(t)
	cfg := shutdownTestConfig(h.srv.URL, nil, 30*time.Second, 300*time.Millisecond)
	set, tt := metadataSettings(t)
	exp, err := NewFactory().CreateLogs(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	loadThreeBatches(t, exp, h, nil)

	began := time.Now()
	require.NoError(t, exp.Shutdown(context.Background()))
	require.Less(t, time.Since(began), 2*time.Second)
	require.EqualValues(t, 30, cutShort(tt, shutdownbound.OutcomeDropped))
	require.Zero(t, cutShort(tt, shutdownbound.OutcomeKept))
}
