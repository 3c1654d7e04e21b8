package tieredsampling

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/sieveobs/sieve/internal/policy"
	"github.com/sieveobs/sieve/processors/tieredsampling/internal/metadatatest"
)

func keptBodies(t *testing.T, p *tieredProcessor, recs ...rec) []string {
	t.Helper()
	out, _ := p.processLogs(context.Background(), buildLogs("svc", recs...))
	var bodies []string
	for _, lr := range allRecords(out) {
		bodies = append(bodies, lr.Body().Str())
	}
	return bodies
}

func TestPolicySourceSwapsAndRefuses(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	id := component.MustNewID("sampling_policy")
	src := &fakeSource{initial: &policy.LogTiers{Version: "v1", Tiers: []policy.LogTier{
		{Name: "keep-debug", Condition: "severity_number <= SEVERITY_NUMBER_DEBUG4", Percent: 100},
	}}}
	cfg := defaultCfg()
	cfg.PolicySource = id
	cfg.DefaultTier.Percent = 0
	p := newTestProcessorWithSettings(t, metadatatest.NewSettings(tt), cfg, nil, nil)

	in := []rec{
		{sev: plog.SeverityNumberDebug, traceID: traceIDWithRandomness(0), body: "debug"},
		{sev: plog.SeverityNumberError, traceID: traceIDWithRandomness(0), body: "error"},
	}
	// Before Start the configured tiers rule.
	require.Equal(t, []string{"error"}, keptBodies(t, p, in...))

	require.NoError(t, p.start(context.Background(), hostWith(map[component.ID]component.Component{id: src})))
	require.Equal(t, "v1", p.policy.Load().version)
	require.Equal(t, []string{"debug"}, keptBodies(t, p, in...))

	for _, bad := range []policy.LogTiers{
		{Version: "bad-ottl", Tiers: []policy.LogTier{{Name: "x", Condition: "severity_number >>>", Percent: 100}}},
		{Version: "bad-rate", Tiers: []policy.LogTier{{Name: "x", Condition: "true", Percent: 101}}},
		{Version: "dup", Tiers: []policy.LogTier{{Name: "x", Condition: "true", Percent: 1}, {Name: "x", Condition: "false", Percent: 1}}},
		{Version: "clash", Tiers: []policy.LogTier{{Name: "default", Condition: "true", Percent: 1}}},
	} {
		require.Error(t, src.push(bad), bad.Version)
		require.Equal(t, "v1", p.policy.Load().version, "refused %s must leave v1 running", bad.Version)
	}
	require.Equal(t, []string{"debug"}, keptBodies(t, p, in...))

	require.NoError(t, src.push(policy.LogTiers{Version: "v2", Tiers: []policy.LogTier{
		{Name: "errors", Condition: "severity_number >= SEVERITY_NUMBER_ERROR", Percent: 100},
	}}))
	require.Equal(t, []string{"error"}, keptBodies(t, p, in...))

	metadatatest.AssertEqualProcessorTieredSamplingPolicyUpdates(t, tt, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("result", "applied")), Value: 2},
		{Attributes: attribute.NewSet(attribute.String("result", "refused")), Value: 4},
	}, metricdatatest.IgnoreTimestamp())

	require.NoError(t, p.shutdown(context.Background()))
	require.True(t, src.stopped)
}

// TestSwapNeverSplitsABatch swaps between keep-all and drop-all while batches flow: every batch
// must come out whole or empty, and the counters must add up to exactly what went in.
func TestSwapNeverSplitsABatch(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	id := component.MustNewID("sampling_policy")
	src := &fakeSource{}
	cfg := defaultCfg()
	cfg.PolicySource = id
	p := newTestProcessorWithSettings(t, metadatatest.NewSettings(tt), cfg, nil, nil)
	require.NoError(t, p.start(context.Background(), hostWith(map[component.ID]component.Component{id: src})))

	keepAll := policy.LogTiers{Version: "keep", Tiers: []policy.LogTier{{Name: "all", Percent: 100}}}
	dropAll := policy.LogTiers{Version: "drop", Tiers: []policy.LogTier{{Name: "all", Drop: true}}}
	require.NoError(t, src.push(keepAll))
	const batches, size = 200, 50
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			v := keepAll
			if i%2 == 1 {
				v = dropAll
			}
			_ = src.push(v)
		}
	}()
	var kept int64
	var mu sync.Mutex
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range batches / 2 {
				recs := make([]rec, size)
				for i := range recs {
					recs[i] = rec{sev: plog.SeverityNumberInfo, body: "x"}
				}
				out, _ := p.processLogs(context.Background(), buildLogs("svc", recs...))
				n := out.LogRecordCount()
				if n != 0 && n != size {
					t.Errorf("batch split across policy versions: %d of %d kept", n, size)
				}
				mu.Lock()
				kept += int64(n)
				mu.Unlock()
			}
		}()
	}
	// Wait for the record workers by polling the counters they drive; the swapper runs until told.
	require.Eventually(t, func() bool {
		m, err := tt.GetMetric("otelcol_processor_tiered_sampling_records_in")
		if err != nil {
			return false
		}
		var total int64
		for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
			total += dp.Value
		}
		return total == batches*size
	}, 10*time.Second, time.Millisecond)
	close(done)
	wg.Wait()

	sum := func(name string) int64 {
		m, err := tt.GetMetric(name)
		if err != nil {
			return 0
		}
		var total int64
		for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
			total += dp.Value
		}
		return total
	}
	require.Equal(t, kept, sum("otelcol_processor_tiered_sampling_records_kept"))
	require.Equal(t, int64(batches*size), sum("otelcol_processor_tiered_sampling_records_kept")+sum("otelcol_processor_tiered_sampling_records_dropped"))
}

func TestOverloadShedding(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	clk := newFakeClock()
	mem := &fakeMemory{}
	cfg := defaultCfg()
	cfg.Tiers = []TierConfig{
		{Name: "errors", Condition: "severity_number >= SEVERITY_NUMBER_ERROR", Percent: 100},
		{Name: "health", Condition: `attributes["route"] == "/healthz"`, Drop: true},
		{Name: "warn", Condition: "severity_number >= SEVERITY_NUMBER_WARN", Percent: 100},
		{Name: "info", Condition: "severity_number >= SEVERITY_NUMBER_INFO", Percent: 100},
	}
	cfg.DefaultTier.Percent = 100
	cfg.OverloadShedding = OverloadSheddingConfig{
		Enabled: true, MemoryLimitMiB: 100, StartPercent: 40, CheckInterval: time.Second,
		ProtectedTiers: []string{"errors"},
	}
	require.NoError(t, cfg.Validate())
	p := newTestProcessorWithSettings(t, metadatatest.NewSettings(tt), cfg, clk, mem)
	in := []rec{
		{sev: plog.SeverityNumberFatal, body: "error"},
		{sev: plog.SeverityNumberWarn, body: "warn"},
		{sev: plog.SeverityNumberInfo, body: "info"},
		{sev: plog.SeverityNumberDebug, body: "debug"},
	}
	const mib = 1 << 20
	steps := []struct {
		heap    uint64
		advance time.Duration
		want    []string
		level   int64
	}{
		{heap: 10 * mib, want: []string{"error", "warn", "info", "debug"}},
		// Sheddable tiers bottom-up: default, info, warn (health drops anyway, errors protected).
		{heap: 40 * mib, advance: time.Second, want: []string{"error", "warn", "info"}, level: 1},
		// Within the check interval the old reading stands.
		{heap: 99 * mib, advance: time.Millisecond, want: []string{"error", "warn", "info"}, level: 1},
		{heap: 60 * mib, advance: time.Second, want: []string{"error", "warn"}, level: 2},
		{heap: 200 * mib, advance: time.Second, want: []string{"error"}, level: 3},
		// Pressure gone: rates come back by themselves.
		{heap: 5 * mib, advance: time.Second, want: []string{"error", "warn", "info", "debug"}},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		mem.Set(s.heap)
		require.Equal(t, s.want, keptBodies(t, p, in...), "step %d", i)
		metadatatest.AssertEqualProcessorTieredSamplingShedLevel(t, tt, []metricdata.DataPoint[int64]{{Value: s.level}}, metricdatatest.IgnoreTimestamp())
	}
	mem.mu.Lock()
	reads := mem.reads
	mem.mu.Unlock()
	require.Equal(t, len(steps)-1, reads, "memory is read at most once per interval")
}

// Once the pressure is gone, the gauges must say so even if no batch arrives to refresh the
// reading: a dashboard or alert would otherwise show shedding for as long as the logs pause.
func TestShedGaugesRecoverWithoutTraffic(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	clk := newFakeClock()
	mem := &fakeMemory{}
	cfg := defaultCfg()
	cfg.Tiers = []TierConfig{
		{Name: "errors", Condition: "severity_number >= SEVERITY_NUMBER_ERROR", Percent: 100},
		{Name: "warn", Condition: "severity_number >= SEVERITY_NUMBER_WARN", Percent: 100},
	}
	cfg.DefaultTier.Percent = 100
	cfg.OverloadShedding = OverloadSheddingConfig{
		Enabled: true, MemoryLimitMiB: 100, StartPercent: 50, CheckInterval: time.Second,
		ProtectedTiers: []string{"errors"},
	}
	require.NoError(t, cfg.Validate())
	p := newTestProcessorWithSettings(t, metadatatest.NewSettings(tt), cfg, clk, mem)
	const mib = 1 << 20
	rates := func(warn, def float64) []metricdata.DataPoint[float64] {
		dp := func(tier string, v float64) metricdata.DataPoint[float64] {
			return metricdata.DataPoint[float64]{Attributes: attribute.NewSet(attribute.String("tier", tier)), Value: v}
		}
		return []metricdata.DataPoint[float64]{dp("errors", 100), dp("warn", warn), dp("default", def)}
	}
	steps := []struct {
		name    string
		heap    uint64
		advance time.Duration
		batch   bool
		level   int64
		rates   []metricdata.DataPoint[float64]
	}{
		{name: "pressure seen by a batch", heap: 200 * mib, batch: true, level: 2, rates: rates(0, 0)},
		{name: "within the interval the reading stands", heap: 5 * mib, advance: time.Millisecond, level: 2, rates: rates(0, 0)},
		{name: "pressure gone, no batch", heap: 5 * mib, advance: time.Second, level: 0, rates: rates(100, 100)},
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		mem.Set(s.heap)
		if s.batch {
			require.Empty(t, keptBodies(t, p, rec{sev: plog.SeverityNumberInfo, body: "info"}), s.name)
		}
		metadatatest.AssertEqualProcessorTieredSamplingShedLevel(t, tt, []metricdata.DataPoint[int64]{{Value: s.level}}, metricdatatest.IgnoreTimestamp())
		metadatatest.AssertEqualProcessorTieredSamplingEffectiveRate(t, tt, s.rates, metricdatatest.IgnoreTimestamp())
	}
}

func TestShedRanksProtectFirstTierWhenNoNameMatches(t *testing.T) {
	cfg := defaultCfg()
	p := newTestProcessor(t, cfg, nil, nil)
	pol, err := compile("v", []TierConfig{
		{Name: "crit", Condition: "severity_number >= SEVERITY_NUMBER_ERROR", Percent: 100},
		{Name: "rest", Condition: "true", Percent: 5},
	}, p.opts)
	require.NoError(t, err)
	require.Equal(t, 0, pol.tiers[0].shedRank)
	require.Equal(t, 2, pol.tiers[1].shedRank)
	require.Equal(t, 1, pol.tiers[2].shedRank)
	require.Equal(t, 2, pol.numSheddable)
}

func TestRuntimeMemoryReader(t *testing.T) {
	require.Positive(t, newRuntimeMemoryReader()())
}

func TestRateLimitPerKey(t *testing.T) {
	clk := newFakeClock()
	cfg := defaultCfg()
	cfg.Tiers = []TierConfig{{Name: "errors", Condition: "severity_number >= SEVERITY_NUMBER_ERROR", Percent: 100, RateLimit: 2, RateLimitKey: "service.name"}}
	cfg.RateLimitMaxKeys = 2
	require.NoError(t, cfg.Validate())
	p := newTestProcessor(t, cfg, clk, nil)

	batch := func(service string, n int) int {
		recs := make([]rec, n)
		for i := range recs {
			recs[i] = rec{sev: plog.SeverityNumberError}
		}
		out, _ := p.processLogs(context.Background(), buildLogs(service, recs...))
		return out.LogRecordCount()
	}
	require.Equal(t, 2, batch("noisy", 10), "burst of one second")
	require.Equal(t, 2, batch("quiet", 3), "other keys are not starved by the noisy one")
	require.Equal(t, 0, batch("noisy", 10))
	clk.Advance(500 * time.Millisecond)
	require.Equal(t, 1, batch("noisy", 10))

	// The map is full: a third key shares the overflow bucket until idle buckets can go.
	require.Equal(t, 2, batch("third", 5))
	require.Equal(t, 0, batch("fourth", 5))
	clk.Advance(2 * time.Second)
	require.Equal(t, 2, batch("fifth", 5), "idle buckets are evicted to make room")
	require.LessOrEqual(t, p.policy.Load().tiers[0].limiter.size(), 2)
}

func TestShutdownWithoutStart(t *testing.T) {
	cfg := defaultCfg()
	cfg.PolicySource = component.MustNewID("sampling_policy")
	p, err := newTieredProcessor(componenttestSettings(), cfg, consumertest.NewNop(), time.Now, newRuntimeMemoryReader())
	require.NoError(t, err)
	require.NoError(t, p.shutdown(context.Background()))
}
