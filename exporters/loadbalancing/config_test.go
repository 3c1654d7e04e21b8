package loadbalancing

import (
	"path/filepath"
	"testing"
	"time"

	contrib "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/loadbalancingexporter"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/sieveobs/sieve/exporters/loadbalancing/internal/metadata"
)

// TestLoadConfig: every contrib key loads into Sieve's config exactly as into contrib's.
func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	for _, id := range []component.ID{
		component.NewID(metadata.Type),
		component.NewIDWithName(metadata.Type, "static"),
		component.NewIDWithName(metadata.Type, "attributes"),
		component.NewIDWithName(metadata.DeprecatedType, "deprecated"),
	} {
		t.Run(id.String(), func(t *testing.T) {
			sub, err := cm.Sub(id.String())
			require.NoError(t, err)
			cfg := NewFactory().CreateDefaultConfig().(*Config)
			require.NoError(t, sub.Unmarshal(cfg))
			require.NoError(t, confmap.Validate(cfg))
			want := contribFactory.CreateDefaultConfig().(*contrib.Config)
			// The one default Sieve changes: retry intervals (contrib leaves them at zero).
			want.BackOffConfig = configretry.NewDefaultBackOffConfig()
			want.BackOffConfig.Enabled = false
			require.NoError(t, sub.Unmarshal(want))
			require.Equal(t, *want, cfg.Config)
		})
	}

	cfg := NewFactory().CreateDefaultConfig().(*Config)
	sub, err := cm.Sub(component.NewID(metadata.Type).String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	require.Equal(t, "traceID", cfg.RoutingKey)
	require.Equal(t, 10*time.Second, cfg.TimeoutSettings.Timeout)
	require.True(t, cfg.BackOffConfig.Enabled)
	require.Equal(t, 5*time.Second, cfg.BackOffConfig.InitialInterval, "core's retry intervals, not contrib's zeros")
	require.Zero(t, cfg.BackOffConfig.MaxElapsedTime)
	require.True(t, cfg.QueueSettings.HasValue())
	require.Equal(t, int64(100000), cfg.QueueSettings.Get().QueueSize)
	require.False(t, cfg.Protocol.OTLP.QueueConfig.HasValue())
	d := cfg.Resolver.DNS.Get()
	require.Equal(t, "gateways.example", d.Hostname)
	require.Equal(t, "4317", d.Port)
	require.Equal(t, 10*time.Second, d.Interval)
	require.Equal(t, 2*time.Second, d.Timeout)
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for file, want := range map[string]string{
		"unknown_key.yaml":                "resolvers",
		"invalid_routing_key.yaml":        `routing_key: unknown value "traceid"`,
		"invalid_no_resolver.yaml":        "resolver: one of static, dns, k8s, aws_cloud_map is required",
		"invalid_two_resolvers.yaml":      "resolver: only one of static, dns, k8s, aws_cloud_map may be set, got static and dns",
		"invalid_static_empty.yaml":       "resolver.static.hostnames",
		"invalid_dns_hostname.yaml":       "resolver.dns.hostname",
		"invalid_dns_interval.yaml":       "resolver.dns.interval",
		"invalid_routing_attributes.yaml": "routing_attributes",
		"invalid_shutdown_timeout.yaml":   "shutdown_timeout: must not be negative, got -1s",
	} {
		t.Run(file, func(t *testing.T) {
			cm, err := confmaptest.LoadConf(filepath.Join("testdata", file))
			require.NoError(t, err)
			cfg := NewFactory().CreateDefaultConfig().(*Config)
			if err = cm.Unmarshal(cfg); err == nil {
				err = confmap.Validate(cfg)
			}
			require.ErrorContains(t, err, want)
		})
	}
}
