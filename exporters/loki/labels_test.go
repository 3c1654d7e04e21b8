package loki

import (
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

var lokiLabelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func TestSanitizeLabelName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"level", "level"},
		{"service.name", "service_name"},
		{"http.status_code", "http_status_code"},
		{"k8s.pod-name", "k8s_pod_name"},
		{"1st", "_1st"},
		{"__name__", "_name__"},
		{"__", "_"},
		{"", "_"},
		{"héllo", "h__llo"},
		{"a b/c", "a_b_c"},
		{"_private", "_private"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			require.Equal(t, tt.want, SanitizeLabelName(tt.in))
		})
	}
}

func FuzzSanitizeLabelName(f *testing.F) {
	for _, s := range []string{"service.name", "__meta", "9lives", "", "日本", "a..b", "_"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		got := SanitizeLabelName(key)
		require.Regexp(t, lokiLabelName, got)
		require.False(t, strings.HasPrefix(got, "__"), "reserved prefix in %q", got)
		require.Equal(t, got, SanitizeLabelName(got), "not idempotent")
		// The wire encoder's variant, after bytes already in the buffer.
		require.Equal(t, "prefix"+got, string(appendLabelName([]byte("prefix"), key)))
		if lokiLabelName.MatchString(key) && !strings.HasPrefix(key, "__") {
			require.Equal(t, key, got, "a valid name must be kept")
		}
	})
}

// FuzzAttributeToLabel checks the whole attribute -> stream mapping: the
// selector string parses with the PromQL parser Loki's grammar derives from,
// and the value is found either as a label or, when demoted, in structured
// metadata, never lost.
func FuzzAttributeToLabel(f *testing.F) {
	f.Add("status_code", "200")
	f.Add("user.id", "ü\"\\\n\x00")
	f.Add("1.x", strings.Repeat("v", 40))
	f.Add("region", "\xff\xfe")
	f.Fuzz(func(t *testing.T, key, value string) {
		if key == "" {
			return
		}
		cfg := testConfig()
		cfg.Labels = LabelsConfig{LogAttributes: []string{key}}
		cfg.Cardinality.MaxLabelValueLength = 32
		c := newConverter(cfg, fixedClock(time.Unix(1_700_000_000, 0)))
		ld := plog.NewLogs()
		lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.Body().SetStr("line")
		lr.Attributes().PutStr(key, value)
		var st convertStats
		batches := c.convert(ld, &st)
		require.Len(t, batches, 1)
		require.Len(t, decodeBatch(t, batches[0]).Streams, 1)
		s := decodeBatch(t, batches[0]).Streams[0]

		matchers, err := parser.NewParser(parser.Options{}).ParseMetricSelector(s.Labels)
		require.NoError(t, err, "selector %q", s.Labels)
		name := SanitizeLabelName(key)
		want := sanitizeLabelValue(value)
		require.True(t, utf8.ValidString(want))
		found := false
		for _, m := range matchers {
			require.Regexp(t, lokiLabelName, m.Name)
			if m.Name == name && value != "" {
				require.Equal(t, want, m.Value)
				found = true
			}
		}
		for _, sm := range s.Entries[0].StructuredMetadata {
			if sm.Name == name && value != "" {
				require.Equal(t, want, sm.Value)
				require.False(t, found, "value both label and metadata")
				found = true
			}
		}
		if value != "" {
			require.True(t, found, "value of %q lost in %q", key, s.Labels)
		}
	})
}
