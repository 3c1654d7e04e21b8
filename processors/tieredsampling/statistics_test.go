package tieredsampling

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/probabilisticsamplerprocessor"
)

// z999 is the two-sided 99.9% normal quantile.
const z999 = 3.2905

// TestKeptFractionWithinBinomialInterval sends 1M records with a realistic severity mix through
// the classic policy, for each source of randomness, and checks every tier's kept fraction
// against the 99.9% interval around the probability its threshold encodes.
func TestKeptFractionWithinBinomialInterval(t *testing.T) {
	if testing.Short() {
		t.Skip("1M records")
	}
	const total, batch = 1_000_000, 10_000
	for _, source := range []string{"trace_id", "hash_attribute", "content"} {
		t.Run(source, func(t *testing.T) {
			cfg := defaultCfg()
			cfg.HashAttribute = "request.id"
			p := newTestProcessor(t, cfg, nil, nil)
			rng := rand.New(rand.NewPCG(42, uint64(len(source))))
			// Records a logger writes one after another: a millisecond apart, a few messages.
			start := time.Unix(1_700_000_000, 0)
			pol := p.policy.Load()
			in := make([]int, len(pol.tiers))
			kept := make([]int, len(pol.tiers))
			tierOf := func(sev plog.SeverityNumber) int {
				switch {
				case sev >= plog.SeverityNumberError:
					return 0
				case sev >= plog.SeverityNumberWarn:
					return 1
				}
				return 2
			}
			for sent := 0; sent < total; sent += batch {
				ld := plog.NewLogs()
				sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
				for i := range batch {
					lr := sl.LogRecords().AppendEmpty()
					var sev plog.SeverityNumber
					switch x := rng.IntN(100); {
					case x < 2:
						sev = plog.SeverityNumberError
					case x < 12:
						sev = plog.SeverityNumberWarn
					case x < 60:
						sev = plog.SeverityNumberInfo
					default:
						sev = plog.SeverityNumberDebug
					}
					lr.SetSeverityNumber(sev)
					switch source {
					case "trace_id":
						lr.SetTraceID(randomTraceID(rng))
					case "hash_attribute":
						lr.Attributes().PutStr("request.id", strconv.Itoa(sent+i))
					case "content":
						ts := pcommon.NewTimestampFromTime(start.Add(time.Duration(sent+i) * time.Millisecond))
						lr.SetTimestamp(ts)
						lr.SetObservedTimestamp(ts)
						lr.Body().SetStr([]string{"request served", "cache miss", "retrying"}[rng.IntN(3)])
					}
					in[tierOf(sev)]++
				}
				out, _ := p.processLogs(context.Background(), ld)
				for _, lr := range allRecords(out) {
					kept[tierOf(lr.SeverityNumber())]++
				}
			}
			for i, tr := range pol.tiers {
				prob := tr.threshold.Probability()
				n := float64(in[i])
				half := z999 * math.Sqrt(prob*(1-prob)/n)
				frac := float64(kept[i]) / n
				t.Logf("tier %s: %d/%d kept = %.5f, expected %.5f ± %.5f", tr.name, kept[i], in[i], frac, prob, half)
				require.Greater(t, in[i], 10_000, tr.name)
				require.InDelta(t, prob, frac, half+1e-12, "tier %s", tr.name)
			}
		})
	}
}

// TestOneTraceOneDecision spreads the records of each trace over several batches; within a tier
// every record of a trace shares the decision, and a trace kept by a lower tier is kept by every
// higher one, as spans sampled at the same or a higher rate would be.
func TestOneTraceOneDecision(t *testing.T) {
	p := newTestProcessor(t, defaultCfg(), nil, nil)
	// 5% rather than 0.1% so that enough traces are kept for the nesting check to bite.
	pol, err := compile("v", p.cfg.Tiers, compileOptions{
		precision: 4, maxKeys: 1, defaultTier: DefaultTierConfig{Name: "default", Percent: 5},
		now: newFakeClock().Now, parserSettings: componenttestSettings().TelemetrySettings,
	})
	require.NoError(t, err)
	p.policy.Store(pol)

	rng := rand.New(rand.NewPCG(7, 7))
	const traces = 5000
	ids := make([]pcommon.TraceID, traces)
	for i := range ids {
		ids[i] = randomTraceID(rng)
	}
	sevs := []plog.SeverityNumber{plog.SeverityNumberDebug, plog.SeverityNumberInfo, plog.SeverityNumberInfo4, plog.SeverityNumberWarn, plog.SeverityNumberWarn3}
	type key struct {
		trace int
		warn  bool
	}
	decisions := map[key]map[bool]int{}
	for range 4 {
		ld := plog.NewLogs()
		sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
		for _, i := range rng.Perm(traces) {
			for _, sev := range sevs {
				lr := sl.LogRecords().AppendEmpty()
				lr.SetTraceID(ids[i])
				lr.SetSeverityNumber(sev)
				lr.Body().SetStr(fmt.Sprintf("%d", i))
			}
		}
		out, _ := p.processLogs(context.Background(), ld)
		keptPer := map[key]int{}
		for _, lr := range allRecords(out) {
			i, _ := strconv.Atoi(lr.Body().Str())
			keptPer[key{i, lr.SeverityNumber() >= plog.SeverityNumberWarn}]++
		}
		for i := range traces {
			for _, warn := range []bool{false, true} {
				k := key{i, warn}
				n := keptPer[k]
				full := 3
				if warn {
					full = 2
				}
				require.True(t, n == 0 || n == full, "trace %d split within one batch: %d of %d kept", i, n, full)
				if decisions[k] == nil {
					decisions[k] = map[bool]int{}
				}
				decisions[k][n > 0]++
			}
		}
	}
	keptTraces := 0
	for i := range traces {
		low, high := decisions[key{i, false}], decisions[key{i, true}]
		require.Len(t, low, 1, "trace %d: default tier decision changed between batches", i)
		require.Len(t, high, 1, "trace %d: warn tier decision changed between batches", i)
		if low[true] > 0 {
			keptTraces++
			require.Positive(t, high[true], "trace %d kept at 5%% but not at 10%%", i)
		}
	}
	require.Positive(t, keptTraces)
}

// TestAgreesWithProbabilisticSampler runs the same trace IDs through contrib's
// probabilistic_sampler (equalizing mode, the OTel consistent-probability mode) and through a
// single tier at the same rate: the kept records and their sampling.threshold must be identical.
func TestAgreesWithProbabilisticSampler(t *testing.T) {
	for _, pct := range []float32{0.1, 1, 10, 33.3, 50, 100} {
		t.Run(fmt.Sprint(pct), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(pct*1000), 99))
			ld := plog.NewLogs()
			sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
			const n = 50_000
			for i := range n {
				lr := sl.LogRecords().AppendEmpty()
				lr.SetTraceID(randomTraceID(rng))
				lr.SetSeverityNumber(plog.SeverityNumberInfo)
				lr.Body().SetStr(strconv.Itoa(i))
			}

			upstreamFactory := probabilisticsamplerprocessor.NewFactory()
			ucfg := upstreamFactory.CreateDefaultConfig()
			require.NoError(t, confmap.NewFromStringMap(map[string]any{
				"sampling_percentage": pct, "mode": "equalizing", "sampling_precision": 4,
			}).Unmarshal(ucfg))
			sink := new(consumertest.LogsSink)
			up, err := upstreamFactory.CreateLogs(context.Background(), processortest.NewNopSettings(upstreamFactory.Type()), ucfg, sink)
			require.NoError(t, err)
			require.NoError(t, up.Start(context.Background(), hostWith(map[component.ID]component.Component{})))
			upIn := plog.NewLogs()
			ld.CopyTo(upIn)
			require.NoError(t, up.ConsumeLogs(context.Background(), upIn))
			require.NoError(t, up.Shutdown(context.Background()))

			cfg := defaultCfg()
			cfg.Tiers = nil
			// The upstream setting is a float32; compare at exactly the rate it applies.
			cfg.DefaultTier.Percent = float64(pct)
			p := newTestProcessor(t, cfg, nil, nil)
			ours, _ := p.processLogs(context.Background(), ld)

			upstream := map[string]map[string]any{}
			for _, out := range sink.AllLogs() {
				for _, lr := range allRecords(out) {
					upstream[lr.Body().Str()] = lr.Attributes().AsRaw()
				}
			}
			got := map[string]map[string]any{}
			for _, lr := range allRecords(ours) {
				got[lr.Body().Str()] = lr.Attributes().AsRaw()
			}
			require.NotEmpty(t, got)
			require.Equal(t, upstream, got)
		})
	}
}
