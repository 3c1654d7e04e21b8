package finehistogram // import "github.com/sieveobs/sieve/connectors/finehistogram"

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/sieveobs/sieve/connectors/finehistogram/internal/expohist"
)

// Histogram kinds.
const (
	KindExplicit    = "explicit"
	KindExponential = "exponential"
)

// Aggregation temporalities.
const (
	TemporalityCumulative = "cumulative"
	TemporalityDelta      = "delta"
)

// Scale range of the exponential structure (the mapping's limits).
const (
	minScale = expohist.MinScale
	maxScale = expohist.MaxScale
)

// Exponential bucket layouts.
const (
	LayoutDense  = "dense"
	LayoutSparse = "sparse"
)

// Bucket budget per sign of an exponential series: 2 is the fewest a downscale can always reach
// (at scale -10 every positive float64 lies in two buckets); 16384 bounds a series' memory.
const (
	minMaxSize = 2
	maxMaxSize = 16384
)

// maxExemplars bounds the exemplar ring preallocated in every series.
const maxExemplars = 100

// maxDedupRequests bounds the remembered request hashes (about 40 bytes each with the set).
const maxDedupRequests = 10_000_000

// maxWarmup bounds the per-metric warm-up buffer (24 bytes per observation).
const maxWarmup = 100_000

// Units accepted for numeric log fields; values are converted to seconds.
var unitToSeconds = map[string]float64{
	"ns": 1e-9,
	"us": 1e-6,
	"ms": 1e-3,
	"s":  1,
}

// Config configures the fine_histogram connector.
type Config struct {
	// Histogram selects the bucket layout shared by every metric of this connector.
	Histogram HistogramConfig `mapstructure:"histogram"`

	// Traces configures the span duration metric (traces→metrics).
	Traces TracesConfig `mapstructure:"traces"`

	// Logs lists the numeric log attributes turned into histograms (logs→metrics).
	Logs []LogMetricConfig `mapstructure:"logs"`

	// Dimensions are span, log or data point attributes (then resource attributes) copied onto
	// every series; a missing attribute is simply left out.
	Dimensions []string `mapstructure:"dimensions"`

	// AggregationTemporality is "cumulative" or "delta".
	AggregationTemporality string `mapstructure:"aggregation_temporality"`

	// FlushInterval is how often the aggregated histograms are emitted.
	FlushInterval time.Duration `mapstructure:"flush_interval"`

	// CardinalityLimit caps the number of series per metric; observations for new series beyond
	// it go to one overflow series carrying otel.metric.overflow=true. 0 means unlimited.
	CardinalityLimit int `mapstructure:"cardinality_limit"`

	// SeriesExpiration removes a series that received nothing for this long. 0 keeps series
	// forever (only sensible with a cardinality limit).
	SeriesExpiration time.Duration `mapstructure:"series_expiration"`

	// WeightByAdjustedCount weights each observation by the adjusted count found in the span
	// tracestate (ot=th:...) or the log attribute sampling.threshold.
	WeightByAdjustedCount bool `mapstructure:"weight_by_adjusted_count"`

	// Exemplars configures trace/span ID exemplars.
	Exemplars ExemplarsConfig `mapstructure:"exemplars"`

	// InstanceAttribute is the data point attribute that names the collector which produced a
	// series, so that the replicas of a gateway pool never write the same series (each one sees
	// a share of every service's spans). Empty leaves it out: only for a single collector.
	InstanceAttribute string `mapstructure:"instance_attribute"`

	// InstanceID is the value of InstanceAttribute. Empty uses the collector's own
	// service.instance.id, a new UUID at every start unless service::telemetry::resource sets it;
	// a stable name (the pod name of a StatefulSet) keeps a restarted replica on its series.
	InstanceID string `mapstructure:"instance_id"`

	// Storage names a storage extension (file_storage) that journals every request consumed
	// since the last flush that reached the next pipeline, replayed at start: a crash between
	// a request's acknowledgement and the next flush then loses none of its observations.
	// Unset keeps them in memory only.
	Storage *component.ID `mapstructure:"storage"`

	// DedupRequests is how many of the latest requests counted are remembered (by a hash of
	// their encoding, 8 bytes each plus the set) so that an identical request arriving again, a
	// resend, is not counted twice. Needs Storage; 0 remembers none.
	DedupRequests int `mapstructure:"dedup_requests"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// HistogramConfig selects explicit or exponential buckets.
type HistogramConfig struct {
	// Kind is "explicit" or "exponential".
	Kind string `mapstructure:"kind"`
	// Explicit holds the bounds used when Kind is "explicit".
	Explicit ExplicitConfig `mapstructure:"explicit"`
	// Exponential holds the size used when Kind is "exponential".
	Exponential ExponentialConfig `mapstructure:"exponential"`
}

// ExplicitConfig configures explicit-bucket histograms.
type ExplicitConfig struct {
	// Bounds are the bucket upper bounds in seconds, strictly increasing and positive.
	Bounds []float64 `mapstructure:"bounds"`
	// WarmupObservations, when positive, replaces Bounds per metric by as many log-spaced bounds
	// fitted to the range of the metric's first observations (buffered, then replayed). 0 keeps
	// Bounds. Histograms merged from agents always use Bounds.
	WarmupObservations int `mapstructure:"warmup_observations"`
}

// ExponentialConfig configures base-2 exponential histograms.
type ExponentialConfig struct {
	// Layout is "dense" or "sparse". Dense keeps one contiguous range of at most MaxSize buckets,
	// empty ones included, as the OpenTelemetry SDKs do: modes far apart force a coarse scale.
	// Sparse keeps at most MaxSize populated buckets, the empty ones between them free, as
	// Prometheus native histograms store them: the scale falls only when the populated buckets
	// would exceed MaxSize, never lower than dense on the same data.
	Layout string `mapstructure:"layout"`
	// MaxSize is the maximum number of buckets per sign (populated ones with the sparse layout);
	// the scale drops when they would not fit.
	MaxSize int32 `mapstructure:"max_size"`
	// MaxScale caps the emitted scale; points are downscaled when emitted, which is exact because
	// every bucket lies within one bucket of any coarser scale. Prometheus stores at most scale 8.
	MaxScale int32 `mapstructure:"max_scale"`
}

// TracesConfig configures the span duration metric.
type TracesConfig struct {
	// MetricName is the name of the span duration histogram.
	MetricName string `mapstructure:"metric_name"`
}

// LogMetricConfig turns one numeric log attribute into a histogram.
type LogMetricConfig struct {
	// MetricName is the name of the histogram.
	MetricName string `mapstructure:"metric_name"`
	// Attribute is the log attribute holding the value (int, double or numeric string).
	Attribute string `mapstructure:"attribute"`
	// Unit of the attribute: ns, us, ms or s. Values are converted to seconds.
	Unit string `mapstructure:"unit"`
}

// ExemplarsConfig configures exemplars.
type ExemplarsConfig struct {
	// Enabled attaches trace/span ID exemplars to the data points.
	Enabled bool `mapstructure:"enabled"`
	// MaxPerDataPoint bounds the exemplars kept per series between two flushes.
	MaxPerDataPoint int `mapstructure:"max_per_data_point"`
	// TraceDecider is the ID of an extension that knows which traces are kept (sampling_policy).
	// When set, exemplars point only at kept traces, so each one opens a trace that exists.
	TraceDecider component.ID `mapstructure:"trace_decider"`
	// Wait is the longest an exemplar whose trace still awaits its tail decision is held back,
	// across flushes, before it is dropped; 0 drops it at the first flush that finds it
	// undecided. The tail sampler decides decision_wait after a trace's first span, later when
	// it runs behind, so a wait shorter than one flush would lose every exemplar whenever
	// flush_interval is shorter than decision_wait.
	Wait time.Duration `mapstructure:"wait"`
}

// Validate checks the configuration; it never fills in values.
func (c *Config) Validate() error {
	var errs []error
	switch c.Histogram.Kind {
	case KindExplicit:
		if err := validateBounds(c.Histogram.Explicit.Bounds); err != nil {
			errs = append(errs, err)
		}
		if w := c.Histogram.Explicit.WarmupObservations; w < 0 || w > maxWarmup {
			errs = append(errs, fmt.Errorf("histogram::explicit::warmup_observations must be between 0 and %d, got %d", maxWarmup, w))
		} else if w > 0 && w < minWarmup {
			errs = append(errs, fmt.Errorf("histogram::explicit::warmup_observations must be 0 or at least %d, got %d", minWarmup, w))
		} else if w > 0 && len(c.Histogram.Explicit.Bounds) < 2 {
			errs = append(errs, errors.New("histogram::explicit::bounds needs at least 2 bounds when warmup_observations is set: their number is kept"))
		}
	case KindExponential:
		if c.Histogram.Exponential.Layout != LayoutDense && c.Histogram.Exponential.Layout != LayoutSparse {
			errs = append(errs, fmt.Errorf("histogram::exponential::layout must be %q or %q, got %q",
				LayoutDense, LayoutSparse, c.Histogram.Exponential.Layout))
		}
		if c.Histogram.Exponential.MaxSize < minMaxSize || c.Histogram.Exponential.MaxSize > maxMaxSize {
			errs = append(errs, fmt.Errorf("histogram::exponential::max_size must be between %d and %d, got %d",
				minMaxSize, maxMaxSize, c.Histogram.Exponential.MaxSize))
		}
		if c.Histogram.Exponential.MaxScale < minScale || c.Histogram.Exponential.MaxScale > maxScale {
			errs = append(errs, fmt.Errorf("histogram::exponential::max_scale must be between %d and %d, got %d",
				minScale, maxScale, c.Histogram.Exponential.MaxScale))
		}
	default:
		errs = append(errs, fmt.Errorf("histogram::kind must be %q or %q, got %q", KindExplicit, KindExponential, c.Histogram.Kind))
	}
	if c.AggregationTemporality != TemporalityCumulative && c.AggregationTemporality != TemporalityDelta {
		errs = append(errs, fmt.Errorf("aggregation_temporality must be %q or %q, got %q",
			TemporalityCumulative, TemporalityDelta, c.AggregationTemporality))
	}
	if c.FlushInterval <= 0 {
		errs = append(errs, fmt.Errorf("flush_interval must be positive, got %s", c.FlushInterval))
	}
	if c.CardinalityLimit < 0 {
		errs = append(errs, fmt.Errorf("cardinality_limit must not be negative, got %d", c.CardinalityLimit))
	}
	if c.CardinalityLimit == 0 && c.SeriesExpiration == 0 {
		errs = append(errs, errors.New("cardinality_limit and series_expiration are both 0: memory would grow without bound; set at least one"))
	}
	if c.SeriesExpiration < 0 {
		errs = append(errs, fmt.Errorf("series_expiration must not be negative, got %s", c.SeriesExpiration))
	}
	if c.Exemplars.MaxPerDataPoint < 0 || c.Exemplars.MaxPerDataPoint > maxExemplars {
		errs = append(errs, fmt.Errorf("exemplars::max_per_data_point must be between 0 and %d, got %d", maxExemplars, c.Exemplars.MaxPerDataPoint))
	}
	if !c.Exemplars.Enabled && c.Exemplars.TraceDecider != (component.ID{}) {
		errs = append(errs, errors.New("exemplars::trace_decider needs exemplars::enabled"))
	}
	if c.Exemplars.Wait < 0 {
		errs = append(errs, fmt.Errorf("exemplars::wait must not be negative, got %v", c.Exemplars.Wait))
	}
	if c.Exemplars.Enabled && c.Exemplars.MaxPerDataPoint == 0 {
		errs = append(errs, errors.New("exemplars::max_per_data_point must be positive when exemplars are enabled"))
	}
	if strings.TrimSpace(c.Traces.MetricName) == "" {
		errs = append(errs, errors.New("traces::metric_name must not be empty"))
	}
	names := map[string]bool{c.Traces.MetricName: true}
	for i, l := range c.Logs {
		if strings.TrimSpace(l.MetricName) == "" {
			errs = append(errs, fmt.Errorf("logs[%d]::metric_name must not be empty", i))
		} else if names[l.MetricName] {
			errs = append(errs, fmt.Errorf("logs[%d]::metric_name %q is used twice", i, l.MetricName))
		}
		names[l.MetricName] = true
		if strings.TrimSpace(l.Attribute) == "" {
			errs = append(errs, fmt.Errorf("logs[%d]::attribute must not be empty", i))
		}
		if _, ok := unitToSeconds[l.Unit]; !ok {
			errs = append(errs, fmt.Errorf("logs[%d]::unit must be one of ns, us, ms, s; got %q", i, l.Unit))
		}
	}
	if c.DedupRequests < 0 || c.DedupRequests > maxDedupRequests {
		errs = append(errs, fmt.Errorf("dedup_requests must be between 0 and %d, got %d", maxDedupRequests, c.DedupRequests))
	}
	if c.InstanceAttribute == serviceNameKey {
		errs = append(errs, fmt.Errorf("instance_attribute must not be %q: series are grouped by service", serviceNameKey))
	}
	if c.InstanceAttribute == "" && c.InstanceID != "" {
		errs = append(errs, errors.New("instance_id is set but instance_attribute is empty: the ID would not be written"))
	}
	seen := map[string]bool{}
	for i, d := range c.Dimensions {
		if d == c.InstanceAttribute && d != "" {
			errs = append(errs, fmt.Errorf("dimensions[%d] %q is the instance_attribute, which every series carries already", i, d))
		}
		if d == "" {
			errs = append(errs, fmt.Errorf("dimensions[%d] must not be empty", i))
		} else if seen[d] {
			errs = append(errs, fmt.Errorf("dimensions[%d] %q is listed twice", i, d))
		}
		seen[d] = true
	}
	return errors.Join(errs...)
}

func validateBounds(bounds []float64) error {
	if len(bounds) == 0 {
		return errors.New("histogram::explicit::bounds must not be empty")
	}
	for i, b := range bounds {
		if b <= 0 || math.IsInf(b, 0) || math.IsNaN(b) {
			return fmt.Errorf("histogram::explicit::bounds[%d] must be a finite positive number of seconds, got %v", i, b)
		}
		if i > 0 && b <= bounds[i-1] {
			return fmt.Errorf("histogram::explicit::bounds must be strictly increasing: bounds[%d]=%v after %v", i, b, bounds[i-1])
		}
	}
	return nil
}
