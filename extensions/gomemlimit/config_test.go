package gomemlimit

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/sieveobs/sieve/extensions/gomemlimit/internal/metadata"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg, confmap.Validate(cfg)
}

func TestLoadConfig(t *testing.T) {
	cfg, err := loadConfig(t, "")
	require.NoError(t, err)
	require.Equal(t, createDefaultConfig(), cfg)

	cfg, err = loadConfig(t, "custom")
	require.NoError(t, err)
	require.Equal(t, 0.6, cfg.Ratio)
	require.Equal(t, time.Duration(0), cfg.RefreshInterval)
	require.Equal(t, 0, cfg.GCPercent)
}

func TestInvalidConfig(t *testing.T) {
	for name, want := range map[string]string{
		"ratio_zero":       "ratio:",
		"ratio_above_one":  "ratio:",
		"negative_refresh": "refresh_interval:",
		"negative_gc":      "gc_percent:",
		"unknown_key":      "ratoi",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(t, name)
			require.ErrorContains(t, err, want)
		})
	}
}
