package e2e

import (
	"context"
	"fmt"
	"strings"
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
	"go.opentelemetry.io/collector/pdata/plog"

	loki "github.com/sieveobs/sieve/exporters/loki"
	"github.com/sieveobs/sieve/testbed/backends"
)

// startLokiExporter builds the loki exporter through its factory, waiting for
// each push's result so that a nil ConsumeLogs means Loki accepted the data.
func startLokiExporter(t *testing.T, endpoint string, mutate func(*loki.Config)) exporter.Logs {
	t.Helper()
	f := loki.NewFactory()
	cfg := f.CreateDefaultConfig().(*loki.Config)
	cfg.ClientConfig.Endpoint = endpoint
	cfg.Labels = loki.LabelsConfig{
		Severity:           "level",
		ResourceAttributes: []string{"service.name"},
		LogAttributes:      []string{"status_code"},
	}
	cfg.RetryConfig.Enabled = false
	q := cfg.QueueConfig.Get()
	q.WaitForResult = true
	q.Batch = configoptional.None[exporterhelper.BatchConfig]()
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	exp, err := f.CreateLogs(context.Background(), exportertest.NewNopSettings(component.MustNewType("loki")), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	return exp
}

type lokiRecord struct {
	level, status, user, body string
	ts                        time.Time
	attrs                     map[string]string
}

func lokiLogs(resAttrs map[string]string, recs []lokiRecord) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	for k, v := range resAttrs {
		rl.Resource().Attributes().PutStr(k, v)
	}
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i, r := range recs {
		lr := lrs.AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(r.ts))
		lr.SetSeverityText(r.level)
		lr.Body().SetStr(r.body)
		if r.status != "" {
			lr.Attributes().PutStr("status_code", r.status)
		}
		if r.user != "" {
			lr.Attributes().PutStr("user.id", r.user)
		}
		for k, v := range r.attrs {
			lr.Attributes().PutStr(k, v)
		}
		lr.SetTraceID(pcommon.TraceID{byte(i + 1), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	}
	return ld
}

func countEntries(streams []backends.LokiStream) int {
	n := 0
	for _, s := range streams {
		n += len(s.Entries)
	}
	return n
}

// queryEventually polls until the query returns want entries: ingestion is
// acknowledged before the entries are visible to queriers.
func queryEventually(t *testing.T, l *backends.Loki, tenant, logql string, start time.Time, want int) []backends.LokiStream {
	t.Helper()
	var got []backends.LokiStream
	require.Eventually(t, func() bool {
		s, err := l.QueryRange(context.Background(), tenant, logql, start, time.Now().Add(time.Minute))
		if err != nil {
			return false
		}
		got = s
		return countEntries(s) == want
	}, 30*time.Second, 200*time.Millisecond, "query %s for tenant %q: got %d entries, want %d", logql, tenant, countEntries(got), want)
	return got
}

func TestLokiExporterLabelsAndStructuredMetadata(t *testing.T) {
	l := backends.StartLoki(t, backends.LokiOptions{})
	exp := startLokiExporter(t, l.PushURL(), nil)

	start := time.Now().Add(-time.Minute)
	var recs []lokiRecord
	for i := 0; i < 60; i++ {
		level := []string{"INFO", "WARN", "ERROR"}[i%3]
		recs = append(recs, lokiRecord{
			level: level, status: []string{"200", "500"}[i%2], user: fmt.Sprintf("u-%d", i%7),
			body: fmt.Sprintf("request %d served", i), ts: start.Add(time.Duration(i) * time.Millisecond),
		})
	}
	require.NoError(t, exp.ConsumeLogs(context.Background(), lokiLogs(map[string]string{"service.name": "checkout", "host.name": "node-1"}, recs)))

	// By label.
	byLabel := queryEventually(t, l, "", `{service_name="checkout", level="ERROR"}`, start, 20)
	for _, s := range byLabel {
		require.Equal(t, "ERROR", s.Labels["level"])
	}
	queryEventually(t, l, "", `{service_name="checkout", status_code="500"}`, start, 30)

	// By structured metadata: user ids and trace ids were not made labels.
	byMeta := queryEventually(t, l, "", `{service_name="checkout"} | user_id="u-3"`, start, 9)
	for _, s := range byMeta {
		_, isLabel := s.Labels["user_id"]
		require.False(t, isLabel)
		for _, e := range s.Entries {
			require.Equal(t, "u-3", e.Metadata["user_id"])
			require.Equal(t, "node-1", e.Metadata["host_name"])
			require.Len(t, e.Metadata["trace_id"], 32)
		}
	}
}

func TestLokiExporterMultiTenant(t *testing.T) {
	l := backends.StartLoki(t, backends.LokiOptions{AuthEnabled: true})
	exp := startLokiExporter(t, l.PushURL(), func(c *loki.Config) {
		c.Tenant = loki.TenantConfig{Default: "shared", ResourceAttribute: "tenant"}
	})
	start := time.Now().Add(-time.Minute)
	ld := plog.NewLogs()
	for _, tc := range []struct {
		tenant string
		n      int
	}{{"team-a", 5}, {"team-b", 3}, {"", 2}} {
		res := map[string]string{"service.name": "svc"}
		if tc.tenant != "" {
			res["tenant"] = tc.tenant
		}
		var recs []lokiRecord
		for i := 0; i < tc.n; i++ {
			recs = append(recs, lokiRecord{level: "INFO", body: fmt.Sprintf("%s line %d", tc.tenant, i), ts: start.Add(time.Duration(i) * time.Millisecond)})
		}
		lokiLogs(res, recs).ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())
	}
	require.NoError(t, exp.ConsumeLogs(context.Background(), ld))

	a := queryEventually(t, l, "team-a", `{service_name="svc"}`, start, 5)
	for _, s := range a {
		for _, e := range s.Entries {
			require.True(t, strings.HasPrefix(e.Line, "team-a "), e.Line)
		}
	}
	queryEventually(t, l, "team-b", `{service_name="svc"}`, start, 3)
	queryEventually(t, l, "shared", `{service_name="svc"}`, start, 2)
}

// TestLokiExporterLimitsAvoid400 sends a corpus that breaks Loki's default
// limits; the exporter must handle it client-side so that Loki answers 2xx.
func TestLokiExporterLimitsAvoid400(t *testing.T) {
	l := backends.StartLoki(t, backends.LokiOptions{})
	exp := startLokiExporter(t, l.PushURL(), func(c *loki.Config) {
		for i := 0; i < 20; i++ {
			c.Labels.LogAttributes = append(c.Labels.LogAttributes, fmt.Sprintf("dim%02d", i))
		}
	})
	now := time.Now()
	many := map[string]string{}
	for i := 0; i < 20; i++ {
		many[fmt.Sprintf("dim%02d", i)] = fmt.Sprintf("v%d", i)
	}
	recs := []lokiRecord{
		{level: "INFO", body: "ok", ts: now.Add(-time.Second)},
		{level: "INFO", body: "too old", ts: now.Add(-200 * time.Hour)},
		{level: "INFO", body: "from the future", ts: now.Add(time.Hour)},
		{level: "INFO", body: strings.Repeat("x", 300<<10), ts: now.Add(-2 * time.Second)},
		{level: "INFO", body: "long label value", status: strings.Repeat("5", 3000), ts: now.Add(-3 * time.Second)},
		{level: "INFO", body: "many labels", attrs: many, ts: now.Add(-4 * time.Second)},
	}
	require.NoError(t, exp.ConsumeLogs(context.Background(), lokiLogs(map[string]string{"service.name": "limits"}, recs)),
		"Loki must not answer 400 to what the exporter can fix")

	got := queryEventually(t, l, "", `{service_name="limits"}`, now.Add(-time.Hour), 5)
	lines := map[string]backends.LokiEntry{}
	for _, s := range got {
		require.LessOrEqual(t, len(s.Labels), 15, "stream %v", s.Labels)
		for _, e := range s.Entries {
			key := e.Line
			if len(key) > 20 {
				key = key[:20]
			}
			lines[key] = e
		}
	}
	require.Contains(t, lines, "ok")
	require.Contains(t, lines, "from the future")
	require.NotContains(t, lines, "too old")
	require.Equal(t, strings.Repeat("5", 3000), lines["long label value"].Metadata["status_code"])
	require.Len(t, lines[strings.Repeat("x", 20)].Line, 256<<10)
	require.Contains(t, lines, "many labels")
}
