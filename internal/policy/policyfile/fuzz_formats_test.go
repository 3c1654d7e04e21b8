package policyfile

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParseFormats builds documents of each accepted format (Sieve YAML, Sieve JSON, Jaeger
// strategies JSON) from fuzzed fields, so that the decoders and the Jaeger mapping see
// structurally valid input far more often than raw bytes give them. Whatever parses is served
// back as JSON on /policy and handed to SDKs, so it must encode, and the encoding must parse
// again to the same policy.
func FuzzParseFormats(f *testing.F) {
	f.Add(uint8(0), "checkout", "POST /pay", "probabilistic", 0.5, 0.1, 10.0)
	f.Add(uint8(1), "web", "GET /", "ratelimiting", 1.0, 1.0, 0.0)
	f.Add(uint8(2), "api", "op", "ratelimiting", 5.0, 0.25, 100.0)
	f.Add(uint8(2), "", "", "probabilistic", 2.0, -1.0, -3.0)
	f.Add(uint8(0), "a\"b", "\n", "x", 1e-17, 1.0, 1e308)
	f.Add(uint8(0), "a", "b", "c", 0.5, 0.5, math.Inf(1))
	// An operation name longer than YAML's 1024-character implicit key, served back as JSON.
	f.Add(uint8(2), "api", strings.Repeat(",", 2000), "ratelimiting", 5.0, 0.25, 100.0)
	f.Fuzz(func(t *testing.T, format uint8, service, op, typ string, param, opRate, target float64) {
		svc, _ := json.Marshal(service)
		o, _ := json.Marshal(op)
		ty, _ := json.Marshal(typ)
		var doc string
		switch format % 3 {
		case 0:
			doc = fmt.Sprintf("default_rate: %v\nservices:\n  %s:\n    rate: %v\n    operations:\n      %s: %v\nadaptive:\n  - {service: %s, target_spans_per_second: %v}\nlog_tiers:\n  - {name: %s, percent: %v, rate_limit: %v, rate_limit_key: service.name}\n",
				yamlNumber(opRate), svc, yamlNumber(param), o, yamlNumber(opRate), svc, yamlNumber(target), ty, yamlNumber(param), yamlNumber(target))
		case 1:
			doc = fmt.Sprintf(`{"default_rate": %v, "services": {%s: {"rate": %v, "operations": {%s: %v}}}, "rules": [{"name": %s, "action": "never", "span_name": %s}]}`,
				jsonNumber(param), svc, jsonNumber(opRate), o, jsonNumber(opRate), ty, o)
		default:
			doc = fmt.Sprintf(`{"default_strategy": {"type": %s, "param": %v}, "service_strategies": [{"service": %s, "type": %s, "param": %v, "operation_strategies": [{"operation": %s, "type": "probabilistic", "param": %v}]}]}`,
				ty, jsonNumber(param), svc, ty, jsonNumber(target), o, jsonNumber(opRate))
		}
		parsed, err := Parse([]byte(doc))
		if err != nil {
			return
		}
		require.Equal(t, []string{"sieve", "sieve", "jaeger"}[format%3], parsed.Format)
		served, err := json.Marshal(parsed.Policy)
		require.NoError(t, err, "accepted policy cannot be served as JSON:\n%s", doc)
		again, err := Parse(served)
		require.NoError(t, err, "served policy refused:\n%s", served)
		reserved, err := json.Marshal(again.Policy)
		require.NoError(t, err)
		require.JSONEq(t, string(served), string(reserved))
	})
}

// yamlNumber spells every float64 the way YAML reads it back, infinities and NaN included.
func yamlNumber(v float64) string {
	switch {
	case math.IsNaN(v):
		return ".nan"
	case math.IsInf(v, 1):
		return ".inf"
	case math.IsInf(v, -1):
		return "-.inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// jsonNumber keeps the document JSON when the fuzzer picks a value JSON cannot spell.
func jsonNumber(v float64) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "0"
	}
	return string(b)
}
