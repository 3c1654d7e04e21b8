// Package mixin builds Sieve's Grafana dashboards and Prometheus alerting and recording rules
// from one source. `go run ./dashboards/gen` writes them under dashboards/; the committed files
// are its output.
package mixin

// Config holds what an installation may want to change. Defaults returns the values the
// committed files are generated with.
type Config struct {
	// SieveSelector selects Sieve's own telemetry in alerts and variable queries.
	SieveSelector string
	// ClusterLabel is the label that tells clusters apart (absent on a single cluster).
	ClusterLabel string
	// UIDPrefix starts every dashboard UID; UIDs never change between generations.
	UIDPrefix string
	// Tags are set on every dashboard; the dashboards link to each other through them.
	Tags []string
	// ErrorsTier is the log tier whose records must never be dropped.
	ErrorsTier string
	// MeanLatency and P99Latency are the span latency alerts. Their thresholds are defaults:
	// rules/thresholds.yaml sets the default and per-service thresholds the alerts compare with,
	// and these apply only where it has no default (or is not loaded).
	MeanLatency LatencyAlert
	P99Latency  LatencyAlert
	// MeanLatencyWindow is the rate window of the mean latency the mean alert compares; the P99
	// alert reads the P99 quantile recording rule, over QuantileWindow.
	MeanLatencyWindow string
	// QueueFullRatio is the queue fill ratio above which an exporter's queue counts as near full.
	QueueFullRatio float64
	// QuantileWindow is the rate window of the latency quantile recording rules.
	QuantileWindow string
}

// LatencyAlert fires when the latency stays above its threshold for For; Threshold is in
// seconds.
type LatencyAlert struct {
	Threshold float64
	For       string
}

// Defaults returns the configuration of the committed dashboards and rules.
func Defaults() Config {
	return Config{
		SieveSelector:     `job=~"sieve.*"`,
		ClusterLabel:      "cluster",
		UIDPrefix:         "sieve-",
		Tags:              []string{"sieve"},
		ErrorsTier:        "errors",
		MeanLatency:       LatencyAlert{Threshold: 0.12, For: "1m"},
		P99Latency:        LatencyAlert{Threshold: 0.18, For: "5m"},
		MeanLatencyWindow: "1m",
		QueueFullRatio:    0.8,
		QuantileWindow:    "5m",
	}
}

// Quantiles the dashboards show and the recording rules precompute.
var Quantiles = []Quantile{{0.5, "p50"}, {0.9, "p90"}, {0.99, "p99"}, {0.999, "p999"}}

// Quantile is a quantile and its short name in rule names and legends.
type Quantile struct {
	Q    float64
	Name string
}
