package otlp

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/sieveobs/sieve/receivers/otlp/internal/metadata"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	if err := sub.Unmarshal(cfg); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func TestConfig(t *testing.T) {
	cfg, err := loadConfig(t, "default")
	require.ErrorContains(t, err, "must specify at least one protocol", "upstream's rule holds")
	require.Equal(t, createDefaultConfig(), cfg)
	require.False(t, cfg.SampleBeforeDecode.enabled())

	cfg, err = loadConfig(t, "sampled")
	require.NoError(t, err)
	require.Equal(t, SampleBeforeDecodeConfig{Policy: component.MustNewID("sampling_policy"), Logs: true}, cfg.SampleBeforeDecode)
	require.Equal(t, "127.0.0.1:4317", cfg.Protocols.GRPC.Get().NetAddr.Endpoint)
	require.Equal(t, "/custom/logs", string(cfg.Protocols.HTTP.Get().LogsURLPath))
	require.Equal(t, "/v1/traces", string(cfg.Protocols.HTTP.Get().TracesURLPath), "upstream's defaults stay")

	_, err = loadConfig(t, "no_policy")
	require.ErrorContains(t, err, "sample_before_decode.policy: required")
	_, err = loadConfig(t, "policy_only")
	require.ErrorContains(t, err, "sample_before_decode.policy: set, but neither")
	_, err = loadConfig(t, "unknown_key")
	require.ErrorContains(t, err, "metrics")
}
