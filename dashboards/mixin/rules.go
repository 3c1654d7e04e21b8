package mixin

import (
	"fmt"
	"strconv"
	"strings"
)

// RuleFile is a Prometheus rule file.
type RuleFile struct {
	Groups []RuleGroup `yaml:"groups"`
}

// RuleGroup is one rule group.
type RuleGroup struct {
	Name  string `yaml:"name"`
	Rules []Rule `yaml:"rules"`
}

// Rule is an alerting or a recording rule.
type Rule struct {
	Alert       string            `yaml:"alert,omitempty"`
	Record      string            `yaml:"record,omitempty"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// SpanQuantileRecord names the recorded span latency quantile per service and operation.
func SpanQuantileRecord(cfg Config, q Quantile) string {
	return fmt.Sprintf("%s_%s_%s:%s:%s_rate%s", cfg.ClusterLabel, SpanServiceLabel, SpanOperationLabel, SpanDuration.Name, q.Name, cfg.QuantileWindow)
}

// HTTPQuantileRecord names the recorded request latency quantile per service and route.
func HTTPQuantileRecord(cfg Config, q Quantile) string {
	return fmt.Sprintf("%s_%s_%s:%s:%s_rate%s", cfg.ClusterLabel, HTTPServiceLabel, HTTPOperationLabel, HTTPDuration.Name, q.Name, cfg.QuantileWindow)
}

// SpanMeanRecord names the recorded mean span latency per service and operation, over the mean
// latency alert's window.
func SpanMeanRecord(cfg Config) string {
	return fmt.Sprintf("%s_%s_%s:%s:mean_rate%s", cfg.ClusterLabel, SpanServiceLabel, SpanOperationLabel, SpanDuration.Name, cfg.MeanLatencyWindow)
}

// The threshold series of rules/thresholds.yaml, in seconds: one without service_name is the
// default, one with service_name the threshold of that service.
const (
	P99ThresholdRecord  = "sieve:latency_p99_threshold_seconds"
	MeanThresholdRecord = "sieve:latency_mean_threshold_seconds"
)

// The span latency alerts, which compare with the threshold series.
const (
	MeanLatencyAlert = "SieveServiceMeanLatencyHigh"
	P99LatencyAlert  = "SieveServiceP99LatencyHigh"
)

// ThresholdRecords are the series rules/thresholds.yaml may record.
var ThresholdRecords = []string{P99ThresholdRecord, MeanThresholdRecord}

// aboveThreshold keeps the series of recorded above their service's threshold series: the
// service's own where thresholds.yaml has one (the highest, should it have several), else the
// default series, else fallback, so that the alert still works without thresholds.yaml.
func aboveThreshold(recorded, threshold string, fallback float64) string {
	own := fmt.Sprintf(`%s{%s!=""}`, threshold, SpanServiceLabel)
	return fmt.Sprintf(`(
  %[1]s
  > on (%[2]s) group_left ()
  max by (%[2]s) (%[3]s)
)
or
(
  (%[1]s unless on (%[2]s) %[3]s)
  > on () group_left ()
  (max(%[4]s{%[2]s=""}) or on () vector(%[5]s))
)`, recorded, SpanServiceLabel, own, threshold, seconds(fallback))
}

// thresholdOf renders, in an alert's annotation, the threshold aboveThreshold compared with.
func thresholdOf(threshold string, fallback float64) string {
	return fmt.Sprintf(`{{ with printf "max(%[1]s{%[2]s=%%q}) or on () max(%[1]s{%[2]s=\"\"})" $labels.%[2]s | query }}{{ . | first | value | humanizeDuration }}{{ else }}{{ %[3]s | humanizeDuration }}{{ end }}`,
		threshold, SpanServiceLabel, seconds(fallback))
}

// histogramQuantile covers both shapes a histogram may arrive in: classic buckets and native.
func histogramQuantile(q float64, m Metric, by, selector, window string) string {
	f := strconv.FormatFloat(q, 'f', -1, 64)
	return fmt.Sprintf("histogram_quantile(%s, sum by (%s, le) (rate(%s[%s])))\nor\nhistogram_quantile(%s, sum by (%s) (rate(%s[%s])))",
		f, by, vec(m.Bucket(), selector), window, f, by, vec(m.Name, selector), window)
}

// histogramMean is sum/count for classic and native histograms.
func histogramMean(m Metric, by, selector, window string) string {
	return fmt.Sprintf("sum by (%s) (rate(%s[%s])) / sum by (%s) (rate(%s[%s]))\nor\nhistogram_sum(sum by (%s) (rate(%s[%s]))) / histogram_count(sum by (%s) (rate(%s[%s])))",
		by, vec(m.Sum(), selector), window, by, vec(m.Count(), selector), window,
		by, vec(m.Name, selector), window, by, vec(m.Name, selector), window)
}

// vec is a vector selector; an empty selector leaves out the braces.
func vec(name, selector string) string {
	if selector == "" {
		return name
	}
	return name + "{" + selector + "}"
}

// RecordingRules precompute the latency quantiles the latency dashboard plots and the span
// latency alerts compare, and the mean span latency the mean alert compares.
func RecordingRules(cfg Config) RuleFile {
	spanBy := cfg.ClusterLabel + ", " + SpanServiceLabel + ", " + SpanOperationLabel
	httpBy := cfg.ClusterLabel + ", " + HTTPServiceLabel + ", " + HTTPOperationLabel
	var span, http []Rule
	for _, q := range Quantiles {
		span = append(span, Rule{Record: SpanQuantileRecord(cfg, q), Expr: histogramQuantile(q.Q, SpanDuration, spanBy, "", cfg.QuantileWindow)})
		http = append(http, Rule{Record: HTTPQuantileRecord(cfg, q), Expr: histogramQuantile(q.Q, HTTPDuration, httpBy, "", cfg.QuantileWindow)})
	}
	span = append(span, Rule{Record: SpanMeanRecord(cfg), Expr: histogramMean(SpanDuration, spanBy, "", cfg.MeanLatencyWindow)})
	return RuleFile{Groups: []RuleGroup{
		{Name: "sieve-span-latency.rules", Rules: span},
		{Name: "sieve-request-latency.rules", Rules: http},
	}}
}

func seconds(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func by(cfg Config, labels ...string) string {
	return strings.Join(append([]string{cfg.ClusterLabel, "job", "instance"}, labels...), ", ")
}

// AlertingRules are Sieve's alerts: span latency, sampling and pipeline health.
func AlertingRules(cfg Config) RuleFile {
	sel := cfg.SieveSelector
	failed := make([]string, 0, len(Signals))
	for _, s := range Signals {
		failed = append(failed, fmt.Sprintf("(sum by (%s) (rate(%s{%s}[5m])) > 0)", by(cfg, "exporter"), ExporterFailed[s], sel))
	}
	p99 := SpanQuantileRecord(cfg, Quantile{Q: 0.99, Name: "p99"})
	latency := RuleGroup{Name: "sieve-latency", Rules: []Rule{
		{
			Alert:  MeanLatencyAlert,
			Expr:   aboveThreshold(SpanMeanRecord(cfg), MeanThresholdRecord, cfg.MeanLatency.Threshold),
			For:    cfg.MeanLatency.For,
			Labels: map[string]string{"severity": "warning"},
			Annotations: map[string]string{
				"summary": "Mean span latency is high.",
				"description": fmt.Sprintf("Mean latency of {{ $labels.%s }} {{ $labels.%s }} over %s is {{ $value | humanizeDuration }}, above its threshold of %s.",
					SpanServiceLabel, SpanOperationLabel, cfg.MeanLatencyWindow, thresholdOf(MeanThresholdRecord, cfg.MeanLatency.Threshold)),
			},
		},
		{
			Alert:  P99LatencyAlert,
			Expr:   aboveThreshold(p99, P99ThresholdRecord, cfg.P99Latency.Threshold),
			For:    cfg.P99Latency.For,
			Labels: map[string]string{"severity": "warning"},
			Annotations: map[string]string{
				"summary": "P99 span latency is high.",
				"description": fmt.Sprintf("P99 latency of {{ $labels.%s }} {{ $labels.%s }} over %s is {{ $value | humanizeDuration }}, above its threshold of %s.",
					SpanServiceLabel, SpanOperationLabel, cfg.QuantileWindow, thresholdOf(P99ThresholdRecord, cfg.P99Latency.Threshold)),
			},
		},
	}}
	sampling := RuleGroup{Name: "sieve-sampling", Rules: []Rule{
		{
			Alert:  "SieveErrorsTierDropping",
			Expr:   fmt.Sprintf("sum by (%s) (increase(%s{%s, tier=%q}[5m])) > 0", by(cfg, "reason"), TierRecordsDropped, sel, cfg.ErrorsTier),
			Labels: map[string]string{"severity": "critical"},
			Annotations: map[string]string{
				"summary":     "Sieve is dropping error log records.",
				"description": fmt.Sprintf("{{ $labels.instance }} dropped {{ $value | humanize }} records of the %s tier in the last 5 minutes (reason {{ $labels.reason }}); that tier must keep everything.", cfg.ErrorsTier),
			},
		},
		{
			Alert: "SieveSamplingPolicyApplyFailed",
			Expr: fmt.Sprintf("(sum by (%s) (increase(%s{%s, result=\"refused\"}[10m])) > 0)\nor\n(sum by (%s) (increase(%s{%s}[10m])) > 0)",
				by(cfg), TierPolicyUpdates, sel, by(cfg), PolicyRefused, sel),
			Labels: map[string]string{"severity": "warning"},
			Annotations: map[string]string{
				"summary":     "A sampling policy version was refused.",
				"description": "{{ $labels.instance }} refused {{ $value | humanize }} sampling policy versions in the last 10 minutes and keeps running the previous one.",
			},
		},
		{
			Alert:  "SieveSheddingActive",
			Expr:   fmt.Sprintf("max by (%s) (%s{%s}) > 0", by(cfg), TierShedLevel, sel),
			For:    "2m",
			Labels: map[string]string{"severity": "warning"},
			Annotations: map[string]string{
				"summary":     "Sieve is shedding log tiers under memory pressure.",
				"description": "{{ $labels.instance }} has shed {{ $value }} log tiers for 2 minutes because of memory pressure.",
			},
		},
		{
			// A full buffer now and then is what the bounds are for; decided early for 10 minutes,
			// the buffer is too small for the traffic and traces are decided on part of their spans.
			Alert: "SieveTailEarlyDecisions",
			Expr: fmt.Sprintf("sum by (%s) (rate(%s{%s, cause=~%q}[5m])) > 0",
				by(cfg, "cause"), TraceEarlyDecisions, sel, strings.Join(TailBufferFullCauses, "|")),
			For:    "10m",
			Labels: map[string]string{"severity": "warning"},
			Annotations: map[string]string{
				"summary":     "The tail sampling buffer is too small for the traffic.",
				"description": "{{ $labels.instance }} has decided {{ $value | humanize }} traces per second before decision_wait for 10 minutes ({{ $labels.cause }} reached): they are decided on the spans that had arrived. Raise tail.max_traces or tail.max_bytes (and the memory limit), or add gateways.",
			},
		},
		{
			// Kept traces and the log records that followed them are released after the sender was
			// answered: a refusal downstream loses them for good.
			Alert: "SieveTailReleaseFailed",
			Expr: fmt.Sprintf("sum by (%[1]s) (\n  label_replace(increase(%[2]s{%[3]s, reason=%[4]q}[5m]), \"signal\", \"spans\", \"\", \"\")\n  or\n  label_replace(increase(%[5]s{%[3]s, reason=%[6]q}[5m]), \"signal\", \"log records\", \"\", \"\")\n) > 0",
				by(cfg, "signal"), TraceSpansDropped, sel, TailExportFailedReason, TierRecordsDropped, TierReleaseFailedReason),
			Labels: map[string]string{"severity": "critical"},
			Annotations: map[string]string{
				"summary":     "Sieve lost data tail sampling had kept.",
				"description": "{{ $labels.instance }} lost {{ $value | humanize }} kept {{ $labels.signal }} in the last 5 minutes: the next consumer refused them after the sender had been answered. Check the exporter's queue (a persistent queue after the sampling processors absorbs refusals).",
			},
		},
	}}
	pipeline := RuleGroup{Name: "sieve-pipeline", Rules: []Rule{
		{
			Alert:  "SieveExportFailures",
			Expr:   strings.Join(failed, "\nor\n"),
			For:    "5m",
			Labels: map[string]string{"severity": "critical"},
			Annotations: map[string]string{
				"summary":     "Sieve fails to export data.",
				"description": "Exporter {{ $labels.exporter }} on {{ $labels.instance }} has failed to send {{ $value | humanize }} items per second for 5 minutes.",
			},
		},
		{
			Alert:  "SieveExporterQueueNearFull",
			Expr:   fmt.Sprintf("max by (%s) (%s{%s}) / max by (%s) (%s{%s}) > %s", by(cfg, "exporter"), QueueSize, sel, by(cfg, "exporter"), QueueCapacity, sel, seconds(cfg.QueueFullRatio)),
			For:    "5m",
			Labels: map[string]string{"severity": "warning"},
			Annotations: map[string]string{
				"summary":     "An exporter queue is nearly full.",
				"description": fmt.Sprintf("The queue of exporter {{ $labels.exporter }} on {{ $labels.instance }} is {{ $value | humanizePercentage }} full (threshold %s); new data will be refused when it is full.", seconds(cfg.QueueFullRatio)),
			},
		},
		{
			Alert:  "SieveLokiThrottled",
			Expr:   fmt.Sprintf("sum by (%s) (rate(%s{%s, reason=%q}[5m])) > 0", by(cfg), LokiRequestsFailed, sel, LokiThrottledReason),
			For:    "5m",
			Labels: map[string]string{"severity": "warning"},
			Annotations: map[string]string{
				"summary":     "Loki is throttling Sieve (HTTP 429).",
				"description": "Loki has answered {{ $value | printf \"%.2f\" }} push requests per second from {{ $labels.instance }} with 429 for 5 minutes; entries wait in the queue and may be delayed.",
			},
		},
	}}
	return RuleFile{Groups: []RuleGroup{latency, sampling, pipeline}}
}
