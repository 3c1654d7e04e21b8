package crash

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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

// gracePeriod is Kubernetes' default terminationGracePeriodSeconds: SIGKILL follows SIGTERM
// after it. terminateWait is how long the test waits for the exit before killing.
const (
	gracePeriod   = 30 * time.Second
	terminateWait = 60 * time.Second
)

// hangingBackend takes Loki pushes and remote writes and never answers them, as backends that
// stopped responding behind a load balancer that still accepts connections.
type hangingBackend struct {
	srv     *httptest.Server
	mu      sync.Mutex
	perPath map[string]int
}

func newHangingBackend(t *testing.T) *hangingBackend {
	h := &hangingBackend{perPath: map[string]int{}}
	release := make(chan struct{})
	h.srv = httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h.mu.Lock()
		h.perPath[r.URL.Path]++
		h.mu.Unlock()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(h.srv.Close)
	t.Cleanup(func() { close(release) })
	return h
}

func (h *hangingBackend) requests(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.perPath[path]
}

const (
	lokiPath = "/loki/api/v1/push"
	rwPath   = "/api/v1/write"
	// shutdownService names what this test sends, in Loki and in Prometheus (job).
	shutdownService = "shutdown-test"
)

// shutdownLogs is one OTLP request of n error records (kept by the shipped policy), each with
// its ID as test_id and line "<id> ...".
func shutdownLogs(req, n int, at time.Time) (plog.Logs, map[string]string) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", shutdownService)
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	want := map[string]string{}
	for i := range n {
		id := fmt.Sprintf("r%03d-%03d", req, i)
		body := id + " payment declined"
		want[id] = body
		lr := lrs.AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(at.Add(time.Duration(req*n+i) * time.Microsecond)))
		lr.SetSeverityNumber(plog.SeverityNumberError)
		lr.SetSeverityText("error")
		lr.Body().SetStr(body)
		lr.Attributes().PutStr("test_id", id)
		lr.Attributes().PutStr("uid", "u"+strconv.Itoa(i%7))
	}
	return ld, want
}

// shutdownMetrics is one OTLP request of n gauge points on a resource of its own (instance
// "r<req>"), so that no series spans two requests: exporterhelper re-queues a batch cut off at
// shutdown behind the backlog, and Prometheus would refuse older samples of a series that had
// newer ones (see the exporter's README, Limitations). Each point's value is its index.
func shutdownMetrics(req, n int, at time.Time) (pmetric.Metrics, map[string]float64) {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", shutdownService)
	rm.Resource().Attributes().PutStr("service.instance.id", "r"+strconv.Itoa(req))
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	want := map[string]float64{}
	for i := range n {
		id := fmt.Sprintf("r%03d-%03d", req, i)
		g := ms.AppendEmpty()
		g.SetName("shutdown_test_value")
		dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(at))
		dp.SetDoubleValue(float64(i))
		dp.Attributes().PutStr("point", id)
		want[id] = float64(i)
	}
	return md, want
}

// startBackends starts real Loki and Prometheus while the first Sieve runs; both are stopped at
// cleanup.
func startBackends(t *testing.T) func() (*backends.Loki, *backends.Prometheus) {
	var (
		wg      sync.WaitGroup
		loki    *backends.Loki
		prom    *backends.Prometheus
		lokiErr error
		promErr error
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		loki, lokiErr = backends.NewLoki(context.Background(), backends.LokiOptions{})
	}()
	go func() {
		defer wg.Done()
		prom, promErr = backends.NewPrometheus(context.Background(), backends.PrometheusOptions{})
	}()
	t.Cleanup(func() {
		wg.Wait()
		if loki != nil {
			require.NoError(t, loki.Close())
		}
		if prom != nil {
			require.NoError(t, prom.Close())
		}
	})
	return func() (*backends.Loki, *backends.Prometheus) {
		wg.Wait()
		require.NoError(t, errors.Join(lokiErr, promErr))
		return loki, prom
	}
}

// SIGTERM with both backends hanging (every request open, never answered), as in a rolling
// update while Loki and Prometheus are unreachable: the shipped gateway must exit within the
// pod's grace period, leaving what it could not send in its persistent queues, and the next
// process, against the real Loki and Prometheus, must deliver everything acknowledged.
func TestShutdownWithHangingBackendsIsBoundedAndLosesNothing(t *testing.T) {
	backendsReady := startBackends(t)
	hang := newHangingBackend(t)
	storage := filepath.Join(t.TempDir(), "storage")
	opts := sieveproc.Options{
		Config: harness.RepoPath("configs/gateway.yaml"),
		Env: map[string]string{
			"SIEVE_LOKI_PUSH_URL":     hang.srv.URL + lokiPath,
			"SIEVE_PROMETHEUS_RW_URL": hang.srv.URL + rwPath,
		},
		StorageDir: storage,
	}
	if dir := os.Getenv("SIEVE_CRASH_LOG_DIR"); dir != "" {
		opts.LogPath = filepath.Join(dir, t.Name()+".log")
		_ = os.Remove(opts.LogPath)
	}
	first, err := sieveproc.Start(context.Background(), opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("first sieve log tail:\n%s", first.LogTail(60))
		}
		_ = first.Stop()
	})

	// Logs and metrics, every request acknowledged by the gateway (persistent queues), in three
	// waves that leave each exporter holding the three kinds of batch its shutdown sends once
	// more: one in flight (hanging), one flushed and waiting for the queue's single consumer, one
	// still being formed.
	conn, err := grpc.NewClient(first.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const requests, perRequest = 21, 100
	at := time.Now().Add(-30 * time.Second)
	wantLogs, wantPoints := map[string]string{}, map[string]float64{}
	logsClient, metricsClient := plogotlp.NewGRPCClient(conn), pmetricotlp.NewGRPCClient(conn)
	send := func(from, to int) {
		for req := from; req < to; req++ {
			ld, wl := shutdownLogs(req, perRequest, at)
			_, err := logsClient.Export(ctx, plogotlp.NewExportRequestFromLogs(ld))
			require.NoError(t, err)
			for k, v := range wl {
				wantLogs[k] = v
			}
			md, wm := shutdownMetrics(req, perRequest/2, at)
			_, err = metricsClient.Export(ctx, pmetricotlp.NewExportRequestFromMetrics(md))
			require.NoError(t, err)
			for k, v := range wm {
				wantPoints[k] = v
			}
		}
	}
	send(0, requests/3)
	require.Eventually(t, func() bool { return hang.requests(lokiPath) > 0 && hang.requests(rwPath) > 0 },
		15*time.Second, 50*time.Millisecond, "both exporters must be sending when SIGTERM comes")
	send(requests/3, 2*requests/3)
	Pause(1500 * time.Millisecond) // past both batchers' flush intervals (1 s, 200 ms): flushed, waiting
	send(2*requests/3, requests)
	Pause(300 * time.Millisecond) // the queues hand the last wave to the batchers
	require.NoError(t, conn.Close())

	began := time.Now()
	termErr := first.Terminate(terminateWait)
	took := time.Since(began)
	require.NoError(t, termErr)
	require.NoError(t, first.ExitError(), "SIGTERM must end Sieve cleanly:\n%s", first.LogTail(30))
	log, err := os.ReadFile(first.LogPath)
	require.NoError(t, err)
	// Each exporter says what it cut short and that it stays queued.
	require.Equal(t, 2, strings.Count(string(log), "Shutdown timeout reached: sending was cancelled; what was not sent stays in the persistent queue"),
		"both exporters cut their sends short at shutdown_timeout:\n%s", first.LogTail(30))
	require.Less(t, took, gracePeriod, "Sieve must exit before the SIGKILL of a pod's default grace period")

	// The next process, against the real backends, on the same queue storage.
	loki, prom := backendsReady()
	opts.Env = map[string]string{
		"SIEVE_LOKI_PUSH_URL":     loki.PushURL(),
		"SIEVE_PROMETHEUS_RW_URL": prom.RemoteWriteURL(),
	}
	second, err := sieveproc.Start(context.Background(), opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("second sieve log tail:\n%s", second.LogTail(60))
		}
		require.NoError(t, second.Stop())
	})

	qctx, qcancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer qcancel()
	var (
		gotLogs   map[string]string
		dupLogs   int
		gotPoints map[string]float64
	)
	deadline := time.Now().Add(60 * time.Second)
	for {
		gotLogs, dupLogs = map[string]string{}, 0
		streams, err := loki.QueryRange(qctx, "", fmt.Sprintf(`{service_name=%q}`, shutdownService), at.Add(-time.Minute), time.Now().Add(time.Minute))
		if err == nil {
			for _, st := range streams {
				for _, e := range st.Entries {
					id := e.Metadata["test_id"]
					if _, seen := gotLogs[id]; seen {
						dupLogs++
					}
					gotLogs[id] = e.Line
				}
			}
		}
		gotPoints = map[string]float64{}
		samples, err := prom.Query(qctx, fmt.Sprintf(`shutdown_test_value{job=%q}`, shutdownService), time.Now())
		if err == nil {
			for _, s := range samples {
				gotPoints[s.Metric["point"]] = s.Value
			}
		}
		if len(gotLogs) >= len(wantLogs) && len(gotPoints) >= len(wantPoints) || time.Now().After(deadline) {
			break
		}
		Pause(500 * time.Millisecond) // polling the backends' query APIs
	}
	t.Logf("SIGTERM with hanging Loki and remote write: exited %.1fs after the signal (grace period %v); "+
		"logs acked=%d delivered=%d duplicates=%d; metric points acked=%d delivered=%d; hanging requests loki=%d remote_write=%d",
		took.Seconds(), gracePeriod, len(wantLogs), len(gotLogs), dupLogs, len(wantPoints), len(gotPoints),
		hang.requests(lokiPath), hang.requests(rwPath))
	require.Equal(t, wantLogs, gotLogs, "every acknowledged log record in Loki with its line")
	require.Equal(t, wantPoints, gotPoints, "every acknowledged data point in Prometheus with its value")
	require.Zero(t, dupLogs)
	require.NotContains(t, second.LogTail(200), "not retryable error", "nothing refused by the backends after the restart")
}
