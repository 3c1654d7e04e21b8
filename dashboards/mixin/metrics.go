package mixin

import "strings"

// Every metric name the dashboards and rules query lives in this file, so that a renamed metric
// is a one-line change. Each entry says where the series comes from: the component whose
// presence in bin/sieve (`bin/sieve components`) makes it appear, and, for Sieve's own
// components, the metadata.yaml key it is generated from. The tests check the names against
// those metadata.yaml files, the upstream collector's metadata.yaml files, and what a running
// bin/sieve really exports.

// Origin tells which declaration a metric name is checked against.
type Origin int

const (
	// OriginSieve: declared in the metadata.yaml of one of Sieve's components (MetadataDir).
	OriginSieve Origin = iota
	// OriginCollector: declared in an upstream collector module's metadata.yaml.
	OriginCollector
	// OriginService: emitted by the instrumented services and written to Prometheus by Sieve.
	OriginService
)

// Component identifies a component as `bin/sieve components` lists it.
type Component struct {
	// Kind is receivers, processors, exporters, connectors or extensions.
	Kind string
	// Type is the component type, e.g. tiered_sampling.
	Type string
	// Sieve requires the component to come from Sieve's own module, for types Sieve also
	// replaces upstream.
	Sieve bool
}

// Core is the collector's own telemetry, present in every build.
var Core = Component{Kind: "service", Type: "core"}

// Metric is one metric family as Prometheus stores it.
type Metric struct {
	// Name is the Prometheus name; histograms are named without _bucket/_sum/_count.
	Name string
	// Histogram marks classic (and native) histogram families.
	Histogram bool
	Origin    Origin
	// Source is the component that produces the series.
	Source Component
	// MetadataDir (OriginSieve) is the component folder relative to the repository root, and
	// MetadataKey the metric's key under `telemetry: metrics:` (or the upstream key for
	// OriginCollector).
	MetadataDir string
	MetadataKey string
}

func (m Metric) String() string { return m.Name }

// Bucket, Sum and Count are the classic histogram series names.
func (m Metric) Bucket() string { return m.Name + "_bucket" }
func (m Metric) Sum() string    { return m.Name + "_sum" }
func (m Metric) Count() string  { return m.Name + "_count" }

// TelemetryName is the name under which Sieve's Prometheus telemetry reader (service::telemetry
// in configs/) exports an internal metric declared as key: collector v0.159 adds the otelcol_
// prefix but neither unit nor _total suffixes.
func TelemetryName(key string) string {
	return "otelcol_" + strings.ReplaceAll(key, ".", "_")
}

func collector(key string) Metric {
	return Metric{Name: TelemetryName(key), Origin: OriginCollector, Source: Core, MetadataKey: key}
}

func sieve(src Component, dir, key string) Metric {
	return Metric{Name: TelemetryName(key), Origin: OriginSieve, Source: src, MetadataDir: dir, MetadataKey: key}
}

var (
	tieredSampling = Component{Kind: "processors", Type: "tiered_sampling", Sieve: true}
	traceSampling  = Component{Kind: "processors", Type: "trace_sampling", Sieve: true}
	samplingPolicy = Component{Kind: "extensions", Type: "sampling_policy", Sieve: true}
	lokiExporter   = Component{Kind: "exporters", Type: "loki", Sieve: true}
	remoteWrite    = Component{Kind: "exporters", Type: "prometheus_remote_write"}
	sieveRW        = Component{Kind: "exporters", Type: "prometheus_remote_write", Sieve: true}
	fineHistogram  = Component{Kind: "connectors", Type: "fine_histogram", Sieve: true}
	goMemoryLimit  = Component{Kind: "extensions", Type: "go_memory_limit", Sieve: true}
	otlpReceiver   = Component{Kind: "receivers", Type: "otlp", Sieve: true}
)

// Collector core telemetry (service, receiverhelper, processorhelper, exporterhelper).
var (
	ReceiverAccepted = map[Signal]Metric{
		SignalLogs:    collector("receiver_accepted_log_records"),
		SignalTraces:  collector("receiver_accepted_spans"),
		SignalMetrics: collector("receiver_accepted_metric_points"),
	}
	ReceiverRefused = map[Signal]Metric{
		SignalLogs:    collector("receiver_refused_log_records"),
		SignalTraces:  collector("receiver_refused_spans"),
		SignalMetrics: collector("receiver_refused_metric_points"),
	}
	ExporterSent = map[Signal]Metric{
		SignalLogs:    collector("exporter_sent_log_records"),
		SignalTraces:  collector("exporter_sent_spans"),
		SignalMetrics: collector("exporter_sent_metric_points"),
	}
	ExporterFailed = map[Signal]Metric{
		SignalLogs:    collector("exporter_send_failed_log_records"),
		SignalTraces:  collector("exporter_send_failed_spans"),
		SignalMetrics: collector("exporter_send_failed_metric_points"),
	}
	ExporterEnqueueFailed = map[Signal]Metric{
		SignalLogs:    collector("exporter_enqueue_failed_log_records"),
		SignalTraces:  collector("exporter_enqueue_failed_spans"),
		SignalMetrics: collector("exporter_enqueue_failed_metric_points"),
	}
	ProcessorIncoming = collector("processor_incoming_items")
	ProcessorOutgoing = collector("processor_outgoing_items")
	QueueSize         = collector("exporter_queue_size")
	QueueCapacity     = collector("exporter_queue_capacity")
	MemoryRSS         = collector("process_memory_rss")
	HeapAlloc         = collector("process_runtime_heap_alloc_bytes")
	CPUSeconds        = collector("process_cpu_seconds")
	Uptime            = collector("process_uptime")
)

// GoMemoryLimit is the soft memory limit set by Sieve's go_memory_limit extension.
var GoMemoryLimit = sieve(goMemoryLimit, "extensions/gomemlimit", "go_memory_limit")

// Tiered log sampling (processors/tieredsampling). Labels: tier, reason, result.
var (
	TierRecordsIn      = sieve(tieredSampling, "processors/tieredsampling", "processor_tiered_sampling_records_in")
	TierRecordsKept    = sieve(tieredSampling, "processors/tieredsampling", "processor_tiered_sampling_records_kept")
	TierRecordsDropped = sieve(tieredSampling, "processors/tieredsampling", "processor_tiered_sampling_records_dropped")
	TierEffectiveRate  = sieve(tieredSampling, "processors/tieredsampling", "processor_tiered_sampling_effective_rate")
	TierPolicyUpdates  = sieve(tieredSampling, "processors/tieredsampling", "processor_tiered_sampling_policy_updates")
	TierShedLevel      = sieve(tieredSampling, "processors/tieredsampling", "processor_tiered_sampling_shed_level")
)

// Log records and spans the otlp receiver dropped on the wire, before decode
// (sample_before_decode). Label signal: logs, traces. The sampler counts them among its drops too.
var SampledBeforeDecode = sieve(otlpReceiver, "receivers/otlp", "receiver_sampled_before_decode")

// Log records of undecided traces held by tiered_sampling (follow_traces) until their trace's tail
// decision. TierHeldRecords and TierHeldBytes are gauges; TierHeldDecisions has label outcome:
// trace_kept, trace_dropped, and the fallbacks on the trace's rate timeout_*, overflow_*,
// shutdown_* (each _kept or _dropped).
var (
	TierHeldRecords   = sieve(tieredSampling, "processors/tieredsampling", "processor_tiered_sampling_held_records")
	TierHeldBytes     = sieve(tieredSampling, "processors/tieredsampling", "processor_tiered_sampling_held_bytes")
	TierHeldDecisions = sieve(tieredSampling, "processors/tieredsampling", "processor_tiered_sampling_held_decisions")
)

// TierReleaseFailedReason is the records_dropped reason of held records the next consumer
// refused once their trace was kept: they were acknowledged to the sender and are lost.
const TierReleaseFailedReason = "release_failed"

// Trace sampling (processors/tracesampling). Label reason: rate, always_rule, never_rule, error,
// and in tail mode slow and export_failed (the rule that decided, or the loss of a kept trace).
var (
	TraceSpansKept    = sieve(traceSampling, "processors/tracesampling", "processor_trace_sampling_spans_kept")
	TraceSpansDropped = sieve(traceSampling, "processors/tracesampling", "processor_trace_sampling_spans_dropped")
)

// Tail mode of trace sampling (tail.enabled). TraceTracesKept and TraceTracesDropped have label
// reason; the Buffered gauges are what one instance holds, bounded there by max_traces and
// max_bytes; TraceEarlyDecisions has label cause (max_traces, max_bytes, max_trace_age,
// shutdown); TraceLateSpans has label decision (kept, dropped).
var (
	TraceTracesKept     = sieve(traceSampling, "processors/tracesampling", "processor_trace_sampling_traces_kept")
	TraceTracesDropped  = sieve(traceSampling, "processors/tracesampling", "processor_trace_sampling_traces_dropped")
	TraceBufferedTraces = sieve(traceSampling, "processors/tracesampling", "processor_trace_sampling_buffered_traces")
	TraceBufferedSpans  = sieve(traceSampling, "processors/tracesampling", "processor_trace_sampling_buffered_spans")
	TraceBufferedBytes  = sieve(traceSampling, "processors/tracesampling", "processor_trace_sampling_buffered_bytes")
	TraceEarlyDecisions = sieve(traceSampling, "processors/tracesampling", "processor_trace_sampling_early_decisions")
	TraceLateSpans      = sieve(traceSampling, "processors/tracesampling", "processor_trace_sampling_late_spans")
)

// TailBufferFullCauses are the early-decision causes that mean the tail buffer is too small for
// the traffic; max_trace_age and shutdown are not about its size.
var TailBufferFullCauses = []string{"max_traces", "max_bytes"}

// TailExportFailedReason is the spans_dropped reason of kept traces the next consumer refused:
// their spans were acknowledged to the sender and are lost.
const TailExportFailedReason = "export_failed"

// The live sampling policy (extensions/samplingpolicy). PolicyActiveHash identifies the version
// in force (a change of value is a policy change); PolicyRefused has label reason;
// PolicyServiceRate is the keep probability (0-1) per service (label service).
var (
	PolicyActiveHash   = sieve(samplingPolicy, "extensions/samplingpolicy", "sampling_policy_active_hash")
	PolicyApplied      = sieve(samplingPolicy, "extensions/samplingpolicy", "sampling_policy_applied")
	PolicyRefused      = sieve(samplingPolicy, "extensions/samplingpolicy", "sampling_policy_refused")
	PolicySourceErrors = sieve(samplingPolicy, "extensions/samplingpolicy", "sampling_policy_source_errors")
	PolicyServiceRate  = sieve(samplingPolicy, "extensions/samplingpolicy", "sampling_policy_effective_rate")
)

// Sieve's Loki exporter (exporters/loki). Label: reason.
var (
	LokiEntriesSent    = sieve(lokiExporter, "exporters/loki", "exporter_loki_entries_sent")
	LokiEntriesDropped = sieve(lokiExporter, "exporters/loki", "exporter_loki_entries_dropped")
	LokiLabelsDemoted  = sieve(lokiExporter, "exporters/loki", "exporter_loki_labels_demoted")
	LokiRequestsFailed = sieve(lokiExporter, "exporters/loki", "exporter_loki_requests_failed")
)

// LokiThrottledReason is the reason value the Loki exporter records for HTTP 429 answers.
const LokiThrottledReason = "throttled"

// Sieve's remote-write exporter (exporters/prometheusremotewrite). Label reason.
var (
	RWSamplesSent    = sieve(sieveRW, "exporters/prometheusremotewrite", "exporter_prometheus_remote_write_samples_sent")
	RWSamplesDropped = sieve(sieveRW, "exporters/prometheusremotewrite", "exporter_prometheus_remote_write_samples_dropped")
	RWRequestsFailed = sieve(sieveRW, "exporters/prometheusremotewrite", "exporter_prometheus_remote_write_requests_failed")
)

// Span duration histograms from the fine_histogram connector (connectors/finehistogram), classic
// (_bucket) or native, written by remote write: the connector's default metric name
// "span.duration" in seconds. MetadataKey is that configured name.
var SpanDuration = Metric{Name: "span_duration_seconds", Histogram: true, Origin: OriginSieve,
	Source: fineHistogram, MetadataDir: "connectors/finehistogram", MetadataKey: "span.duration"}

// The fine_histogram connector's own telemetry. Label metric.
var (
	FineObservations = sieve(fineHistogram, "connectors/finehistogram", "connector_fine_histogram_observations")
	FineOverflowed   = sieve(fineHistogram, "connectors/finehistogram", "connector_fine_histogram_overflowed")
	FineDropped      = sieve(fineHistogram, "connectors/finehistogram", "connector_fine_histogram_dropped")
	FineSeriesActive = sieve(fineHistogram, "connectors/finehistogram", "connector_fine_histogram_series_active")
)

// Labels of SpanDuration.
const (
	SpanServiceLabel   = "service_name"
	SpanOperationLabel = "span_name"
)

// The services' own request metrics, written by the remote-write exporter: job is the service
// name, http_route the operation, http_response_status_code the status.
var (
	HTTPDuration = Metric{Name: "http_server_request_duration_seconds", Histogram: true, Origin: OriginService, Source: remoteWrite}
	HTTPRequests = Metric{Name: "http_server_requests_total", Origin: OriginService, Source: remoteWrite}
)

// Labels of the services' metrics.
const (
	HTTPServiceLabel   = "job"
	HTTPOperationLabel = "http_route"
	HTTPStatusLabel    = "http_response_status_code"
)

// Loki stream labels the logs dashboard filters on (set by the loki exporter in configs/).
const (
	LokiServiceLabel = "service_name"
	LokiLevelLabel   = "level"
)

// Catalog lists every metric above.
func Catalog() []Metric {
	out := []Metric{ProcessorIncoming, ProcessorOutgoing, QueueSize, QueueCapacity, MemoryRSS, HeapAlloc,
		CPUSeconds, Uptime, GoMemoryLimit,
		TierRecordsIn, TierRecordsKept, TierRecordsDropped, TierEffectiveRate, TierPolicyUpdates, TierShedLevel,
		TierHeldRecords, TierHeldBytes, TierHeldDecisions, SampledBeforeDecode,
		TraceSpansKept, TraceSpansDropped,
		TraceTracesKept, TraceTracesDropped, TraceBufferedTraces, TraceBufferedSpans, TraceBufferedBytes,
		TraceEarlyDecisions, TraceLateSpans,
		PolicyActiveHash, PolicyApplied, PolicyRefused, PolicySourceErrors, PolicyServiceRate,
		LokiEntriesSent, LokiEntriesDropped, LokiLabelsDemoted, LokiRequestsFailed,
		RWSamplesSent, RWSamplesDropped, RWRequestsFailed,
		SpanDuration, FineObservations, FineOverflowed, FineDropped, FineSeriesActive,
		HTTPDuration, HTTPRequests}
	for _, m := range []map[Signal]Metric{ReceiverAccepted, ReceiverRefused, ExporterSent, ExporterFailed, ExporterEnqueueFailed} {
		for _, s := range Signals {
			out = append(out, m[s])
		}
	}
	return out
}

// Signal is a telemetry signal.
type Signal string

// Signals in display order.
const (
	SignalLogs    Signal = "logs"
	SignalTraces  Signal = "traces"
	SignalMetrics Signal = "metrics"
)

// Signals lists the signals in display order.
var Signals = []Signal{SignalLogs, SignalTraces, SignalMetrics}

// WrittenSeries is a series Sieve writes to Prometheus continuously: the age of its newest
// sample is the remote-write lag, end to end.
var WrittenSeries = HTTPRequests
