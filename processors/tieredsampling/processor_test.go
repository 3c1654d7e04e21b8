package tieredsampling

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"

	"github.com/sieveobs/sieve/processors/tieredsampling/internal/metadata"
	"github.com/sieveobs/sieve/processors/tieredsampling/internal/metadatatest"
)

// thresholdFor is the threshold pkg/sampling assigns to a percent at the default precision.
func thresholdFor(t testing.TB, percent float64) sampling.Threshold {
	th, err := sampling.ProbabilityToThresholdWithPrecision(percent/100, 4)
	require.NoError(t, err)
	return th
}

// want describes one record expected at the output.
type want struct {
	body  string
	attrs map[string]any
}

func TestGoldenCases(t *testing.T) {
	warnT := thresholdFor(t, 10)
	infoT := thresholdFor(t, 0.1)
	withUID := func(m map[string]any) map[string]any {
		out := map[string]any{"uid": "u1"}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name string
		cfg  func(*Config)
		in   []rec
		want []want
	}{
		{
			name: "errors and 5xx always kept with threshold 0",
			in: []rec{
				{sev: plog.SeverityNumberError, traceID: traceIDWithRandomness(0), body: "e"},
				{sev: plog.SeverityNumberFatal, body: "f"},
				{sev: plog.SeverityNumberInfo, traceID: traceIDWithRandomness(0), attrs: map[string]any{"http.status_code": 503}, body: "5xx"},
				{sev: plog.SeverityNumberInfo, traceID: traceIDWithRandomness(0), attrs: map[string]any{"http.status_code": 404}, body: "4xx"},
				// The current semantic conventions' name, and status codes written as text.
				{sev: plog.SeverityNumberInfo, traceID: traceIDWithRandomness(0), attrs: map[string]any{"http.response.status_code": 502}, body: "new name"},
				{sev: plog.SeverityNumberInfo, traceID: traceIDWithRandomness(0), attrs: map[string]any{"http.response.status_code": "503"}, body: "new name, text"},
				{sev: plog.SeverityNumberInfo, traceID: traceIDWithRandomness(0), attrs: map[string]any{"http.status_code": "500"}, body: "old name, text"},
				{sev: plog.SeverityNumberInfo, traceID: traceIDWithRandomness(0), attrs: map[string]any{"http.response.status_code": "200"}, body: "2xx text"},
				{sev: plog.SeverityNumberInfo, traceID: traceIDWithRandomness(0), attrs: map[string]any{"http.response.status_code": "not a number"}, body: "garbage"},
			},
			want: []want{
				{body: "e", attrs: map[string]any{"sampling.threshold": "0"}},
				{body: "f", attrs: map[string]any{"sampling.threshold": "0"}},
				{body: "5xx", attrs: map[string]any{"http.status_code": int64(503), "sampling.threshold": "0"}},
				{body: "new name", attrs: map[string]any{"http.response.status_code": int64(502), "sampling.threshold": "0"}},
				{body: "new name, text", attrs: map[string]any{"http.response.status_code": "503", "sampling.threshold": "0"}},
				{body: "old name, text", attrs: map[string]any{"http.status_code": "500", "sampling.threshold": "0"}},
			},
		},
		{
			name: "warn at its threshold boundary",
			in: []rec{
				{sev: plog.SeverityNumberWarn, traceID: traceIDWithRandomness(warnT.Unsigned()), body: "at"},
				{sev: plog.SeverityNumberWarn, traceID: traceIDWithRandomness(warnT.Unsigned() - 1), body: "below"},
				{sev: plog.SeverityNumberWarn4, traceID: traceIDWithRandomness(1<<56 - 1), body: "top"},
			},
			want: []want{
				{body: "at", attrs: map[string]any{"sampling.threshold": warnT.TValue()}},
				{body: "top", attrs: map[string]any{"sampling.threshold": warnT.TValue()}},
			},
		},
		{
			name: "info and unspecified fall to the default tier",
			in: []rec{
				{sev: plog.SeverityNumberInfo, traceID: traceIDWithRandomness(infoT.Unsigned()), body: "kept"},
				{sev: plog.SeverityNumberDebug, traceID: traceIDWithRandomness(infoT.Unsigned() - 1), body: "dropped"},
				{sev: plog.SeverityNumberUnspecified, traceID: traceIDWithRandomness(1<<56 - 1), body: "unspecified"},
			},
			want: []want{
				{body: "kept", attrs: map[string]any{"sampling.threshold": infoT.TValue()}},
				{body: "unspecified", attrs: map[string]any{"sampling.threshold": infoT.TValue()}},
			},
		},
		{
			name: "records missing a required attribute are dropped even when they are errors",
			cfg:  func(c *Config) { c.RequiredAttributes = []string{"uid"} },
			in: []rec{
				{sev: plog.SeverityNumberError, body: "no uid"},
				{sev: plog.SeverityNumberError, attrs: map[string]any{"uid": "u1"}, body: "uid"},
			},
			want: []want{{body: "uid", attrs: withUID(map[string]any{"sampling.threshold": "0"})}},
		},
		{
			name: "drop tier drops before sampling",
			cfg: func(c *Config) {
				c.Tiers = append([]TierConfig{{Name: "health", Condition: `attributes["http.route"] == "/healthz"`, Drop: true}}, c.Tiers...)
			},
			in: []rec{
				{sev: plog.SeverityNumberError, attrs: map[string]any{"http.route": "/healthz"}, body: "health"},
				{sev: plog.SeverityNumberError, attrs: map[string]any{"http.route": "/cart"}, body: "cart"},
			},
			want: []want{{body: "cart", attrs: map[string]any{"http.route": "/cart", "sampling.threshold": "0"}}},
		},
		{
			name: "a stricter consistent arriving threshold is kept as is",
			in: []rec{
				{sev: plog.SeverityNumberWarn, traceID: traceIDWithRandomness(1<<56 - 1), attrs: map[string]any{"sampling.threshold": "f"}, body: "stricter"},
				{sev: plog.SeverityNumberWarn, traceID: traceIDWithRandomness(1<<56 - 1), attrs: map[string]any{"sampling.threshold": "8"}, body: "looser"},
				{sev: plog.SeverityNumberWarn, traceID: traceIDWithRandomness(warnT.Unsigned()), attrs: map[string]any{"sampling.threshold": "f"}, body: "inconsistent"},
			},
			want: []want{
				{body: "stricter", attrs: map[string]any{"sampling.threshold": "f"}},
				{body: "looser", attrs: map[string]any{"sampling.threshold": warnT.TValue()}},
				{body: "inconsistent", attrs: map[string]any{"sampling.threshold": warnT.TValue()}},
			},
		},
		{
			name: "explicit sampling.randomness wins over the trace ID",
			in: []rec{
				{sev: plog.SeverityNumberWarn, traceID: traceIDWithRandomness(1<<56 - 1), attrs: map[string]any{"sampling.randomness": "00000000000000"}, body: "low"},
				{sev: plog.SeverityNumberWarn, traceID: traceIDWithRandomness(0), attrs: map[string]any{"sampling.randomness": "ffffffffffffff"}, body: "high"},
			},
			want: []want{{body: "high", attrs: map[string]any{"sampling.randomness": "ffffffffffffff", "sampling.threshold": warnT.TValue()}}},
		},
		{
			name: "an empty last condition catches everything before the default tier",
			cfg: func(c *Config) {
				c.Tiers = []TierConfig{{Name: "all", Percent: 100}}
				c.DefaultTier.Percent = 0
			},
			in:   []rec{{sev: plog.SeverityNumberDebug, body: "d"}},
			want: []want{{body: "d", attrs: map[string]any{"sampling.threshold": "0"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultCfg()
			if tt.cfg != nil {
				tt.cfg(cfg)
			}
			require.NoError(t, cfg.Validate())
			p := newTestProcessor(t, cfg, nil, nil)
			out, err := p.processLogs(context.Background(), buildLogs("svc", tt.in...))
			if len(tt.want) == 0 {
				require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
				return
			}
			require.NoError(t, err)
			got := allRecords(out)
			require.Len(t, got, len(tt.want))
			for i, w := range tt.want {
				require.Equal(t, w.body, got[i].Body().Str())
				require.Equal(t, w.attrs, got[i].Attributes().AsRaw(), w.body)
			}
		})
	}
}

func TestAllDroppedSkipsNextConsumer(t *testing.T) {
	sink := new(consumertest.LogsSink)
	cfg := defaultCfg()
	cfg.DefaultTier.Percent = 0
	lp, err := createLogs(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, lp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, lp.ConsumeLogs(context.Background(), buildLogs("svc", rec{sev: plog.SeverityNumberInfo})))
	require.Empty(t, sink.AllLogs())
	require.NoError(t, lp.ConsumeLogs(context.Background(), buildLogs("svc", rec{sev: plog.SeverityNumberError})))
	require.Equal(t, 1, sink.LogRecordCount())
	require.NoError(t, lp.Shutdown(context.Background()))
}

func TestTelemetryCountsEveryRecord(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	cfg := defaultCfg()
	cfg.RequiredAttributes = []string{"uid"}
	p := newTestProcessorWithSettings(t, metadatatest.NewSettings(tt), cfg, nil, nil)
	uid := map[string]any{"uid": "u"}
	_, err := p.processLogs(context.Background(), buildLogs("svc",
		rec{sev: plog.SeverityNumberError, attrs: uid},
		rec{sev: plog.SeverityNumberError, attrs: uid},
		rec{sev: plog.SeverityNumberError},
		rec{sev: plog.SeverityNumberWarn, traceID: traceIDWithRandomness(0), attrs: uid},
		rec{sev: plog.SeverityNumberInfo, traceID: traceIDWithRandomness(0), attrs: uid},
		rec{sev: plog.SeverityNumberInfo, traceID: traceIDWithRandomness(1<<56 - 1), attrs: uid},
	))
	require.NoError(t, err)

	tier := func(n string) attribute.KeyValue { return attribute.String("tier", n) }
	reason := func(r string) attribute.KeyValue { return attribute.String("reason", r) }
	opts := []metricdatatest.Option{metricdatatest.IgnoreTimestamp()}
	metadatatest.AssertEqualProcessorTieredSamplingRecordsIn(t, tt, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(tier("none")), Value: 1},
		{Attributes: attribute.NewSet(tier("errors")), Value: 2},
		{Attributes: attribute.NewSet(tier("warn")), Value: 1},
		{Attributes: attribute.NewSet(tier("default")), Value: 2},
	}, opts...)
	metadatatest.AssertEqualProcessorTieredSamplingRecordsKept(t, tt, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(tier("errors")), Value: 2},
		{Attributes: attribute.NewSet(tier("default")), Value: 1},
	}, opts...)
	metadatatest.AssertEqualProcessorTieredSamplingRecordsDropped(t, tt, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(tier("none"), reason("missing_attribute")), Value: 1},
		{Attributes: attribute.NewSet(tier("warn"), reason("sampled_out")), Value: 1},
		{Attributes: attribute.NewSet(tier("default"), reason("sampled_out")), Value: 1},
	}, opts...)
	metadatatest.AssertEqualProcessorTieredSamplingEffectiveRate(t, tt, []metricdata.DataPoint[float64]{
		{Attributes: attribute.NewSet(tier("errors")), Value: 100},
		{Attributes: attribute.NewSet(tier("warn")), Value: 10},
		{Attributes: attribute.NewSet(tier("default")), Value: 0.1},
	}, opts...)
	metadatatest.AssertEqualProcessorTieredSamplingShedLevel(t, tt, []metricdata.DataPoint[int64]{{Value: 0}}, opts...)
}

func TestConditionErrorCountsAndFallsThrough(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	cfg := defaultCfg()
	// Indexing into a string is an evaluation error, not a parse error.
	cfg.Tiers = []TierConfig{{Name: "bad", Condition: `attributes["x"]["y"] == "z"`, Percent: 100}}
	cfg.DefaultTier.Percent = 0
	require.NoError(t, cfg.Validate())
	p := newTestProcessorWithSettings(t, metadatatest.NewSettings(tt), cfg, nil, nil)
	_, err := p.processLogs(context.Background(), buildLogs("svc", rec{attrs: map[string]any{"x": "plain"}}))
	require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
	metadatatest.AssertEqualProcessorTieredSamplingConditionErrors(t, tt, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("tier", "bad")), Value: 1},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorTieredSamplingRecordsDropped(t, tt, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("tier", "default"), attribute.String("reason", "sampled_out")), Value: 1},
	}, metricdatatest.IgnoreTimestamp())
}

func TestHashAttributeGivesStableDecisions(t *testing.T) {
	cfg := defaultCfg()
	cfg.HashAttribute = "request.id"
	cfg.DefaultTier.Percent = 50
	p := newTestProcessor(t, cfg, nil, nil)
	keptFirst := map[string]bool{}
	for round := range 3 {
		var in []rec
		for i := range 200 {
			in = append(in, rec{sev: plog.SeverityNumberInfo, attrs: map[string]any{"request.id": string(rune('a'+i%26)) + string(rune('a'+i/26))}})
		}
		out, _ := p.processLogs(context.Background(), buildLogs("svc", in...))
		kept := map[string]bool{}
		for _, lr := range allRecords(out) {
			v, _ := lr.Attributes().Get("request.id")
			kept[v.Str()] = true
		}
		if round == 0 {
			keptFirst = kept
			require.Greater(t, len(kept), 50)
			require.Less(t, len(kept), 150)
			continue
		}
		require.Equal(t, keptFirst, kept)
	}
}

func TestFollowTraces(t *testing.T) {
	followed := traceIDWithRandomness(0)
	other := traceIDWithRandomness(1)
	dec := &fakeDecider{kept: map[pcommon.TraceID]bool{followed: true}}
	id := component.MustNewID("sampling_policy")
	cfg := defaultCfg()
	cfg.FollowTraces = FollowTracesConfig{Enabled: true, Decider: id}
	p := newTestProcessor(t, cfg, nil, nil)
	require.NoError(t, p.start(context.Background(), hostWith(map[component.ID]component.Component{id: dec})))

	out, err := p.processLogs(context.Background(), buildLogs("checkout",
		rec{sev: plog.SeverityNumberInfo, traceID: followed, attrs: map[string]any{"sampling.threshold": "f"}, body: "followed"},
		rec{sev: plog.SeverityNumberInfo, traceID: other, body: "not followed"},
		rec{sev: plog.SeverityNumberInfo, body: "no trace"},
	))
	require.NoError(t, err)
	got := allRecords(out)
	require.Len(t, got, 1)
	require.Equal(t, "followed", got[0].Body().Str())
	// Kept by the trace decision, not by a draw: no threshold, so it is never re-weighted.
	require.Equal(t, map[string]any{"sieve.sampling.followed_trace": true}, got[0].Attributes().AsRaw())
	require.Equal(t, "checkout", dec.service)
}

func TestStartFailsOnMissingOrWrongExtension(t *testing.T) {
	id := component.MustNewID("sampling_policy")
	tests := []struct {
		name    string
		cfg     func(*Config)
		exts    map[component.ID]component.Component
		wantErr string
	}{
		{
			name:    "decider missing",
			cfg:     func(c *Config) { c.FollowTraces = FollowTracesConfig{Enabled: true, Decider: id} },
			wantErr: `follow_traces.decider: extension "sampling_policy" not found`,
		},
		{
			name:    "decider of the wrong kind",
			cfg:     func(c *Config) { c.FollowTraces = FollowTracesConfig{Enabled: true, Decider: id} },
			exts:    map[component.ID]component.Component{id: &plainComponent{}},
			wantErr: `follow_traces.decider: extension "sampling_policy" does not supply trace decisions`,
		},
		{
			name:    "policy source missing",
			cfg:     func(c *Config) { c.PolicySource = id },
			wantErr: `policy_source: extension "sampling_policy" not found`,
		},
		{
			name:    "policy source of the wrong kind",
			cfg:     func(c *Config) { c.PolicySource = id },
			exts:    map[component.ID]component.Component{id: &fakeDecider{}},
			wantErr: `policy_source: extension "sampling_policy" does not supply log tiers`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultCfg()
			tt.cfg(cfg)
			p := newTestProcessor(t, cfg, nil, nil)
			require.ErrorContains(t, p.start(context.Background(), hostWith(tt.exts)), tt.wantErr)
		})
	}
}
