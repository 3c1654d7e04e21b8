package finehistogram

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/sieveobs/sieve/connectors/finehistogram/internal/metadata"
)

func loadConfig(t *testing.T, file string, id component.ID) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", file))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	if id != (component.ID{}) {
		cm, err = cm.Sub(id.String())
		require.NoError(t, err)
	}
	if err := cm.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

func TestLoadConfig(t *testing.T) {
	full := createDefaultConfig().(*Config)
	full.Histogram.Kind = KindExponential
	full.Histogram.Exponential.Layout = LayoutDense
	full.Histogram.Exponential.MaxSize = 160
	full.Histogram.Exponential.MaxScale = 8
	full.Traces.MetricName = "http.server.request.duration"
	full.Logs = []LogMetricConfig{{MetricName: "log.request.duration", Attribute: "latency_ms", Unit: "ms"}}
	full.Dimensions = []string{"http.route", "http.response.status_code"}
	full.AggregationTemporality = TemporalityDelta
	full.FlushInterval = 15 * time.Second
	full.CardinalityLimit = 500
	full.SeriesExpiration = 5 * time.Minute
	full.WeightByAdjustedCount = false
	full.Exemplars = ExemplarsConfig{Enabled: true, MaxPerDataPoint: 3, Wait: 20 * time.Second}
	full.InstanceAttribute = "sieve.gateway"
	full.InstanceID = "sieve-gateway-0"

	classic := createDefaultConfig().(*Config)
	classic.Histogram.Explicit.Bounds = []float64{0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5}

	warmup := createDefaultConfig().(*Config)
	warmup.Histogram.Explicit.WarmupObservations = 10000

	tests := []struct {
		id   component.ID
		want *Config
	}{
		{id: component.NewID(metadata.Type), want: createDefaultConfig().(*Config)},
		{id: component.NewIDWithName(metadata.Type, "full"), want: full},
		{id: component.NewIDWithName(metadata.Type, "classic"), want: classic},
		{id: component.NewIDWithName(metadata.Type, "warmup"), want: warmup},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg, err := loadConfig(t, "config.yaml", tt.id)
			require.NoError(t, err)
			require.NoError(t, confmap.Validate(cfg))
			require.Equal(t, tt.want, cfg)
		})
	}
}

func TestInvalidConfig(t *testing.T) {
	tests := []struct {
		file    string
		wantErr string
	}{
		{"invalid_kind.yaml", "histogram::kind"},
		{"invalid_bounds_empty.yaml", "histogram::explicit::bounds must not be empty"},
		{"invalid_bounds_order.yaml", "histogram::explicit::bounds must be strictly increasing"},
		{"invalid_bounds_negative.yaml", "histogram::explicit::bounds[0]"},
		{"invalid_warmup.yaml", "histogram::explicit::warmup_observations must be 0 or at least 100"},
		{"invalid_max_size.yaml", "histogram::exponential::max_size"},
		{"invalid_max_scale.yaml", "histogram::exponential::max_scale"},
		{"invalid_layout.yaml", "histogram::exponential::layout"},
		{"invalid_temporality.yaml", "aggregation_temporality"},
		{"invalid_flush_interval.yaml", "flush_interval"},
		{"invalid_cardinality_limit.yaml", "cardinality_limit"},
		{"invalid_series_expiration.yaml", "series_expiration must not be negative"},
		{"invalid_unbounded.yaml", "cardinality_limit and series_expiration are both 0"},
		{"invalid_exemplars_max.yaml", "exemplars::max_per_data_point must be between 0 and 100"},
		{"invalid_exemplars_enabled_zero.yaml", "exemplars::max_per_data_point must be positive"},
		{"invalid_exemplars_wait.yaml", "exemplars::wait must not be negative"},
		{"invalid_traces_metric_name.yaml", "traces::metric_name"},
		{"invalid_logs_metric_name.yaml", "logs[0]::metric_name must not be empty"},
		{"invalid_logs_duplicate_name.yaml", "logs[0]::metric_name \"span.duration\" is used twice"},
		{"invalid_logs_attribute.yaml", "logs[0]::attribute"},
		{"invalid_logs_unit.yaml", "logs[0]::unit"},
		{"invalid_dimension_empty.yaml", "dimensions[0]"},
		{"invalid_dimension_duplicate.yaml", "dimensions[1]"},
		{"invalid_dimension_instance.yaml", "dimensions[1] \"collector.instance.id\" is the instance_attribute"},
		{"invalid_instance_attribute.yaml", "instance_attribute must not be \"service.name\""},
		{"invalid_instance_id.yaml", "instance_id is set but instance_attribute is empty"},
		{"invalid_dedup_requests.yaml", "dedup_requests must be between 0 and 10000000, got -1"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			cfg, err := loadConfig(t, tt.file, component.ID{})
			require.NoError(t, err)
			err = confmap.Validate(cfg)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestUnknownKeyRefused(t *testing.T) {
	_, err := loadConfig(t, "unknown_key.yaml", component.ID{})
	require.ErrorContains(t, err, "buckets")
}

func TestDefaultBoundsFitTheBucketBudget(t *testing.T) {
	b := createDefaultConfig().(*Config).Histogram.Explicit.Bounds
	require.NoError(t, validateBounds(b))
	require.LessOrEqual(t, len(b)+1, 40, "classic histograms must stay within 40 buckets")
}
