package tieredsampling

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
)

// FuzzDecide feeds arbitrary sampling attributes, trace IDs and hash keys through the decision:
// it must never panic, and every kept record's threshold must parse and be consistent with the
// record's own randomness, so downstream re-weighting never sees an impossible sample.
func FuzzDecide(f *testing.F) {
	f.Add([]byte{}, "", "", "", int32(9))
	f.Add(make([]byte, 16), "0", "ffffffffffffff", "req-1", int32(17))
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, "e667", "", "", int32(13))
	f.Add([]byte{0xff, 0xff}, "fffffffffffffff", "zz", "x", int32(-4))
	f.Add([]byte{}, "8", "00000000000000", "", int32(24))
	cfg := defaultCfg()
	cfg.HashAttribute = "request.id"
	p := newTestProcessor(f, cfg, nil, nil)
	f.Fuzz(func(t *testing.T, tid []byte, tvalue, rvalue, hashKey string, sev int32) {
		ld := plog.NewLogs()
		lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		var id pcommon.TraceID
		copy(id[:], tid)
		lr.SetTraceID(id)
		lr.SetSeverityNumber(plog.SeverityNumber(sev))
		if tvalue != "" {
			lr.Attributes().PutStr(thresholdAttr, tvalue)
		}
		if rvalue != "" {
			lr.Attributes().PutStr(randomnessAttr, rvalue)
		}
		if hashKey != "" {
			lr.Attributes().PutStr("request.id", hashKey)
		}
		out, _ := p.processLogs(context.Background(), ld)
		for _, kept := range allRecords(out) {
			v, ok := kept.Attributes().Get(thresholdAttr)
			require.True(t, ok, "kept record without threshold")
			th, err := sampling.TValueToThreshold(v.Str())
			require.NoError(t, err)
			// Only deterministic randomness can be recomputed here; the random fallback draws anew.
			if _, rerr := sampling.RValueToRandomness(rvalue); rerr == nil || !id.IsEmpty() || hashKey != "" {
				require.True(t, th.ShouldSample(p.randomness(kept, kept.Attributes())), "threshold %q inconsistent", v.Str())
			}
		}
	})
}

// FuzzCompileCondition checks that arbitrary tier conditions are either refused at compile time
// or evaluate without panicking.
func FuzzCompileCondition(f *testing.F) {
	for _, s := range []string{
		classicErrorCondition, classicWarnCondition, "true", `IsMatch(body, "^GET")`,
		`attributes["a"]["b"] == 1`, "severity_number >>= 3", `resource.attributes["service.name"] == "x"`, "",
	} {
		f.Add(s)
	}
	p := newTestProcessor(f, defaultCfg(), nil, nil)
	f.Fuzz(func(t *testing.T, cond string) {
		pol, err := compile("fuzz", []TierConfig{{Name: "t", Condition: cond, Percent: 50}}, p.opts)
		if err != nil {
			return
		}
		p.policy.Store(pol)
		ld := buildLogs("svc", rec{sev: plog.SeverityNumberInfo, attrs: map[string]any{"a": map[string]any{"b": 1}}, body: "GET /"})
		_, _ = p.processLogs(context.Background(), ld)
	})
}
