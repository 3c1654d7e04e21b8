package prometheusremotewrite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func loadConfig(t *testing.T, file string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", file))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	if err := cm.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

func TestLoadValidConfig(t *testing.T) {
	cfg, err := loadConfig(t, "config.yaml")
	require.NoError(t, err)
	require.NoError(t, confmap.Validate(cfg))

	require.Equal(t, "https://prometheus.example:9090/api/v1/write", cfg.Endpoint)
	require.Equal(t, 10*time.Second, cfg.Timeout)
	require.Equal(t, protocolV2, cfg.Protocol)
	require.Equal(t, 8, cfg.Shards)
	require.Equal(t, 1<<20, cfg.MaxBatchSizeBytes)
	require.Equal(t, "sieve", cfg.Namespace)
	require.Equal(t, map[string]string{"cluster": "prod-eu-1", "replica": "a"}, cfg.ExternalLabels)
	require.Equal(t, "team-a", cfg.TenantID)
	require.Equal(t, 5000, cfg.DeltaToCumulative.MaxSeries)
	require.Equal(t, 15*time.Minute, cfg.DeltaToCumulative.MaxStale)
	require.Equal(t, 2*time.Minute, cfg.Staleness.StaleAfter)
	require.True(t, cfg.QueueConfig.HasValue())
	q := cfg.QueueConfig.Get()
	require.Equal(t, 1, q.NumConsumers)
	require.Equal(t, int64(5000), q.QueueSize)
	require.NotNil(t, q.StorageID)
	require.Equal(t, component.MustNewID("file_storage"), *q.StorageID)
	require.Equal(t, 10*time.Minute, cfg.RetryConfig.MaxElapsedTime)
	require.Equal(t, 15*time.Second, cfg.ShutdownTimeout)
	auth, ok := cfg.Headers.Get("Authorization")
	require.True(t, ok)
	require.Equal(t, "Bearer secret-token", string(auth))
}

func TestDefaultConfigNeedsOnlyEndpoint(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	require.ErrorContains(t, confmap.Validate(cfg), "endpoint")
	cfg.Endpoint = "http://localhost:9090/api/v1/write"
	require.NoError(t, confmap.Validate(cfg))
	require.Equal(t, 1, cfg.QueueConfig.Get().NumConsumers)
	require.Equal(t, 20*time.Second, cfg.ShutdownTimeout, "fits a pod's default 30 s grace period")
}

func TestInvalidConfigs(t *testing.T) {
	tests := []struct {
		file    string
		wantErr string
	}{
		{"invalid_missing_endpoint.yaml", "endpoint: must be set"},
		{"invalid_bad_endpoint.yaml", "endpoint: \"localhost:9090/api/v1/write\" must be an absolute http or https URL"},
		{"invalid_compression.yaml", "compression: must be empty"},
		{"invalid_reserved_header.yaml", "headers: \"content-encoding\" is set by the exporter"},
		{"invalid_protocol.yaml", "protocol: must be \"2.0\" or \"1.0\""},
		{"invalid_shards.yaml", "shards: must be between 1 and 256"},
		{"invalid_max_batch_size_bytes.yaml", "max_batch_size_bytes: must be at least"},
		{"invalid_namespace.yaml", "namespace: \"9-bad name\""},
		{"invalid_external_label_name.yaml", "external_labels: \"__reserved\" is not a valid label name"},
		{"invalid_external_label_value.yaml", "external_labels: \"cluster\" has an empty value"},
		{"invalid_tenant_header.yaml", "tenant_header: must be set"},
		{"invalid_tenant_header_reserved.yaml", "tenant_header: \"content-type\" is set by the exporter"},
		{"invalid_num_consumers.yaml", "sending_queue::num_consumers: must be 1"},
		{"invalid_delta_max_series.yaml", "delta_to_cumulative::max_series"},
		{"invalid_delta_max_stale.yaml", "delta_to_cumulative::max_stale"},
		{"invalid_stale_after.yaml", "staleness::stale_after"},
		{"invalid_staleness_max_series.yaml", "staleness::max_series"},
		{"invalid_shutdown_timeout.yaml", "shutdown_timeout: must not be negative (got -5s)"},
		{"invalid_translation_strategy.yaml", `translation_strategy: "UTF8" is not one of UnderscoreEscapingWithSuffixes, UnderscoreEscapingWithoutSuffixes, NoUTF8EscapingWithSuffixes, NoTranslation`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			cfg, err := loadConfig(t, tt.file)
			require.NoError(t, err)
			before := *cfg
			err = cfg.Validate()
			require.ErrorContains(t, err, tt.wantErr)
			require.Equal(t, before.Shards, cfg.Shards, "Validate must not fill in values")
			require.Equal(t, before.Protocol, cfg.Protocol, "Validate must not fill in values")
		})
	}
}

func TestUnknownKeyRefused(t *testing.T) {
	_, err := loadConfig(t, "unknown_key.yaml")
	require.ErrorContains(t, err, "sending_queues")
}

// A configuration moved from contrib is refused naming each key Sieve does not take, and what
// to use instead.
func TestContribKeysNameTheirSieveCounterpart(t *testing.T) {
	cfg, err := loadConfig(t, "contrib_keys.yaml")
	require.NoError(t, err)
	err = cfg.Validate()
	for _, want := range []string{
		"remote_write_queue: a key of contrib's prometheusremotewrite exporter that Sieve does not take: use sending_queue",
		"wal: a key of contrib's prometheusremotewrite exporter that Sieve does not take: use a persistent sending queue: sending_queue::storage: file_storage",
		"resource_to_telemetry_conversion: ", "target_info",
		"send_metadata: ", "max_batch_request_parallelism: ", "use shards",
		"http: ", "protobuf_message: ", `use protocol: "1.0" or "2.0"`,
		"disable_scope_info: ", "include_metadata_keys: ", "convert_explicit_histograms_to_nhcb: ", "keep_classic_histograms: ",
	} {
		require.ErrorContains(t, err, want)
	}
	// Without them the same configuration is valid.
	cfg.ContribKeys = contribKeys{}
	require.NoError(t, cfg.Validate())
}

// contrib's type name is accepted as a deprecated alias.
func TestContribTypeNameIsAnAlias(t *testing.T) {
	f, ok := NewFactory().(interface{ DeprecatedAlias() component.Type })
	require.True(t, ok)
	require.Equal(t, "prometheusremotewrite", f.DeprecatedAlias().String())
}
