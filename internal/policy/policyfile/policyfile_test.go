package policyfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		file    string
		format  string
		version string
		check   func(t *testing.T, p Policy)
	}{
		{
			file: "valid_sieve.yaml", format: "sieve", version: "2026-11-22.1",
			check: func(t *testing.T, p Policy) {
				require.InDelta(t, 0.1, *p.DefaultRate, 0)
				require.InDelta(t, 0.5, p.RateOf("checkout"), 0)
				require.InDelta(t, 0.1, p.RateOf("unknown"), 0)
				require.InDelta(t, 0.25, p.Services["checkout"].Operations["GET /cart"], 0)
				require.Len(t, p.Rules, 2)
				require.Equal(t, ActionNever, p.Rules[0].Action)
				require.Len(t, p.Adaptive, 1)
				require.InDelta(t, 500, p.Adaptive[0].TargetSpansPerSecond, 0)
				require.Len(t, p.LogTiers, 3)
				require.True(t, p.LogTiers[1].Drop)
				require.Equal(t, "service.name", p.LogTiers[2].RateLimitKey)
			},
		},
		{
			file: "valid_sieve.json", format: "sieve", version: "json-1",
			check: func(t *testing.T, p Policy) {
				require.InDelta(t, 1, p.Services["checkout"].Operations["POST /pay"], 0)
				require.Equal(t, "GET /health", p.Rules[0].SpanNamePrefix)
				require.InDelta(t, 50, p.Adaptive[0].TargetTracesPerSecond, 0)
			},
		},
		{
			file: "valid_jaeger.json", format: "jaeger",
			check: func(t *testing.T, p Policy) {
				require.InDelta(t, 0.5, *p.DefaultRate, 0)
				require.InDelta(t, 0.8, p.RateOf("foo"), 0)
				require.InDelta(t, 0.2, p.Services["foo"].Operations["op1"], 0)
				require.InDelta(t, 0.4, p.Services["foo"].Operations["op2"], 0)
				// ratelimiting becomes a traces/s target over a full base rate.
				require.InDelta(t, 1, p.RateOf("bar"), 0)
				require.Equal(t, []Adaptive{{Service: "bar", TargetTracesPerSecond: 5}}, p.Adaptive)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", tt.file))
			require.NoError(t, err)
			doc, err := Parse(raw)
			require.NoError(t, err)
			require.Equal(t, tt.format, doc.Format)
			require.Len(t, doc.Hash, 64)
			if tt.version != "" {
				require.Equal(t, tt.version, doc.Policy.Version)
			} else {
				require.Equal(t, "sha256:"+doc.Hash[:12], doc.Policy.Version)
			}
			tt.check(t, doc.Policy)
		})
	}
}

func TestParseJaegerWithoutDefault(t *testing.T) {
	doc, err := Parse([]byte(`{"service_strategies": [{"service": "a", "type": "probabilistic", "param": 0.3}]}`))
	require.NoError(t, err)
	require.InDelta(t, jaegerDefaultRate, *doc.Policy.DefaultRate, 0)
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"invalid_syntax.yaml", "policy format"},
		{"invalid_empty.yaml", "empty document"},
		{"invalid_unknown_key.yaml", "sample_rate"},
		{"invalid_missing_default.yaml", "default_rate: required"},
		{"invalid_default_rate.yaml", "default_rate: rate 1.5"},
		{"invalid_service_rate.yaml", "services.a.rate"},
		{"invalid_empty_service.yaml", "services: empty service name"},
		{"invalid_operation_rate.yaml", `services.a.operations["op"]`},
		{"invalid_empty_operation.yaml", "services.a.operations: empty operation name"},
		{"invalid_rule_name.yaml", "rules[0].name: required"},
		{"invalid_rule_duplicate.yaml", "rules[1].name: duplicate"},
		{"invalid_rule_action.yaml", "rules[0].action"},
		{"invalid_rule_matcher.yaml", "rules[0]: needs a condition or at least one"},
		{"invalid_rule_condition.yaml", "rules[0].condition: "},
		{"invalid_rule_condition_and_shorthand.yaml", "rules[0].condition: a rule has a condition or the shorthand"},
		{"invalid_latency_threshold.yaml", `services.a.operation_latency_thresholds["GET /"]: -5ms must not be negative`},
		{"invalid_rule_name_and_prefix.yaml", "span_name and span_name_prefix are exclusive"},
		{"invalid_rule_value.yaml", "rules[0].value: needs attribute"},
		{"invalid_adaptive_duplicate.yaml", "adaptive[1].service: duplicate"},
		{"invalid_adaptive_target.yaml", "adaptive[0].target_spans_per_second"},
		{"invalid_adaptive_target_inf.yaml", "adaptive[0].target_spans_per_second"},
		{"invalid_adaptive_traces_target.yaml", "adaptive[0].target_traces_per_second"},
		{"invalid_adaptive_both_targets.yaml", "are exclusive"},
		{"invalid_adaptive_error_ratio.yaml", "adaptive[0].error_ratio"},
		{"invalid_adaptive_min_rate.yaml", "adaptive[0].min_rate"},
		{"invalid_adaptive_max_rate.yaml", "adaptive[0].max_rate"},
		{"invalid_adaptive_min_above_max.yaml", "above max_rate"},
		{"invalid_tier_name.yaml", "log_tiers[0].name: required"},
		{"invalid_tier_duplicate.yaml", "log_tiers[1].name: duplicate"},
		{"invalid_tier_percent.yaml", "log_tiers[0].percent"},
		{"invalid_tier_rate_limit.yaml", "log_tiers[0].rate_limit"},
		{"invalid_tier_rate_limit_inf.yaml", "log_tiers[0].rate_limit"},
		{"invalid_jaeger_type.json", "default_strategy.type"},
		{"invalid_jaeger_ratelimit.json", "service_strategies[0].param"},
		{"invalid_jaeger_default_ratelimit.json", "default_strategy.param"},
		{"invalid_jaeger_default_operations.json", "default_strategy.operation_strategies"},
		{"invalid_jaeger_service.json", "service_strategies[0].service: required"},
		{"invalid_jaeger_service_duplicate.json", "service_strategies[1].service: duplicate"},
		{"invalid_jaeger_service_type.json", "service_strategies[0].type"},
		{"invalid_jaeger_operation_type.json", "service_strategies[0].operation_strategies[0].type"},
		{"invalid_jaeger_operation_name.json", "service_strategies[0].operation_strategies[0].operation: required"},
		{"invalid_jaeger_operation_duplicate.json", "operation_strategies[1].operation: duplicate"},
		{"invalid_jaeger_rate.json", "services.a.rate"},
		{"invalid_jaeger_unknown_key.json", "extra"},
	}
	files, err := filepath.Glob("testdata/invalid_*")
	require.NoError(t, err)
	require.Len(t, tests, len(files), "every invalid fixture needs a case")
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", tt.file))
			require.NoError(t, err)
			_, err = Parse(raw)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestParseLimits(t *testing.T) {
	big := make([]byte, MaxSize+1)
	_, err := Parse(big)
	require.ErrorContains(t, err, "more than")

	var b strings.Builder
	b.WriteString("default_rate: 0.1\nrules:\n")
	for i := 0; i <= MaxRules; i++ {
		b.WriteString("  - {name: r" + strings.Repeat("x", i) + ", action: never, service: s}\n")
	}
	_, err = Parse([]byte(b.String()))
	require.ErrorContains(t, err, "rules: 257 rules")
}

func TestHashIdentifiesContent(t *testing.T) {
	a, err := Parse([]byte("default_rate: 0.1\n"))
	require.NoError(t, err)
	b, err := Parse([]byte("default_rate: 0.1\n"))
	require.NoError(t, err)
	c, err := Parse([]byte("default_rate: 0.2\n"))
	require.NoError(t, err)
	require.Equal(t, a.Hash, b.Hash)
	require.NotEqual(t, a.Hash, c.Hash)
}

func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*")
	require.NoError(f, err)
	for _, file := range files {
		raw, err := os.ReadFile(file)
		require.NoError(f, err)
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		doc, err := Parse(raw)
		if err != nil {
			return
		}
		// Whatever parses must be enforceable: a valid default rate, valid rates everywhere.
		require.True(t, ValidRate(*doc.Policy.DefaultRate))
		for name := range doc.Policy.Services {
			require.True(t, ValidRate(doc.Policy.RateOf(name)))
		}
		require.NoError(t, doc.Policy.Validate())
		require.NotEmpty(t, doc.Policy.Version)
	})
}
