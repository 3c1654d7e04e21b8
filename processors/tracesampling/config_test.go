package tracesampling

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/sieveobs/sieve/processors/tracesampling/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		id   component.ID
		want *Config
	}{
		{component.NewID(metadata.Type), withDefaults(func(*Config) {})},
		{component.NewIDWithName(metadata.Type, "static"), withDefaults(func(c *Config) { c.Rate = 0.1 })},
		{component.NewIDWithName(metadata.Type, "live"), withDefaults(func(c *Config) { c.Policy = component.MustNewID("sampling_policy") })},
		{component.NewIDWithName(metadata.Type, "tail"), withDefaults(func(c *Config) {
			c.Policy = component.MustNewID("sampling_policy")
			c.Tail.Enabled = true
			c.Tail.DecisionWait = 2 * time.Second
			c.Tail.MaxTraces = 5000
		})},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			cfg := createDefaultConfig()
			require.NoError(t, sub.Unmarshal(cfg))
			require.NoError(t, confmap.Validate(cfg))
			require.Equal(t, tt.want, cfg)
		})
	}
}

func withDefaults(f func(*Config)) *Config {
	c := createDefaultConfig().(*Config)
	f(c)
	return c
}

func TestDefaultTailConfigValid(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Tail.Enabled = true
	require.NoError(t, cfg.Validate())
}

func TestInvalidConfig(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"invalid_rate.yaml", "rate: 1.5"},
		{"invalid_tail.yaml", "tail::max_trace_age: 5s must be at least decision_wait (10s)"},
	}
	files, err := filepath.Glob("testdata/invalid_*.yaml")
	require.NoError(t, err)
	require.Len(t, tests, len(files), "every invalid fixture needs a case")
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			cm, err := confmaptest.LoadConf(filepath.Join("testdata", tt.file))
			require.NoError(t, err)
			cfg := createDefaultConfig()
			require.NoError(t, cm.Unmarshal(cfg))
			require.ErrorContains(t, confmap.Validate(cfg), tt.want)
		})
	}
}

func TestUnknownKeyRefused(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "unknown_key.yaml"))
	require.NoError(t, err)
	require.ErrorContains(t, cm.Unmarshal(createDefaultConfig()), "hash_seed")
}
