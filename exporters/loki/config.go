package loki // import "github.com/sieveobs/sieve/exporters/loki"

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

// Wire formats of the push request body.
const (
	FormatProtobuf = "protobuf"
	FormatJSON     = "json"
)

// Line formats.
const (
	LineFormatBody = "body"
	LineFormatJSON = "json"
)

// Actions for entries that break a client-side limit.
const (
	ActionDrop     = "drop"
	ActionTruncate = "truncate"
	ActionClamp    = "clamp"
)

// Config defines the configuration of the loki exporter.
type Config struct {
	// ClientConfig holds the HTTP client settings; Endpoint is the full push
	// URL, e.g. http://loki:3100/loki/api/v1/push. Timeout bounds one attempt.
	ClientConfig confighttp.ClientConfig `mapstructure:",squash"`
	// QueueConfig is exporterhelper's sending queue (in memory, or persistent
	// through `storage`). num_consumers must stay 1 to keep per-stream order.
	QueueConfig configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	// RetryConfig is exporterhelper's retry with exponential backoff; a
	// Retry-After from Loki extends the wait.
	RetryConfig configretry.BackOffConfig `mapstructure:"retry_on_failure"`
	// ShutdownTimeout bounds how long the exporter keeps sending once the
	// collector shuts down, counted from when the first of Sieve's exporters
	// began to shut down. Sends still running then are cancelled; with a
	// persistent queue (and retry_on_failure) what they carried stays queued
	// for the next start.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`

	// Format is the wire format: "protobuf" (snappy block compressed) or "json".
	Format string `mapstructure:"format"`
	// LineFormat is what the log line holds: "body" or "json" (an object with
	// the body and the attributes that are neither labels nor structured metadata).
	LineFormat string `mapstructure:"line_format"`

	// Tenant selects the X-Scope-OrgID header.
	Tenant TenantConfig `mapstructure:"tenant"`
	// Labels selects what becomes a stream label.
	Labels LabelsConfig `mapstructure:"labels"`
	// StructuredMetadata selects what is attached to each entry as structured metadata.
	StructuredMetadata StructuredMetadataConfig `mapstructure:"structured_metadata"`
	// Cardinality is the guard that keeps stream labels within Loki's limits.
	Cardinality CardinalityConfig `mapstructure:"cardinality"`
	// Limits mirrors Loki's per-entry validation so that entries Loki would
	// reject are handled here instead of failing the whole request.
	Limits LimitsConfig `mapstructure:"limits"`
}

// TenantConfig selects the tenant of each resource.
type TenantConfig struct {
	// Default is the tenant used when ResourceAttribute is unset or absent on
	// a resource. Empty sends no X-Scope-OrgID header.
	Default string `mapstructure:"default"`
	// ResourceAttribute names a resource attribute whose value is the tenant.
	ResourceAttribute string `mapstructure:"resource_attribute"`
}

// LabelsConfig lists the attributes promoted to stream labels. Label names
// are the attribute keys sanitized to Loki's rules (service.name -> service_name).
// When there are more candidate labels than the guard allows, earlier
// entries win: static, then resource attributes, then severity, then log
// attributes, each list in its configured order.
type LabelsConfig struct {
	// Static labels added to every stream.
	Static map[string]string `mapstructure:"static"`
	// Severity, when not empty, is the label name that carries the record's
	// severity text (e.g. "level").
	Severity string `mapstructure:"severity"`
	// ResourceAttributes are resource attribute keys that become labels.
	ResourceAttributes []string `mapstructure:"resource_attributes"`
	// LogAttributes are log record attribute keys that become labels.
	LogAttributes []string `mapstructure:"log_attributes"`
}

// StructuredMetadataConfig selects what goes to structured metadata. What is
// not a label and not structured metadata goes into the line when
// line_format is json, and is left out when it is body.
type StructuredMetadataConfig struct {
	// ResourceAttributes sends non-label resource attributes.
	ResourceAttributes bool `mapstructure:"resource_attributes"`
	// LogAttributes sends non-label log attributes and the severity text.
	LogAttributes bool `mapstructure:"log_attributes"`
	// TraceContext sends trace_id and span_id.
	TraceContext bool `mapstructure:"trace_context"`
	// MaxEntries caps the number of structured metadata pairs per entry
	// (Loki's max_structured_metadata_entries_count).
	MaxEntries int `mapstructure:"max_entries"`
	// MaxSize caps the total bytes of names and values per entry
	// (Loki's max_structured_metadata_size).
	MaxSize int `mapstructure:"max_size"`
}

// CardinalityConfig bounds the labels of each stream. Anything over budget
// is moved to structured metadata and counted, never dropped.
type CardinalityConfig struct {
	// MaxLabelNamesPerStream mirrors Loki's max_label_names_per_series.
	MaxLabelNamesPerStream int `mapstructure:"max_label_names_per_stream"`
	// MaxLabelNameLength mirrors Loki's max_label_name_length.
	MaxLabelNameLength int `mapstructure:"max_label_name_length"`
	// MaxLabelValueLength mirrors Loki's max_label_value_length.
	MaxLabelValueLength int `mapstructure:"max_label_value_length"`
	// MaxValuesPerLabel is the number of distinct values one label may take
	// within Window; new values beyond it are demoted until the window ends.
	MaxValuesPerLabel int `mapstructure:"max_values_per_label"`
	// Window is the period over which distinct values are counted.
	Window time.Duration `mapstructure:"window"`
}

// LimitsConfig mirrors Loki's per-entry limits.
type LimitsConfig struct {
	// MaxLineSize mirrors Loki's max_line_size in bytes; 0 disables the check.
	MaxLineSize int `mapstructure:"max_line_size"`
	// LineTooLong is "truncate" or "drop".
	LineTooLong string `mapstructure:"line_too_long"`
	// MaxEntryAge drops entries older than this (Loki's
	// reject_old_samples_max_age); 0 disables the check.
	MaxEntryAge time.Duration `mapstructure:"max_entry_age"`
	// MaxFutureSkew is how far ahead of the local clock a timestamp may be
	// (Loki's creation_grace_period); 0 disables the check.
	MaxFutureSkew time.Duration `mapstructure:"max_future_skew"`
	// FutureEntries is "clamp" (set the timestamp to now) or "drop".
	FutureEntries string `mapstructure:"future_entries"`
}

var _ component.Config = (*Config)(nil)

// Validate checks the configuration without filling in any value.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.ClientConfig.Endpoint == "" {
		errs = append(errs, errors.New("endpoint: must be set to Loki's push URL"))
	} else if u, err := url.Parse(cfg.ClientConfig.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("endpoint: %q is not an http(s) URL", cfg.ClientConfig.Endpoint))
	}
	switch cfg.Format {
	case FormatProtobuf:
		if cfg.ClientConfig.Compression.IsCompressed() {
			errs = append(errs, errors.New("compression: must be empty with format protobuf, whose body is already snappy compressed"))
		}
	case FormatJSON:
	default:
		errs = append(errs, fmt.Errorf("format: %q is not one of protobuf, json", cfg.Format))
	}
	if cfg.LineFormat != LineFormatBody && cfg.LineFormat != LineFormatJSON {
		errs = append(errs, fmt.Errorf("line_format: %q is not one of body, json", cfg.LineFormat))
	}
	if cfg.QueueConfig.HasValue() && cfg.QueueConfig.Get().NumConsumers > 1 {
		errs = append(errs, fmt.Errorf("sending_queue::num_consumers: %d would reorder streams across retries; must be 1", cfg.QueueConfig.Get().NumConsumers))
	}
	if cfg.ShutdownTimeout < 0 {
		errs = append(errs, fmt.Errorf("shutdown_timeout: must not be negative (got %s)", cfg.ShutdownTimeout))
	}
	if cfg.Tenant.Default != "" && !validTenant(cfg.Tenant.Default) {
		errs = append(errs, fmt.Errorf("tenant::default: %q is not a valid Loki tenant ID", cfg.Tenant.Default))
	}
	errs = append(errs, cfg.validateLabels()...)

	c := cfg.Cardinality
	if c.MaxLabelNamesPerStream < 1 {
		errs = append(errs, errors.New("cardinality::max_label_names_per_stream: must be at least 1"))
	}
	if c.MaxLabelNamesPerStream >= 1 && len(cfg.Labels.Static) > c.MaxLabelNamesPerStream {
		// Static labels are on every stream; the guard cannot demote them.
		errs = append(errs, fmt.Errorf("labels::static: %d labels exceed cardinality::max_label_names_per_stream (%d)", len(cfg.Labels.Static), c.MaxLabelNamesPerStream))
	}
	if c.MaxLabelNameLength < 1 {
		errs = append(errs, errors.New("cardinality::max_label_name_length: must be at least 1"))
	}
	if c.MaxLabelValueLength < 1 {
		errs = append(errs, errors.New("cardinality::max_label_value_length: must be at least 1"))
	}
	if c.MaxValuesPerLabel < 1 {
		errs = append(errs, errors.New("cardinality::max_values_per_label: must be at least 1"))
	}
	if c.Window <= 0 {
		errs = append(errs, errors.New("cardinality::window: must be positive"))
	}
	if cfg.StructuredMetadata.MaxEntries < 1 {
		errs = append(errs, errors.New("structured_metadata::max_entries: must be at least 1"))
	}
	if cfg.StructuredMetadata.MaxSize < 1 {
		errs = append(errs, errors.New("structured_metadata::max_size: must be at least 1"))
	}

	l := cfg.Limits
	if l.MaxLineSize < 0 {
		errs = append(errs, errors.New("limits::max_line_size: must not be negative"))
	}
	if l.LineTooLong != ActionTruncate && l.LineTooLong != ActionDrop {
		errs = append(errs, fmt.Errorf("limits::line_too_long: %q is not one of truncate, drop", l.LineTooLong))
	}
	if l.MaxEntryAge < 0 {
		errs = append(errs, errors.New("limits::max_entry_age: must not be negative"))
	}
	if l.MaxFutureSkew < 0 {
		errs = append(errs, errors.New("limits::max_future_skew: must not be negative"))
	}
	if l.FutureEntries != ActionClamp && l.FutureEntries != ActionDrop {
		errs = append(errs, fmt.Errorf("limits::future_entries: %q is not one of clamp, drop", l.FutureEntries))
	}
	return errors.Join(errs...)
}

// validateLabels refuses label sets whose sanitized names collide, because
// Loki rejects a stream with a duplicate label name.
func (cfg *Config) validateLabels() []error {
	var errs []error
	seen := map[string]string{}
	add := func(key, src string) {
		if key == "" {
			errs = append(errs, fmt.Errorf("%s: label keys must not be empty", src))
			return
		}
		name := SanitizeLabelName(key)
		if prev, ok := seen[name]; ok {
			errs = append(errs, fmt.Errorf("%s: %q becomes label %q, already produced by %s", src, key, name, prev))
			return
		}
		seen[name] = fmt.Sprintf("%s %q", src, key)
	}
	for k, v := range cfg.Labels.Static {
		add(k, "labels::static")
		if v == "" {
			errs = append(errs, fmt.Errorf("labels::static: label %q has an empty value", k))
		}
	}
	if cfg.Labels.Severity != "" {
		add(cfg.Labels.Severity, "labels::severity")
	}
	for _, k := range cfg.Labels.ResourceAttributes {
		add(k, "labels::resource_attributes")
	}
	for _, k := range cfg.Labels.LogAttributes {
		add(k, "labels::log_attributes")
	}
	return errs
}

// validTenant follows Loki's tenant ID rules: at most 150 characters from a
// safe set, and not "." or "..".
func validTenant(s string) bool {
	if s == "" || len(s) > 150 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '!' || c == '-' || c == '_' || c == '.' || c == '*' || c == '\'' || c == '(' || c == ')':
		default:
			return false
		}
	}
	return true
}
