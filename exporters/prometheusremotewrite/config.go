package prometheusremotewrite // import "github.com/sieveobs/sieve/exporters/prometheusremotewrite"

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

const (
	protocolV1 = "1.0"
	protocolV2 = "2.0"

	maxShards = 256
	// minBatchBytes keeps a single series with a native histogram and
	// exemplars from being split below what a request can carry.
	minBatchBytes = 4 << 10
)

// reservedHeaders are set by the exporter on every request; letting users
// override them would produce requests the receiver cannot decode.
var reservedHeaders = []string{
	"Content-Encoding",
	"Content-Type",
	"X-Prometheus-Remote-Write-Version",
	"User-Agent",
}

// Config defines the configuration of the prometheus_remote_write exporter.
type Config struct {
	// ClientConfig holds endpoint, TLS, auth, headers and timeout. Compression
	// must stay unset: remote write mandates snappy, which the exporter applies.
	confighttp.ClientConfig `mapstructure:",squash"`

	// QueueConfig is the exporterhelper sending queue. num_consumers must be 1
	// so that successive batches, and therefore the samples of a series, are
	// sent in order; parallelism comes from Shards instead.
	QueueConfig configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`

	// RetryConfig is the exponential backoff (with jitter) for retryable
	// failures: 5xx, 429 and connection errors.
	RetryConfig configretry.BackOffConfig `mapstructure:"retry_on_failure"`

	// ShutdownTimeout bounds how long the exporter keeps sending once the
	// collector shuts down, counted from when the first of Sieve's exporters
	// began to shut down. Requests still running then are cancelled; with a
	// persistent queue (and retry_on_failure) what they carried stays queued
	// for the next start.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`

	// Protocol is the preferred remote-write protocol version, "2.0" or "1.0".
	// With "2.0" the exporter falls back to "1.0" for the life of the process
	// when the endpoint answers 415 or does not confirm what it wrote.
	Protocol string `mapstructure:"protocol"`

	// Shards is the number of parallel requests a batch is split into. Series
	// are assigned to shards by a hash of their labels, so a series is always
	// in exactly one shard and its samples stay ordered.
	Shards int `mapstructure:"shards"`

	// MaxBatchSizeBytes caps the uncompressed size of one request; a shard
	// larger than this is sent as several sequential requests.
	MaxBatchSizeBytes int `mapstructure:"max_batch_size_bytes"`

	// Namespace, when set, prefixes every metric name with "<namespace>_".
	Namespace string `mapstructure:"namespace"`

	// ExternalLabels are added to every series; they override labels of the
	// same name coming from the data.
	ExternalLabels map[string]string `mapstructure:"external_labels"`

	// TenantID, when set, is sent in the TenantHeader header on every request.
	TenantID string `mapstructure:"tenant_id"`

	// TenantHeader is the header carrying TenantID.
	TenantHeader string `mapstructure:"tenant_header"`

	// AddMetricSuffixes appends unit and "_total" suffixes following the
	// OpenTelemetry-to-Prometheus naming rules. translation_strategy, when set, takes precedence.
	AddMetricSuffixes bool `mapstructure:"add_metric_suffixes"`

	// TranslationStrategy is otlptranslator's naming strategy, as contrib and Prometheus name
	// it: UnderscoreEscapingWithSuffixes, UnderscoreEscapingWithoutSuffixes,
	// NoUTF8EscapingWithSuffixes or NoTranslation. Empty follows add_metric_suffixes. The last two
	// send UTF-8 names, which only a backend with UTF-8 names (Prometheus 3) accepts.
	TranslationStrategy string `mapstructure:"translation_strategy"`

	// TargetInfo controls the target_info series carrying resource attributes.
	TargetInfo TargetInfoConfig `mapstructure:"target_info"`

	// SendExemplars controls whether exemplars are sent.
	SendExemplars bool `mapstructure:"send_exemplars"`

	// DeltaToCumulative bounds the state used to turn delta temporality into
	// the cumulative values Prometheus expects.
	DeltaToCumulative DeltaToCumulativeConfig `mapstructure:"delta_to_cumulative"`

	// Staleness controls staleness markers for series that stop reporting.
	Staleness StalenessConfig `mapstructure:"staleness"`

	// ContribKeys are keys of contrib's prometheusremotewrite exporter that Sieve does not take.
	// They are decoded only so that a configuration moved from contrib is refused with the key
	// to use instead, rather than with the collector's bare "has invalid keys".
	ContribKeys contribKeys `mapstructure:",squash"`
}

// contribKeys are contrib's keys with no counterpart of the same name; see contribGuidance.
type contribKeys struct {
	RemoteWriteQueue              any `mapstructure:"remote_write_queue"`
	WAL                           any `mapstructure:"wal"`
	ResourceToTelemetryConversion any `mapstructure:"resource_to_telemetry_conversion"`
	SendMetadata                  any `mapstructure:"send_metadata"`
	MaxBatchRequestParallelism    any `mapstructure:"max_batch_request_parallelism"`
	HTTP                          any `mapstructure:"http"`
	ProtobufMessage               any `mapstructure:"protobuf_message"`
	DisableScopeInfo              any `mapstructure:"disable_scope_info"`
	IncludeMetadataKeys           any `mapstructure:"include_metadata_keys"`
	ConvertExplicitHistogramsNHCB any `mapstructure:"convert_explicit_histograms_to_nhcb"`
	KeepClassicHistograms         any `mapstructure:"keep_classic_histograms"`
}

// guidance names, for each of contrib's keys set, what to use in Sieve.
func (k contribKeys) guidance() []error {
	var errs []error
	for _, g := range []struct {
		set  bool
		key  string
		what string
	}{
		{k.RemoteWriteQueue != nil, "remote_write_queue", "use sending_queue (num_consumers must stay 1, to keep each series in order) and shards for parallel requests"},
		{k.WAL != nil, "wal", "use a persistent sending queue: sending_queue::storage: file_storage"},
		{k.ResourceToTelemetryConversion != nil, "resource_to_telemetry_conversion", "resource attributes go to target_info (target_info::enabled); copy the ones a series needs to its data points with the transform processor"},
		{k.SendMetadata != nil, "send_metadata", `remote write 2.0 (protocol: "2.0", the default) carries metadata with every series`},
		{k.MaxBatchRequestParallelism != nil, "max_batch_request_parallelism", "use shards"},
		{k.HTTP != nil, "http", "put the HTTP client keys (endpoint, headers, tls, timeout, auth) at the top level"},
		{k.ProtobufMessage != nil, "protobuf_message", `use protocol: "1.0" or "2.0"`},
		{k.DisableScopeInfo != nil, "disable_scope_info", "Sieve adds no scope labels"},
		{k.IncludeMetadataKeys != nil, "include_metadata_keys", "not supported; set fixed headers with headers"},
		{k.ConvertExplicitHistogramsNHCB != nil, "convert_explicit_histograms_to_nhcb", "not supported: explicit histograms are sent as classic _bucket series"},
		{k.KeepClassicHistograms != nil, "keep_classic_histograms", "not supported: explicit histograms are always sent as classic series"},
	} {
		if g.set {
			errs = append(errs, fmt.Errorf("%s: a key of contrib's prometheusremotewrite exporter that Sieve does not take: %s", g.key, g.what))
		}
	}
	return errs
}

// TargetInfoConfig controls the target_info series.
type TargetInfoConfig struct {
	// Enabled emits one target_info sample per resource and batch.
	Enabled bool `mapstructure:"enabled"`
}

// DeltaToCumulativeConfig bounds the delta-to-cumulative state.
type DeltaToCumulativeConfig struct {
	// MaxSeries is the number of delta series tracked; the least recently
	// updated one is evicted (and counted) when a new series would exceed it.
	MaxSeries int `mapstructure:"max_series"`
	// MaxStale evicts series not updated for this long, so that a series that
	// comes back starts a new cumulative run instead of inheriting old totals.
	MaxStale time.Duration `mapstructure:"max_stale"`
}

// StalenessConfig controls staleness markers.
type StalenessConfig struct {
	// StaleAfter is how long a series may go without a sample before a
	// staleness marker is sent for it. 0 disables markers for disappearing
	// series; data points flagged "no recorded value" are always marked.
	StaleAfter time.Duration `mapstructure:"stale_after"`
	// MaxSeries bounds the number of series tracked for staleness.
	MaxSeries int `mapstructure:"max_series"`
}

// Validate checks the configuration without modifying it.
func (cfg *Config) Validate() error {
	errs := cfg.ContribKeys.guidance()
	if cfg.TranslationStrategy != "" && !slices.Contains(translationStrategies, cfg.TranslationStrategy) {
		errs = append(errs, fmt.Errorf("translation_strategy: %q is not one of %s", cfg.TranslationStrategy, strings.Join(translationStrategies, ", ")))
	}
	if cfg.Endpoint == "" {
		errs = append(errs, errors.New("endpoint: must be set"))
	} else if u, err := url.Parse(cfg.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("endpoint: %q must be an absolute http or https URL", cfg.Endpoint))
	}
	if cfg.Compression != "" {
		errs = append(errs, fmt.Errorf("compression: must be empty, remote write always uses snappy (got %q)", cfg.Compression))
	}
	for _, h := range reservedHeaders {
		for name := range cfg.Headers.Iter {
			if http.CanonicalHeaderKey(name) == h {
				errs = append(errs, fmt.Errorf("headers: %q is set by the exporter and cannot be overridden", name))
			}
		}
	}
	if cfg.ShutdownTimeout < 0 {
		errs = append(errs, fmt.Errorf("shutdown_timeout: must not be negative (got %s)", cfg.ShutdownTimeout))
	}
	if cfg.Protocol != protocolV1 && cfg.Protocol != protocolV2 {
		errs = append(errs, fmt.Errorf("protocol: must be %q or %q (got %q)", protocolV2, protocolV1, cfg.Protocol))
	}
	if cfg.Shards < 1 || cfg.Shards > maxShards {
		errs = append(errs, fmt.Errorf("shards: must be between 1 and %d (got %d)", maxShards, cfg.Shards))
	}
	if cfg.MaxBatchSizeBytes < minBatchBytes {
		errs = append(errs, fmt.Errorf("max_batch_size_bytes: must be at least %d (got %d)", minBatchBytes, cfg.MaxBatchSizeBytes))
	}
	if cfg.Namespace != "" && !validMetricName(cfg.Namespace) {
		errs = append(errs, fmt.Errorf("namespace: %q is not a valid Prometheus metric name prefix", cfg.Namespace))
	}
	for name, value := range cfg.ExternalLabels {
		switch {
		case !validLabelName(name) || strings.HasPrefix(name, "__"):
			errs = append(errs, fmt.Errorf("external_labels: %q is not a valid label name (reserved names start with __)", name))
		case value == "":
			errs = append(errs, fmt.Errorf("external_labels: %q has an empty value, which Prometheus treats as no label", name))
		}
	}
	if cfg.TenantID != "" && cfg.TenantHeader == "" {
		errs = append(errs, errors.New("tenant_header: must be set when tenant_id is set"))
	}
	for _, h := range reservedHeaders {
		if http.CanonicalHeaderKey(cfg.TenantHeader) == h {
			errs = append(errs, fmt.Errorf("tenant_header: %q is set by the exporter and cannot be used for the tenant", cfg.TenantHeader))
		}
	}
	if cfg.QueueConfig.HasValue() && cfg.QueueConfig.Get().NumConsumers != 1 {
		errs = append(errs, fmt.Errorf("sending_queue::num_consumers: must be 1 to keep samples in order, use shards for parallelism (got %d)", cfg.QueueConfig.Get().NumConsumers))
	}
	if cfg.DeltaToCumulative.MaxSeries < 1 {
		errs = append(errs, fmt.Errorf("delta_to_cumulative::max_series: must be positive (got %d)", cfg.DeltaToCumulative.MaxSeries))
	}
	if cfg.DeltaToCumulative.MaxStale <= 0 {
		errs = append(errs, fmt.Errorf("delta_to_cumulative::max_stale: must be positive (got %s)", cfg.DeltaToCumulative.MaxStale))
	}
	if cfg.Staleness.StaleAfter < 0 {
		errs = append(errs, fmt.Errorf("staleness::stale_after: must not be negative (got %s)", cfg.Staleness.StaleAfter))
	}
	if cfg.Staleness.MaxSeries < 1 {
		errs = append(errs, fmt.Errorf("staleness::max_series: must be positive (got %d)", cfg.Staleness.MaxSeries))
	}
	return errors.Join(errs...)
}
