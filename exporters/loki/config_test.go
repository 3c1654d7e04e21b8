package loki

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/sieveobs/sieve/exporters/loki/internal/metadata"
)

func loadConfig(t *testing.T, file, id string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", file))
	require.NoError(t, err)
	if id != "" {
		cm, err = cm.Sub(id)
		require.NoError(t, err)
	}
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	if err := cm.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg, confmap.Validate(cfg)
}

func TestLoadConfig(t *testing.T) {
	minimal := createDefaultConfig().(*Config)
	minimal.ClientConfig.Endpoint = "http://loki:3100/loki/api/v1/push"

	full := createDefaultConfig().(*Config)
	full.ClientConfig.Endpoint = "https://loki.example.com/loki/api/v1/push"
	full.ClientConfig.Timeout = 10 * time.Second
	full.ClientConfig.Headers = configopaque.MapList{{Name: "X-Sieve", Value: "gateway"}}
	full.ClientConfig.Compression = configcompression.TypeGzip
	full.Format = FormatJSON
	full.LineFormat = LineFormatJSON
	full.Tenant = TenantConfig{Default: "platform", ResourceAttribute: "sieve.tenant"}
	full.Labels = LabelsConfig{
		Static:             map[string]string{"cluster": "eu-1"},
		Severity:           "level",
		ResourceAttributes: []string{"service.name", "cloud.region"},
		LogAttributes:      []string{"http.status_code"},
	}
	full.StructuredMetadata = StructuredMetadataConfig{LogAttributes: true, TraceContext: true, MaxEntries: 64, MaxSize: 32768}
	full.Cardinality = CardinalityConfig{MaxLabelNamesPerStream: 10, MaxLabelNameLength: 512, MaxLabelValueLength: 1024, MaxValuesPerLabel: 500, Window: 30 * time.Minute}
	full.Limits = LimitsConfig{MaxLineSize: 131072, LineTooLong: ActionDrop, MaxEntryAge: 72 * time.Hour, MaxFutureSkew: 5 * time.Minute, FutureEntries: ActionDrop}
	full.RetryConfig.InitialInterval = time.Second
	full.RetryConfig.MaxInterval = 20 * time.Second
	full.RetryConfig.MaxElapsedTime = 10 * time.Minute
	full.ShutdownTimeout = 15 * time.Second
	q := full.QueueConfig.Get()
	q.QueueSize = 5000
	storage := component.MustNewIDWithName("file_storage", "loki")
	q.StorageID = &storage
	q.Batch = configoptional.Some(exporterhelper.BatchConfig{
		FlushTimeout: 2 * time.Second, Sizer: exporterhelper.RequestSizerTypeItems, MinSize: 4096, MaxSize: 8192,
	})

	tests := []struct {
		id       component.ID
		expected *Config
	}{
		{id: component.NewID(metadata.Type), expected: minimal},
		{id: component.NewIDWithName(metadata.Type, "full"), expected: full},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg, err := loadConfig(t, "config.yaml", tt.id.String())
			require.NoError(t, err)
			require.Equal(t, tt.expected, cfg)
		})
	}
}

func TestInvalidConfig(t *testing.T) {
	tests := []struct {
		file string
		err  string
	}{
		{"invalid_endpoint_missing.yaml", "endpoint: must be set"},
		{"invalid_endpoint_scheme.yaml", "endpoint: \"ftp://loki:3100/push\" is not an http(s) URL"},
		{"invalid_format.yaml", "format: \"yaml\""},
		{"invalid_compression_protobuf.yaml", "compression: must be empty with format protobuf"},
		{"invalid_line_format.yaml", "line_format: \"logfmt\""},
		{"invalid_num_consumers.yaml", "sending_queue::num_consumers: 4"},
		{"invalid_tenant.yaml", "tenant::default: \"team a/b\""},
		{"invalid_label_collision.yaml", "labels::log_attributes: \"service_name\" becomes label \"service_name\""},
		{"invalid_label_empty_key.yaml", "labels::log_attributes: label keys must not be empty"},
		{"invalid_static_empty_value.yaml", "labels::static: label \"env\" has an empty value"},
		{"invalid_max_label_names.yaml", "cardinality::max_label_names_per_stream"},
		{"invalid_static_over_max_names.yaml", "labels::static: 2 labels exceed cardinality::max_label_names_per_stream (1)"},
		{"invalid_max_label_name_length.yaml", "cardinality::max_label_name_length"},
		{"invalid_max_label_value_length.yaml", "cardinality::max_label_value_length"},
		{"invalid_max_values_per_label.yaml", "cardinality::max_values_per_label"},
		{"invalid_window.yaml", "cardinality::window"},
		{"invalid_sm_max_entries.yaml", "structured_metadata::max_entries"},
		{"invalid_sm_max_size.yaml", "structured_metadata::max_size"},
		{"invalid_max_line_size.yaml", "limits::max_line_size"},
		{"invalid_line_too_long.yaml", "limits::line_too_long: \"split\""},
		{"invalid_max_entry_age.yaml", "limits::max_entry_age"},
		{"invalid_max_future_skew.yaml", "limits::max_future_skew"},
		{"invalid_future_entries.yaml", "limits::future_entries: \"keep\""},
		{"invalid_shutdown_timeout.yaml", "shutdown_timeout: must not be negative (got -5s)"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := loadConfig(t, tt.file, "")
			require.ErrorContains(t, err, tt.err)
		})
	}
}

func TestUnknownKeyRefused(t *testing.T) {
	_, err := loadConfig(t, "unknown_key.yaml", "")
	require.ErrorContains(t, err, "resource_attribute")
}

func TestDefaultConfigNeedsOnlyEndpoint(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	require.ErrorContains(t, confmap.Validate(cfg), "endpoint: must be set")
	cfg.ClientConfig.Endpoint = "http://localhost:3100/loki/api/v1/push"
	require.NoError(t, confmap.Validate(cfg))
	require.Equal(t, 20*time.Second, cfg.ShutdownTimeout, "fits a pod's default 30 s grace period")
}
