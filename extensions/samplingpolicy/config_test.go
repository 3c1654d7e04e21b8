package samplingpolicy

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/sieveobs/sieve/extensions/samplingpolicy/internal/metadata"
	"github.com/sieveobs/sieve/internal/policy/policyfile"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		id    component.ID
		check func(t *testing.T, c *Config)
	}{
		{
			id: component.NewID(metadata.Type),
			check: func(t *testing.T, c *Config) {
				require.Equal(t, createDefaultConfig(), c)
				require.False(t, c.File.HasValue() || c.HTTP.HasValue() || c.Etcd.HasValue())
				require.Equal(t, "localhost:5778", c.Server.NetAddr.Endpoint)
			},
		},
		{
			id: component.NewIDWithName(metadata.Type, "file"),
			check: func(t *testing.T, c *Config) {
				require.True(t, c.File.HasValue())
				require.Equal(t, "/etc/sieve/policy.yaml", c.File.Get().Path)
				require.Equal(t, 50*time.Millisecond, c.File.Get().Debounce, "defaults apply inside an enabled source")
			},
		},
		{
			id: component.NewIDWithName(metadata.Type, "http"),
			check: func(t *testing.T, c *Config) {
				h := c.HTTP.Get()
				require.NotNil(t, h)
				require.Equal(t, "https://policy.example.com/sieve/policy.yaml", h.Endpoint)
				require.Equal(t, 15*time.Second, h.Interval)
				require.Equal(t, configopaque.String("s3cret"), h.BearerToken)
				require.Equal(t, "/etc/ssl/ca.pem", h.TLS.CAFile)
				require.True(t, c.Server.TLS.HasValue())
				require.InDelta(t, 0.25, c.FallbackRate, 0)
				require.Equal(t, 5*time.Second, c.AdaptiveWindow)
			},
		},
		{
			id: component.NewIDWithName(metadata.Type, "etcd"),
			check: func(t *testing.T, c *Config) {
				e := c.Etcd.Get()
				require.NotNil(t, e)
				require.Equal(t, []string{"http://etcd-0:2379", "http://etcd-1:2379"}, e.Endpoints)
				require.Equal(t, "/sieve/sampling-policy", e.Key)
				require.Equal(t, 3*time.Second, e.DialTimeout)
				require.Equal(t, 5*time.Second, e.MaxBackoff)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			cfg := createDefaultConfig()
			require.NoError(t, sub.Unmarshal(cfg))
			require.NoError(t, confmap.Validate(cfg))
			tt.check(t, cfg.(*Config))
		})
	}
}

func TestInvalidConfig(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"invalid_two_sources.yaml", "at most one policy source"},
		{"invalid_fallback_rate.yaml", "fallback_rate"},
		{"invalid_adaptive_window.yaml", "adaptive_window"},
		{"invalid_initial_timeout.yaml", "initial_timeout"},
		{"invalid_file_path.yaml", "file.path: required"},
		{"invalid_file_debounce.yaml", "file.debounce"},
		{"invalid_http_endpoint.yaml", "http.endpoint"},
		{"invalid_http_interval.yaml", "http.interval"},
		{"invalid_http_token_plain.yaml", "http.bearer_token"},
		{"invalid_etcd_endpoints.yaml", "etcd.endpoints: required"},
		{"invalid_etcd_endpoint_url.yaml", "etcd.endpoints[0]"},
		{"invalid_etcd_key.yaml", "etcd.key: required"},
		{"invalid_etcd_dial_timeout.yaml", "etcd.dial_timeout"},
		{"invalid_etcd_max_backoff.yaml", "etcd.max_backoff"},
		{"invalid_etcd_auth.yaml", "etcd.username, etcd.password"},
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
	cfg := createDefaultConfig()
	require.ErrorContains(t, cm.Unmarshal(cfg), "poll")
}

// The sample policy shipped in testdata is what the README and deployments start from.
func TestSamplePolicyIsValid(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "policy.yaml"))
	require.NoError(t, err)
	doc, err := policyfile.Parse(raw)
	require.NoError(t, err)
	require.Equal(t, "demo-1", doc.Policy.Version)
	require.Len(t, doc.Policy.LogTiers, 2)
}
