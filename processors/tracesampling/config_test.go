package tracesampling

import (
	"path/filepath"
	"testing"

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
		{component.NewID(metadata.Type), &Config{Rate: 1}},
		{component.NewIDWithName(metadata.Type, "static"), &Config{Rate: 0.1}},
		{component.NewIDWithName(metadata.Type, "live"), &Config{Rate: 1, Policy: component.MustNewID("sampling_policy")}},
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

func TestInvalidConfig(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"invalid_rate.yaml", "rate: 1.5"},
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
