package loki

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/snappy"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

var t0 = time.Unix(1_700_000_000, 0).UTC()

// goldenLogs is a small corpus covering labels from resource, severity and
// log attributes, structured metadata, trace context and out-of-order
// timestamps within a stream.
func goldenLogs() plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	rl.Resource().Attributes().PutStr("host.name", "node-1")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()

	add := func(ts time.Time, sev, body, status string, user string) plog.LogRecord {
		lr := lrs.AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		lr.SetSeverityText(sev)
		lr.Body().SetStr(body)
		lr.Attributes().PutStr("http.status_code", status)
		lr.Attributes().PutStr("user.id", user)
		return lr
	}
	lr := add(t0.Add(2*time.Second), "INFO", "paid", "200", "u1")
	lr.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	lr.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	add(t0.Add(1*time.Second), "INFO", "cart", "200", "u2")
	add(t0, "ERROR", "declined", "402", "u1")
	return ld
}

func goldenConfig() *Config {
	cfg := testConfig()
	cfg.Labels = LabelsConfig{
		Static:             map[string]string{"env": "prod"},
		Severity:           "level",
		ResourceAttributes: []string{"service.name"},
		LogAttributes:      []string{"http.status_code"},
	}
	return cfg
}

func goldenExpected() push.PushRequest {
	return push.PushRequest{Streams: []push.Stream{
		{
			Labels: `{env="prod", http_status_code="200", level="INFO", service_name="checkout"}`,
			Entries: []push.Entry{
				{Timestamp: t0.Add(time.Second), Line: "cart", StructuredMetadata: push.LabelsAdapter{
					{Name: "user_id", Value: "u2"}, {Name: "host_name", Value: "node-1"},
				}},
				{Timestamp: t0.Add(2 * time.Second), Line: "paid", StructuredMetadata: push.LabelsAdapter{
					{Name: "trace_id", Value: "0102030405060708090a0b0c0d0e0f10"}, {Name: "span_id", Value: "0102030405060708"},
					{Name: "user_id", Value: "u1"}, {Name: "host_name", Value: "node-1"},
				}},
			},
		},
		{
			Labels: `{env="prod", http_status_code="402", level="ERROR", service_name="checkout"}`,
			Entries: []push.Entry{
				{Timestamp: t0, Line: "declined", StructuredMetadata: push.LabelsAdapter{
					{Name: "user_id", Value: "u1"}, {Name: "host_name", Value: "node-1"},
				}},
			},
		},
	}}
}

func TestEncodeProtobufGolden(t *testing.T) {
	c := newConverter(goldenConfig(), fixedClock(t0.Add(time.Minute)))
	var st convertStats
	batches := c.convert(goldenLogs(), &st)
	require.Len(t, batches, 1)

	enc, err := encode(batches[0], FormatProtobuf)
	require.NoError(t, err)
	defer enc.release()
	require.Equal(t, contentTypeProtobuf, enc.contentType)

	raw, err := snappy.Decode(nil, enc.body)
	require.NoError(t, err)
	var got push.PushRequest
	require.NoError(t, got.Unmarshal(raw))
	ref, err := got.Marshal()
	require.NoError(t, err)
	require.Equal(t, ref, raw, "must match Loki's own marshalling byte for byte")
	want := goldenExpected()
	require.Len(t, got.Streams, len(want.Streams))
	for i := range want.Streams {
		require.Equal(t, want.Streams[i].Labels, got.Streams[i].Labels)
		require.Len(t, got.Streams[i].Entries, len(want.Streams[i].Entries))
		for j, we := range want.Streams[i].Entries {
			ge := got.Streams[i].Entries[j]
			require.True(t, we.Timestamp.Equal(ge.Timestamp), "stream %d entry %d: %v != %v", i, j, we.Timestamp, ge.Timestamp)
			require.Equal(t, we.Line, ge.Line)
			require.Equal(t, we.StructuredMetadata, ge.StructuredMetadata)
		}
	}
}

type jsonPush struct {
	Streams []struct {
		Stream map[string]string `json:"stream"`
		Values [][]any           `json:"values"`
	} `json:"streams"`
}

func TestEncodeJSONGolden(t *testing.T) {
	cfg := goldenConfig()
	cfg.Format = FormatJSON
	cfg.LineFormat = LineFormatJSON
	cfg.StructuredMetadata.LogAttributes = false
	c := newConverter(cfg, fixedClock(t0.Add(time.Minute)))
	var st convertStats
	batches := c.convert(goldenLogs(), &st)
	require.Len(t, batches, 1)
	enc, err := encode(batches[0], FormatJSON)
	require.NoError(t, err)
	defer enc.release()
	require.Equal(t, contentTypeJSON, enc.contentType)

	var got jsonPush
	require.NoError(t, json.Unmarshal(enc.body, &got), string(enc.body))
	require.Len(t, got.Streams, 2)
	require.Equal(t, map[string]string{"env": "prod", "http_status_code": "200", "level": "INFO", "service_name": "checkout"}, got.Streams[0].Stream)
	require.Len(t, got.Streams[0].Values, 2)
	first := got.Streams[0].Values[0]
	require.Equal(t, strconv.FormatInt(t0.Add(time.Second).UnixNano(), 10), first[0])
	var line map[string]any
	require.NoError(t, json.Unmarshal([]byte(first[1].(string)), &line))
	require.Equal(t, map[string]any{"body": "cart", "attributes": map[string]any{"user.id": "u2"}}, line)
	require.Equal(t, map[string]any{"host_name": "node-1"}, first[2])
	second := got.Streams[0].Values[1]
	require.Equal(t, map[string]any{"trace_id": "0102030405060708090a0b0c0d0e0f10", "span_id": "0102030405060708", "host_name": "node-1"}, second[2])
}

func TestConvertLimits(t *testing.T) {
	now := t0
	tests := []struct {
		name        string
		mutate      func(*Config)
		ts          time.Time
		body        string
		wantEntries int
		wantLine    string
		wantTS      time.Time
		wantStats   convertStats
	}{
		{name: "in range", ts: now.Add(-time.Hour), body: "ok", wantEntries: 1, wantLine: "ok", wantTS: now.Add(-time.Hour)},
		{name: "too old dropped", ts: now.Add(-169 * time.Hour), body: "old", wantStats: convertStats{dropped: map[string]int64{dropTooOld: 1}}},
		{name: "future clamped", ts: now.Add(time.Hour), body: "f", wantEntries: 1, wantLine: "f", wantTS: now},
		{name: "future dropped", mutate: func(c *Config) { c.Limits.FutureEntries = ActionDrop }, ts: now.Add(time.Hour), body: "f",
			wantStats: convertStats{dropped: map[string]int64{dropTooNew: 1}}},
		{name: "long line truncated on a rune boundary", mutate: func(c *Config) { c.Limits.MaxLineSize = 4 }, ts: now, body: "abcé",
			wantEntries: 1, wantLine: "abc", wantTS: now, wantStats: convertStats{truncated: 1}},
		{name: "long line dropped", mutate: func(c *Config) { c.Limits.MaxLineSize = 4; c.Limits.LineTooLong = ActionDrop }, ts: now, body: "abcdef",
			wantStats: convertStats{dropped: map[string]int64{dropLineTooLong: 1}}},
		{name: "age check disabled", mutate: func(c *Config) { c.Limits.MaxEntryAge = 0 }, ts: now.Add(-1000 * time.Hour), body: "x",
			wantEntries: 1, wantLine: "x", wantTS: now.Add(-1000 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			if tt.mutate != nil {
				tt.mutate(cfg)
			}
			c := newConverter(cfg, fixedClock(now))
			ld := plog.NewLogs()
			lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(tt.ts))
			lr.Body().SetStr(tt.body)
			var global convertStats
			batches := c.convert(ld, &global)
			require.Len(t, batches, 1)
			require.Equal(t, tt.wantEntries, batches[0].entries)
			require.Equal(t, tt.wantStats, batches[0].stats)
			if tt.wantEntries == 1 {
				e := decodeBatch(t, batches[0]).Streams[0].Entries[0]
				require.Equal(t, tt.wantLine, e.Line)
				require.True(t, tt.wantTS.Equal(e.Timestamp))
				// No label configured matched: the fallback keeps the stream valid.
				require.Equal(t, `{service_name="unknown_service"}`, decodeBatch(t, batches[0]).Streams[0].Labels)
			}
		})
	}
}

func TestConvertDemotesOverBudget(t *testing.T) {
	cfg := testConfig()
	cfg.Labels = LabelsConfig{ResourceAttributes: []string{"service.name"}, LogAttributes: []string{"user.id"}}
	cfg.Cardinality.MaxValuesPerLabel = 2
	c := newConverter(cfg, fixedClock(t0))
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "api")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for _, u := range []string{"a", "b", "c", "d", "a"} {
		lr := lrs.AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t0))
		lr.Body().SetStr("hit " + u)
		lr.Attributes().PutStr("user.id", u)
	}
	var global convertStats
	batches := c.convert(ld, &global)
	require.Len(t, batches, 1)
	tb := batches[0]
	require.Equal(t, 5, tb.entries, "demotion must not drop entries")
	require.Equal(t, map[string]int64{demoteValueBudget: 2}, tb.stats.demoted)

	byLabels := map[string][]push.Entry{}
	for _, s := range decodeBatch(t, tb).Streams {
		byLabels[s.Labels] = s.Entries
	}
	require.Len(t, byLabels[`{service_name="api", user_id="a"}`], 2)
	require.Len(t, byLabels[`{service_name="api", user_id="b"}`], 1)
	demoted := byLabels[`{service_name="api"}`]
	require.Len(t, demoted, 2)
	for i, u := range []string{"c", "d"} {
		require.Equal(t, push.LabelAdapter{Name: "user_id", Value: u}, demoted[i].StructuredMetadata[0])
	}
}

func TestConvertTenants(t *testing.T) {
	cfg := testConfig()
	cfg.Tenant = TenantConfig{Default: "shared", ResourceAttribute: "tenant"}
	c := newConverter(cfg, fixedClock(t0))
	ld := plog.NewLogs()
	for _, tenant := range []string{"team-a", "", "team-a", "bad tenant/x"} {
		rl := ld.ResourceLogs().AppendEmpty()
		if tenant != "" {
			rl.Resource().Attributes().PutStr("tenant", tenant)
		}
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t0))
		lr.Body().SetStr("x")
	}
	var global convertStats
	batches := c.convert(ld, &global)
	require.Len(t, batches, 2)
	require.Equal(t, "team-a", batches[0].tenant)
	require.Equal(t, []int{0, 2}, batches[0].resources)
	require.Equal(t, 2, batches[0].entries)
	require.Equal(t, "shared", batches[1].tenant)
	require.Equal(t, []int{1}, batches[1].resources)
	require.Equal(t, map[string]int64{dropInvalidTenant: 1}, global.dropped)
	for _, s := range decodeBatch(t, batches[0]).Streams {
		for _, e := range s.Entries {
			for _, m := range e.StructuredMetadata {
				require.NotEqual(t, "tenant", m.Name, "the tenant attribute is routing, not metadata")
			}
		}
	}
}

func TestStructuredMetadataCapped(t *testing.T) {
	cfg := testConfig()
	cfg.StructuredMetadata.MaxEntries = 3
	c := newConverter(cfg, fixedClock(t0))
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(t0))
	for i := 0; i < 10; i++ {
		lr.Attributes().PutInt("k"+strconv.Itoa(i), int64(i))
	}
	var global convertStats
	batches := c.convert(ld, &global)
	require.Len(t, decodeBatch(t, batches[0]).Streams[0].Entries[0].StructuredMetadata, 3)
	require.Equal(t, int64(1), batches[0].stats.smTruncated)
}
