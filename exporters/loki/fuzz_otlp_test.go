package loki

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

// fuzzLokiConfig is the gateway's label layout plus a record-level label, with limits small
// enough for short inputs to cross every one of them.
func fuzzLokiConfig() *Config {
	cfg := testConfig()
	cfg.Labels = LabelsConfig{
		Static:             map[string]string{"cluster": "c1"},
		Severity:           "level",
		ResourceAttributes: []string{"service.name", "service.namespace", "deployment.environment.name"},
		LogAttributes:      []string{"http.status_code"},
	}
	cfg.Tenant.ResourceAttribute = "tenant"
	cfg.Cardinality.MaxLabelNamesPerStream = 4
	cfg.Cardinality.MaxLabelValueLength = 64
	cfg.Cardinality.MaxValuesPerLabel = 3
	cfg.StructuredMetadata.MaxEntries = 8
	cfg.StructuredMetadata.MaxSize = 256
	cfg.Limits.MaxLineSize = 512
	return cfg
}

// checkPushRequest asserts every limit Loki's distributor validates, so that what the exporter
// sends is never answered with a 400.
func checkPushRequest(t *testing.T, cfg *Config, req *push.PushRequest) int {
	entries := 0
	for _, s := range req.Streams {
		matchers, err := parser.NewParser(parser.Options{}).ParseMetricSelector(s.Labels)
		require.NoError(t, err, "selector %q", s.Labels)
		require.NotEmpty(t, matchers, "stream without labels")
		require.LessOrEqual(t, len(matchers), cfg.Cardinality.MaxLabelNamesPerStream)
		seen := map[string]bool{}
		for _, m := range matchers {
			require.Regexp(t, lokiLabelName, m.Name)
			require.False(t, seen[m.Name], "duplicate label %q in %q", m.Name, s.Labels)
			seen[m.Name] = true
			require.LessOrEqual(t, len(m.Name), cfg.Cardinality.MaxLabelNameLength)
			require.LessOrEqual(t, len(m.Value), cfg.Cardinality.MaxLabelValueLength)
			require.True(t, utf8.ValidString(m.Value), "label value %q", m.Value)
		}
		for _, e := range s.Entries {
			entries++
			require.LessOrEqual(t, len(e.Line), cfg.Limits.MaxLineSize)
			require.LessOrEqual(t, len(e.StructuredMetadata), cfg.StructuredMetadata.MaxEntries)
			size := 0
			for _, sm := range e.StructuredMetadata {
				size += len(sm.Name) + len(sm.Value)
				require.True(t, utf8.ValidString(sm.Value), "structured metadata value %q", sm.Value)
			}
			require.LessOrEqual(t, size, cfg.StructuredMetadata.MaxSize)
		}
	}
	return entries
}

// FuzzConvertOTLPLogs decodes arbitrary bytes the way the OTLP receivers do (protobuf and JSON),
// converts them to Loki push requests and encodes those in both wire formats, without the
// network: no panic, no more entries than records, every label, line and structured metadata
// within Loki's limits, and both bodies decodable by Loki.
func FuzzConvertOTLPLogs(f *testing.F) {
	seed := goldenLogs()
	rl := seed.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", strings.Repeat("s", 100))
	rl.Resource().Attributes().PutStr("tenant", "team-a")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetSeverityText("\xff\xfeWARN\n")
	lr.Body().SetEmptyMap().PutStr("msg", strings.Repeat("é", 400))
	lr.Attributes().PutStr("http.status_code", "5\"0\\0")
	lr.Attributes().PutEmptyBytes("blob").FromRaw([]byte{0, 1, 2})
	lr.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Hour)))
	bad := seed.ResourceLogs().AppendEmpty()
	bad.Resource().Attributes().PutStr("tenant", "../etc")
	bad.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("x")
	req := plogotlp.NewExportRequestFromLogs(seed)
	pb, err := req.MarshalProto()
	require.NoError(f, err)
	js, err := req.MarshalJSON()
	require.NoError(f, err)
	f.Add(pb)
	f.Add(js)
	f.Add([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"kvlistValue":{"values":[{"key":"a","value":{"arrayValue":{}}}]}}}]}]}]}`))

	cfg := fuzzLokiConfig()
	require.NoError(f, cfg.Validate())
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, decode := range []func(plogotlp.ExportRequest) error{
			func(r plogotlp.ExportRequest) error { return r.UnmarshalProto(data) },
			func(r plogotlp.ExportRequest) error { return r.UnmarshalJSON(data) },
		} {
			r := plogotlp.NewExportRequest()
			if decode(r) != nil {
				continue
			}
			ld := r.Logs()
			records := ld.LogRecordCount()
			c := newConverter(cfg, fixedClock(t0))
			var st convertStats
			entries := 0
			for _, tb := range c.convert(ld, &st) {
				require.True(t, tb.tenant == "" || validTenant(tb.tenant), "tenant %q", tb.tenant)

				enc, err := encode(tb, FormatProtobuf)
				require.NoError(t, err)
				raw, err := snappy.Decode(nil, enc.body)
				require.NoError(t, err)
				var got push.PushRequest
				require.NoError(t, got.Unmarshal(raw))
				again, err := got.Marshal()
				require.NoError(t, err)
				require.True(t, bytes.Equal(again, raw), "not what loki/pkg/push marshals")
				enc.release()
				require.Len(t, got.Streams, len(tb.streams))
				entries += checkPushRequest(t, cfg, &got)

				enc, err = encode(tb, FormatJSON)
				require.NoError(t, err)
				require.True(t, json.Valid(enc.body), "invalid JSON body")
				enc.release()
			}
			require.LessOrEqual(t, entries, records)
		}
	})
}
