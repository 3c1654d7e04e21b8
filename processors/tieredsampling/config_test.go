package tieredsampling

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/sieveobs/sieve/processors/tieredsampling/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	full := defaultCfg()
	full.RequiredAttributes = []string{"uid"}
	full.Tiers = []TierConfig{
		{Name: "errors", Condition: `severity_number >= SEVERITY_NUMBER_ERROR or attributes["http.status_code"] >= 500`, Percent: 100},
		{Name: "healthchecks", Condition: `attributes["http.route"] == "/healthz"`, Drop: true},
		{Name: "warn", Condition: `severity_number >= SEVERITY_NUMBER_WARN`, Percent: 10, RateLimit: 200, RateLimitKey: "service.name"},
	}
	full.DefaultTier = DefaultTierConfig{Name: "default", Percent: 0.1}
	full.HashAttribute = "request.id"
	full.SamplingPrecision = 6
	full.RateLimitMaxKeys = 500
	full.PolicySource = component.MustNewID("sampling_policy")
	full.FollowTraces.Enabled = true
	full.FollowTraces.Decider = component.MustNewID("sampling_policy")
	full.OverloadShedding = OverloadSheddingConfig{
		Enabled: true, MemoryLimitMiB: 1024, StartPercent: 70, CheckInterval: 2 * time.Second,
		ProtectedTiers: []string{"errors"},
	}

	tests := []struct {
		id   component.ID
		want *Config
	}{
		{id: component.NewID(metadata.Type), want: defaultCfg()},
		{id: component.NewIDWithName(metadata.Type, "full"), want: full},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			require.NoError(t, confmap.Validate(cfg))
			require.Equal(t, tt.want, cfg)
		})
	}
}

// TestInvalidConfigs holds one fixture per validation rule; each error must name the key.
func TestInvalidConfigs(t *testing.T) {
	tests := []struct {
		file      string
		unmarshal bool // the collector refuses the file while decoding, before Validate
		wantErr   string
	}{
		{file: "bad_ottl", wantErr: "tiers[0].condition"},
		{file: "percent_out_of_range", wantErr: "tiers[0].percent: must be between 0 and 100"},
		{file: "percent_negative", wantErr: "default_tier.percent: must be between 0 and 100"},
		{file: "percent_too_small", wantErr: "default_tier.percent: 1e-16 is below the smallest expressible rate"},
		{file: "duplicate_tier_names", wantErr: `tiers[1].name: duplicate tier name "warn"`},
		{file: "default_name_clash", wantErr: `default_tier.name: duplicate tier name "errors"`},
		{file: "empty_tier_name", wantErr: "tiers[0].name: must not be empty"},
		{file: "unreachable_tier", wantErr: "tiers[0].condition: empty condition matches everything"},
		{file: "unknown_key", unmarshal: true, wantErr: "keep_rate"},
		{file: "unknown_top_key", unmarshal: true, wantErr: "sampling_percentage"},
		{file: "rate_limit_negative", wantErr: "default_tier.rate_limit: must be a finite number >= 0"},
		{file: "rate_limit_without_key", wantErr: "default_tier.rate_limit_key: required"},
		{file: "rate_limit_max_keys", wantErr: "rate_limit_max_keys: must be at least 1"},
		{file: "sampling_precision", wantErr: "sampling_precision: must be between 1 and 14"},
		{file: "required_attribute_empty", wantErr: "required_attributes[0]: must not be empty"},
		{file: "required_attribute_duplicate", wantErr: `required_attributes[1]: duplicate attribute "uid"`},
		{file: "follow_traces_without_decider", wantErr: "follow_traces.decider: required"},
		{file: "shedding_without_limit", wantErr: "overload_shedding.memory_limit_mib: must be greater than 0"},
		{file: "shedding_start_percent", wantErr: "overload_shedding.start_percent: must be in (0, 100)"},
		{file: "shedding_check_interval", wantErr: "overload_shedding.check_interval: must be positive"},
		{file: "shedding_unknown_protected_tier", wantErr: `overload_shedding.protected_tiers[0]: no tier named "fatal"`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			cm, err := confmaptest.LoadConf(filepath.Join("testdata", "invalid_"+tt.file+".yaml"))
			require.NoError(t, err)
			cfg := NewFactory().CreateDefaultConfig()
			err = cm.Unmarshal(cfg)
			if tt.unmarshal {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.ErrorContains(t, confmap.Validate(cfg), tt.wantErr)
		})
	}
}

func TestValidateDoesNotFillValues(t *testing.T) {
	cfg := &Config{}
	require.Error(t, cfg.Validate())
	require.Equal(t, &Config{}, cfg)
}

func TestDropTierIgnoresPercent(t *testing.T) {
	cfg := defaultCfg()
	cfg.Tiers = append(cfg.Tiers, TierConfig{Name: "noise", Condition: "true", Drop: true, Percent: 500})
	require.NoError(t, cfg.Validate())
}
