package loki

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/snappy"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/sieveobs/sieve/exporters/loki/internal/metadatatest"
)

type reply struct {
	status     int
	retryAfter string
	body       string
	ignore     int // entries the mock pretends to reject on a 400
}

type mockRequest struct {
	at     time.Time
	tenant string
	lines  []string
	status int
}

// mockLoki decodes pushes with Loki's own types, records when each arrived,
// and answers from a script indexed by the request number per tenant.
type mockLoki struct {
	t      *testing.T
	mu     sync.Mutex
	reqs   []mockRequest
	stored map[string][]string // tenant -> accepted lines, in arrival order
	perTen map[string]int
	script func(tenant string, n int) reply
}

func newMockLoki(t *testing.T, script func(tenant string, n int) reply) *mockLoki {
	return &mockLoki{t: t, stored: map[string][]string{}, perTen: map[string]int{}, script: script}
}

func (m *mockLoki) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	raw, err := snappy.Decode(nil, body)
	var req push.PushRequest
	if err == nil {
		err = req.Unmarshal(raw)
	}
	if err != nil || r.Header.Get("Content-Type") != contentTypeProtobuf {
		w.WriteHeader(http.StatusUnsupportedMediaType)
		return
	}
	var lines []string
	for _, s := range req.Streams {
		for _, e := range s.Entries {
			lines = append(lines, e.Line)
		}
	}
	tenant := r.Header.Get(headerTenant)

	m.mu.Lock()
	n := m.perTen[tenant]
	m.perTen[tenant]++
	rep := m.script(tenant, n)
	if rep.status == 0 {
		rep.status = http.StatusNoContent
	}
	m.reqs = append(m.reqs, mockRequest{at: time.Now(), tenant: tenant, lines: lines, status: rep.status})
	switch {
	case rep.status/100 == 2:
		m.stored[tenant] = append(m.stored[tenant], lines...)
	case rep.status == http.StatusBadRequest && rep.ignore > 0:
		m.stored[tenant] = append(m.stored[tenant], lines[rep.ignore:]...)
		rep.body = fmt.Sprintf("user '%s', total ignored: %d out of %d for stream: {a=\"b\"}", tenant, rep.ignore, len(lines))
	}
	m.mu.Unlock()

	if rep.retryAfter != "" {
		w.Header().Set(headerRetryAfter, rep.retryAfter)
	}
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

func (m *mockLoki) snapshot() ([]mockRequest, map[string][]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	stored := map[string][]string{}
	for k, v := range m.stored {
		stored[k] = append([]string(nil), v...)
	}
	return append([]mockRequest(nil), m.reqs...), stored
}

// testLogs builds one resource per tenant ("" means no tenant attribute),
// each with n entries whose lines are "<prefix>-<i>", in timestamp order.
func testLogs(prefix string, n int, tenants ...string) plog.Logs {
	if len(tenants) == 0 {
		tenants = []string{""}
	}
	ld := plog.NewLogs()
	base := time.Now().Add(-time.Minute)
	for _, tenant := range tenants {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "svc")
		if tenant != "" {
			rl.Resource().Attributes().PutStr("tenant", tenant)
		}
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for i := 0; i < n; i++ {
			lr := lrs.AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i) * time.Millisecond)))
			lr.Body().SetStr(prefix + "-" + strconv.Itoa(i))
		}
	}
	return ld
}

func lines(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, prefix+"-"+strconv.Itoa(i))
	}
	return out
}

// startExporter runs the real factory: exporterhelper's queue and retry with
// small intervals, so retries happen as in production, only faster.
func startExporter(t *testing.T, endpoint string, waitForResult bool, tt *componenttest.Telemetry) exporter.Logs {
	t.Helper()
	cfg := testConfig()
	cfg.ClientConfig.Endpoint = endpoint
	cfg.Tenant.ResourceAttribute = "tenant"
	cfg.RetryConfig.InitialInterval = 10 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 50 * time.Millisecond
	cfg.RetryConfig.RandomizationFactor = 0
	cfg.RetryConfig.MaxElapsedTime = 30 * time.Second
	q := cfg.QueueConfig.Get()
	q.WaitForResult = waitForResult
	q.Batch = configoptional.None[exporterhelper.BatchConfig]()
	require.NoError(t, cfg.Validate())

	exp, err := NewFactory().CreateLogs(context.Background(), metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	return exp
}

func newTelemetry(t *testing.T) *componenttest.Telemetry {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	return tt
}

func reasonSet(r string) attribute.Set { return attribute.NewSet(attribute.String("reason", r)) }

func TestFaultServerErrorsRetriedUntilAccepted(t *testing.T) {
	mock := newMockLoki(t, func(_ string, n int) reply {
		if n < 2 {
			return reply{status: http.StatusInternalServerError, body: "ingester unavailable"}
		}
		return reply{}
	})
	srv := httptest.NewServer(mock)
	defer srv.Close()
	tt := newTelemetry(t)
	exp := startExporter(t, srv.URL+"/loki/api/v1/push", true, tt)

	require.NoError(t, exp.ConsumeLogs(context.Background(), testLogs("a", 20)))
	reqs, stored := mock.snapshot()
	require.Len(t, reqs, 3)
	require.Equal(t, lines("a", 0, 20), stored[""], "acknowledged data must be stored, once, in order")
	metadatatest.AssertEqualExporterLokiRequestsFailed(t, tt,
		[]metricdata.DataPoint[int64]{{Attributes: reasonSet(failServerError), Value: 2}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	metadatatest.AssertEqualExporterLokiEntriesSent(t, tt,
		[]metricdata.DataPoint[int64]{{Value: 20}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

func TestFaultRetryAfterHonoured(t *testing.T) {
	mock := newMockLoki(t, func(_ string, n int) reply {
		if n == 0 {
			return reply{status: http.StatusTooManyRequests, retryAfter: "1", body: "ingestion rate limit exceeded"}
		}
		return reply{}
	})
	srv := httptest.NewServer(mock)
	defer srv.Close()
	tt := newTelemetry(t)
	exp := startExporter(t, srv.URL, true, tt)

	require.NoError(t, exp.ConsumeLogs(context.Background(), testLogs("r", 5)))
	reqs, stored := mock.snapshot()
	require.Len(t, reqs, 2)
	// The backoff alone would retry after 10ms; Retry-After asks for 1s.
	require.GreaterOrEqual(t, reqs[1].at.Sub(reqs[0].at), time.Second)
	require.Equal(t, lines("r", 0, 5), stored[""])
}

func TestFaultBadRequestNeverRetried(t *testing.T) {
	tests := []struct {
		name        string
		rep         reply
		wantStored  int
		wantReason  string
		dropReason  string
		wantDropped int64
	}{
		{name: "400", rep: reply{status: 400, body: "entry too far behind"}, wantReason: failBadRequest, dropReason: dropRejected, wantDropped: 10},
		{name: "partial 400", rep: reply{status: 400, ignore: 3}, wantStored: 7, wantReason: failPartial, dropReason: dropPartial, wantDropped: 3},
		{name: "401", rep: reply{status: 401, body: "no org id"}, wantReason: failClientError, dropReason: dropRejected, wantDropped: 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mock := newMockLoki(t, func(string, int) reply { return tc.rep })
			srv := httptest.NewServer(mock)
			defer srv.Close()
			tt := newTelemetry(t)
			exp := startExporter(t, srv.URL, true, tt)

			err := exp.ConsumeLogs(context.Background(), testLogs("p", 10))
			require.Error(t, err)
			require.True(t, consumererror.IsPermanent(err), "%v", err)
			reqs, stored := mock.snapshot()
			require.Len(t, reqs, 1, "a 4xx must not be retried")
			require.Len(t, stored[""], tc.wantStored)
			metadatatest.AssertEqualExporterLokiRequestsFailed(t, tt,
				[]metricdata.DataPoint[int64]{{Attributes: reasonSet(tc.wantReason), Value: 1}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
			metadatatest.AssertEqualExporterLokiEntriesDropped(t, tt,
				[]metricdata.DataPoint[int64]{{Attributes: reasonSet(tc.dropReason), Value: tc.wantDropped}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
		})
	}
}

func TestFaultOnlyFailedTenantRetried(t *testing.T) {
	mock := newMockLoki(t, func(tenant string, n int) reply {
		if tenant == "team-b" && n == 0 {
			return reply{status: http.StatusServiceUnavailable}
		}
		return reply{}
	})
	srv := httptest.NewServer(mock)
	defer srv.Close()
	exp := startExporter(t, srv.URL, true, newTelemetry(t))

	require.NoError(t, exp.ConsumeLogs(context.Background(), testLogs("m", 4, "team-a", "team-b")))
	reqs, stored := mock.snapshot()
	require.Len(t, reqs, 3)
	require.Equal(t, lines("m", 0, 4), stored["team-a"], "the accepted tenant must not be sent twice")
	require.Equal(t, lines("m", 0, 4), stored["team-b"])
}

func TestFaultBackendDownThenUp(t *testing.T) {
	// Reserve an address and leave it closed: connections are refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	mock := newMockLoki(t, func(string, int) reply { return reply{} })
	tt := newTelemetry(t)
	exp := startExporter(t, "http://"+addr+"/loki/api/v1/push", false, tt)

	const batches, per = 5, 10
	var want []string
	for b := 0; b < batches; b++ {
		prefix := "d" + strconv.Itoa(b)
		// Accepted into the queue while Loki is down: these are acked.
		require.NoError(t, exp.ConsumeLogs(context.Background(), testLogs(prefix, per)))
		want = append(want, lines(prefix, 0, per)...)
	}

	// Loki stays down until the exporter has really failed to reach it.
	require.Eventually(t, func() bool { return connectionFailures(tt) >= 3 }, 10*time.Second, time.Millisecond)

	ln2, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(mock)
	require.NoError(t, srv.Listener.Close())
	srv.Listener = ln2
	srv.Start()
	defer srv.Close()

	require.Eventually(t, func() bool {
		_, stored := mock.snapshot()
		return len(stored[""]) >= len(want)
	}, 20*time.Second, 10*time.Millisecond)
	_, stored := mock.snapshot()
	require.Equal(t, want, stored[""], "every acked entry delivered once, streams in order")
}
