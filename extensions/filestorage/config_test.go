package filestorage

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func load(t *testing.T, file string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", file))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	if err := cm.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg, confmap.Validate(cfg)
}

func TestConfigKeepsEveryFileStorageKey(t *testing.T) {
	cfg, err := load(t, "config.yaml")
	require.NoError(t, err)
	require.Equal(t, "testdata", cfg.Directory)
	require.Equal(t, 2*time.Second, cfg.Timeout)
	require.True(t, cfg.Compaction.OnStart)
	require.True(t, cfg.Recreate)
	require.False(t, cfg.CheckOnStart)
}

func TestConfigInvalid(t *testing.T) {
	for file, want := range map[string]string{
		"invalid_unknown_key.yaml": "check_on_startup",
		"invalid_missing_dir.yaml": "directory",
		"invalid_permissions.yaml": "directory_permissions",
		"invalid_reserve.yaml":     "reserve_bytes",
	} {
		t.Run(file, func(t *testing.T) {
			_, err := load(t, file)
			require.ErrorContains(t, err, want)
		})
	}
}
