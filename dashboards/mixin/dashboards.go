package mixin

import (
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/units"
)

// Dashboards returns every dashboard keyed by its file name under dashboards/. An error means
// the SDK's builders refused a panel or variable of the generator.
func Dashboards(cfg Config) (map[string]*Dashboard, error) {
	out := map[string]*Dashboard{}
	for name, build := range map[string]func(Config) (*Dashboard, error){
		"sieve-latency.json":  Latency,
		"sieve-sampling.json": Sampling,
		"sieve-pipeline.json": Pipeline,
		"sieve-logs.json":     Logs,
	} {
		d, err := build(cfg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = d
	}
	return out, nil
}

const rate = "$__rate_interval"

// sieveVars are the selectors of Sieve's own telemetry: cluster, job and instance.
func sieveVars(cfg Config) []cog.Builder[dashboard.VariableModel] {
	c := "$" + cfg.ClusterLabel
	return []cog.Builder[dashboard.VariableModel]{
		datasourceVar(VarDatasource, "Prometheus", PrometheusType),
		promVar(cfg.ClusterLabel, "Cluster", cfg.ClusterLabel, Uptime.Name, cfg.SieveSelector),
		promVar("job", "Job", "job", Uptime.Name, fmt.Sprintf(`%s, %s=~"%s"`, cfg.SieveSelector, cfg.ClusterLabel, c)),
		promVar("instance", "Instance", "instance", Uptime.Name, fmt.Sprintf(`%s=~"%s", job=~"$job"`, cfg.ClusterLabel, c)),
	}
}

func sieveSel(cfg Config, extra ...string) string {
	return strings.Join(append([]string{fmt.Sprintf(`%s=~"$%s", job=~"$job", instance=~"$instance"`, cfg.ClusterLabel, cfg.ClusterLabel)}, extra...), ", ")
}

// Latency: per service and operation quantiles from the fine histograms and the services' own
// request histograms, request rate and error ratio.
func Latency(cfg Config) (*Dashboard, error) {
	b := newBoard(cfg, "latency", "Sieve / Service latency",
		"Latency quantiles per service and operation from Sieve's fine span histograms and the services' request histograms (classic or native), request rate and error ratio. Points with exemplars link to their trace through the Prometheus datasource's exemplar settings.")
	c := cfg.ClusterLabel
	b.vars(
		datasourceVar(VarDatasource, "Prometheus", PrometheusType),
		promVar(c, "Cluster", c, HTTPRequests.Name, ""),
		promVar("service", "Service", HTTPServiceLabel, HTTPRequests.Name, fmt.Sprintf(`%s=~"$%s"`, c, c)),
		promVar("route", "Route", HTTPOperationLabel, HTTPRequests.Name, fmt.Sprintf(`%s=~"$%s", %s=~"$service"`, c, c, HTTPServiceLabel)),
		promVar("span_service", "Span service", SpanServiceLabel, SpanDuration.Count(), fmt.Sprintf(`%s=~"$%s"`, c, c)),
		promVar("operation", "Operation", SpanOperationLabel, SpanDuration.Count(), fmt.Sprintf(`%s=~"$%s", %s=~"$span_service"`, c, c, SpanServiceLabel)),
	)
	httpSel := fmt.Sprintf(`%s=~"$%s", %s=~"$service", %s=~"$route"`, c, c, HTTPServiceLabel, HTTPOperationLabel)
	spanSel := fmt.Sprintf(`%s=~"$%s", %s=~"$span_service", %s=~"$operation"`, c, c, SpanServiceLabel, SpanOperationLabel)
	latencyT := thresholds("green", cfg.MeanLatency.Threshold, "orange", cfg.P99Latency.Threshold, "red")

	b.row("Requests (service metrics)")
	b.add(8, 8, timeseriesPanel("Request rate", "Requests per second per service and route.", units.RequestsPerSecond,
		prom(fmt.Sprintf("sum by (%s, %s) (rate(%s{%s}[%s]))", HTTPServiceLabel, HTTPOperationLabel, HTTPRequests, httpSel, rate), "{{"+HTTPServiceLabel+"}} {{"+HTTPOperationLabel+"}}")))
	b.add(8, 8, withThresholds(timeseriesPanel("Error ratio", "Share of requests answered with a 5xx status.", units.PercentUnit,
		prom(fmt.Sprintf(`sum by (%s) (rate(%s{%s, %s=~"5.."}[%s])) / sum by (%s) (rate(%s{%s}[%s]))`,
			HTTPServiceLabel, HTTPRequests, httpSel, HTTPStatusLabel, rate, HTTPServiceLabel, HTTPRequests, httpSel, rate), "{{"+HTTPServiceLabel+"}}")),
		thresholds("green", 0.01, "orange", 0.05, "red")).Min(0))
	b.add(8, 8, withThresholds(timeseriesPanel("Request P99 by service", "P99 request latency per service, all routes.", units.Seconds,
		promExemplar(fmt.Sprintf("histogram_quantile(0.99, sum by (%s) (rate(%s{%s}[%s])))", HTTPServiceLabel, HTTPDuration, httpSel, rate), "{{"+HTTPServiceLabel+"}}")), latencyT))
	for _, q := range Quantiles {
		b.add(6, 8, withThresholds(timeseriesPanel("Request latency "+strings.ToUpper(q.Name[:1])+q.Name[1:],
			fmt.Sprintf("%s request latency per service and route, over %s (recording rule %s).", q.Name, cfg.QuantileWindow, HTTPQuantileRecord(cfg, q)), units.Seconds,
			prom(vec(HTTPQuantileRecord(cfg, q), httpSel), "{{"+HTTPServiceLabel+"}} {{"+HTTPOperationLabel+"}}")), latencyT))
	}

	b.row("Spans (Sieve fine histograms)")
	for _, q := range Quantiles {
		b.add(6, 8, withThresholds(timeseriesPanel("Span latency "+strings.ToUpper(q.Name[:1])+q.Name[1:],
			fmt.Sprintf("%s span latency per service and operation, over %s (recording rule %s).", q.Name, cfg.QuantileWindow, SpanQuantileRecord(cfg, q)), units.Seconds,
			prom(vec(SpanQuantileRecord(cfg, q), spanSel), "{{"+SpanServiceLabel+"}} {{"+SpanOperationLabel+"}}")), latencyT))
	}
	by := SpanServiceLabel + ", " + SpanOperationLabel
	b.add(12, 8, withThresholds(timeseriesPanel("Span P99 with exemplars", "P99 per service and operation at the dashboard's resolution; exemplar points open the trace that produced them.", units.Seconds,
		promExemplar(histogramQuantile(0.99, SpanDuration, by, spanSel, rate), "{{"+SpanServiceLabel+"}} {{"+SpanOperationLabel+"}}")), latencyT))
	b.add(12, 8, timeseriesPanel("Span rate", "Spans per second per service and operation, as counted by the fine histograms.", units.OpsPerSecond,
		prom(fmt.Sprintf("sum by (%s) (rate(%s[%s]))\nor\nsum by (%s) (histogram_count(rate(%s[%s])))", by, vec(SpanDuration.Count(), spanSel), rate, by, vec(SpanDuration.Name, spanSel), rate),
			"{{"+SpanServiceLabel+"}} {{"+SpanOperationLabel+"}}")))
	return b.build()
}

// Sampling: what the tiered log sampler and the trace sampler keep and drop, the rates in force,
// the reconstruction of the original volume from the kept records, the live policy and shedding,
// and what tail sampling holds and decides.
func Sampling(cfg Config) (*Dashboard, error) {
	b := newBoard(cfg, "sampling", "Sieve / Sampling efficacy",
		"Per log tier and per trace rule: records in, kept and dropped, the effective keep rate, the adjusted-count reconstruction (kept divided by the keep rate, compared with what was received), the live policy version and overload shedding. Tail sampling: traces kept and dropped by reason, what the buffers hold, early decisions and late spans, and the log records held for their trace's decision. Records the receiver dropped on the wire, before decode.")
	b.vars(sieveVars(cfg)...)
	b.vars(promVar("tier", "Tier", "tier", TierRecordsIn.Name, sieveSel(cfg)))
	sel := sieveSel(cfg)
	// Marks every policy change on all panels, so that a shift in keep rates lines up with
	// the version that caused it.
	b.d.Annotation(dashboard.NewAnnotationQueryBuilder().
		Name("Policy changes").
		Datasource(promDS).
		Enable(true).
		IconColor("purple").
		Expr(fmt.Sprintf("changes(%s[1m]) > 0", vec(PolicyActiveHash.Name, sel))).
		Step("30s").
		TitleFormat("Sampling policy changed on {{instance}}").
		Type("tags"))
	tierSel := sieveSel(cfg, `tier=~"$tier"`)

	b.row("Live policy and overload")
	b.add(6, 6, tablePanel("Policy version in force", "Hash of the sampling policy each instance runs: instances with different values run different versions.",
		promInstant(fmt.Sprintf("max by (instance) (%s)", vec(PolicyActiveHash.Name, sel)), "{{instance}}")))
	b.add(6, 6, timeseriesPanel("Policy changes", "Policy versions applied (each one is a change of the live policy) and refused by reason; the version in force changes when the hash does.", units.Short,
		prom(fmt.Sprintf("sum(increase(%s[%s]))", vec(PolicyApplied.Name, sel), rate), "applied"),
		prom(fmt.Sprintf("sum by (reason) (increase(%s[%s]))", vec(PolicyRefused.Name, sel), rate), "refused {{reason}}"),
		prom(fmt.Sprintf("sum by (result) (increase(%s[%s]))", vec(TierPolicyUpdates.Name, sel), rate), "log tiers {{result}}"),
		prom(fmt.Sprintf("sum(changes(%s[%s]))", vec(PolicyActiveHash.Name, sel), rate), "hash changes")))
	b.add(6, 6, statPanel("Shed level", "Log tiers currently shed (keep rate forced to 0) because of memory pressure.", units.NoUnit,
		thresholds("green", 1.0, "orange", 2.0, "red"),
		prom(fmt.Sprintf("max(%s)", vec(TierShedLevel.Name, sel)), "")))
	b.add(6, 6, withThresholds(timeseriesPanel("Policy refusals and source errors", "Policy versions refused and failures to fetch or watch the policy source, by reason; the last good policy stays in force.", units.Short,
		prom(fmt.Sprintf("sum by (outcome, reason) (\n  label_replace(increase(%s[%s]), \"outcome\", \"refused\", \"\", \"\")\n  or\n  label_replace(increase(%s[%s]), \"outcome\", \"source error\", \"\", \"\")\n)",
			vec(PolicyRefused.Name, sel), rate, vec(PolicySourceErrors.Name, sel), rate), "{{outcome}} {{reason}}")), thresholds("green", 1.0, "red")))

	b.row("Log tiers")
	b.add(12, 8, timeseriesPanel("Records in, kept and dropped per tier", "Log records per second entering the tiered sampler, kept and dropped, per tier.", units.Short,
		prom(fmt.Sprintf("sum by (tier) (rate(%s[%s]))", vec(TierRecordsIn.Name, tierSel), rate), "{{tier}} in"),
		prom(fmt.Sprintf("sum by (tier) (rate(%s[%s]))", vec(TierRecordsKept.Name, tierSel), rate), "{{tier}} kept"),
		prom(fmt.Sprintf("sum by (tier) (rate(%s[%s]))", vec(TierRecordsDropped.Name, tierSel), rate), "{{tier}} dropped")))
	b.add(12, 8, timeseriesPanel("Dropped by tier and reason", "Why records were dropped: tier_drop, sampled_out, rate_limited, shed, missing_attribute, release_failed (kept after their trace's decision but refused by the next consumer).", units.Short,
		prom(fmt.Sprintf("sum by (tier, reason) (rate(%s[%s]))", vec(TierRecordsDropped.Name, tierSel), rate), "{{tier}} {{reason}}")))
	b.add(8, 8, timeseriesPanel("Effective keep rate per tier", "Keep rate in force per tier, after overload shedding.", units.Percent,
		prom(fmt.Sprintf("max by (tier) (%s)", vec(TierEffectiveRate.Name, tierSel)), "{{tier}}")).Min(0).Max(100))
	b.add(8, 8, timeseriesPanel("Measured keep ratio per tier", "Kept divided by received per tier: compare with the effective rate.", units.PercentUnit,
		prom(fmt.Sprintf("sum by (tier) (rate(%s[%s])) / sum by (tier) (rate(%s[%s]))", vec(TierRecordsKept.Name, tierSel), rate, vec(TierRecordsIn.Name, tierSel), rate), "{{tier}}")).Min(0).Max(1))
	adj := "sum by (tier) (\n  sum by (%[1]s, job, instance, tier) (rate(%[2]s[%[3]s]))\n  / on (%[1]s, job, instance, tier)\n  (max by (%[1]s, job, instance, tier) (%[4]s) > 0) * 100\n)"
	b.add(8, 8, timeseriesPanel("Adjusted-count reconstruction per tier", "Kept records weighted by 1 / keep rate, against the records actually received: the two lines match when the sampling is unbiased.", units.Short,
		prom(fmt.Sprintf(adj, cfg.ClusterLabel, vec(TierRecordsKept.Name, tierSel), rate, vec(TierEffectiveRate.Name, tierSel)), "{{tier}} reconstructed"),
		prom(fmt.Sprintf("sum by (tier) (rate(%s[%s]))", vec(TierRecordsIn.Name, tierSel), rate), "{{tier}} received")))
	b.add(24, 6, timeseriesPanel("Dropped before decode", "Log records and spans per second the otlp receiver dropped on the wire, before decode (sample_before_decode), against the records it accepted: a gateway sampling before decode spends its decoding only on what it keeps. These drops are counted among the sampler's drops above as well.", units.Short,
		prom(fmt.Sprintf("sum by (signal) (rate(%s[%s]))", vec(SampledBeforeDecode.Name, sel), rate), "{{signal}} dropped before decode"),
		prom(fmt.Sprintf("sum(rate(%s[%s]))", vec(ReceiverAccepted[SignalLogs].Name, sel), rate), "log records accepted")))

	b.row("Traces")
	b.add(8, 8, timeseriesPanel("Spans kept and dropped by rule", "Spans per second kept and dropped, by the rule that decided: rate (probabilistic), always_rule, never_rule, error, and in tail mode slow; export_failed are spans of kept traces the next consumer refused (lost).", units.Short,
		prom(fmt.Sprintf("sum by (reason) (rate(%s[%s]))", vec(TraceSpansKept.Name, sel), rate), "kept {{reason}}"),
		prom(fmt.Sprintf("sum by (reason) (rate(%s[%s]))", vec(TraceSpansDropped.Name, sel), rate), "dropped {{reason}}")))
	b.add(8, 8, timeseriesPanel("Measured span keep ratio", "Spans kept over spans seen (kept + dropped).", units.PercentUnit,
		prom(fmt.Sprintf("sum(rate(%[1]s[%[3]s])) / (sum(rate(%[1]s[%[3]s])) + sum(rate(%[2]s[%[3]s])))", vec(TraceSpansKept.Name, sel), vec(TraceSpansDropped.Name, sel), rate), "kept")).Min(0).Max(1))
	b.add(8, 8, timeseriesPanel("Effective trace rate per service", "Keep probability per service served by the live policy after adaptive rules.", units.PercentUnit,
		prom(fmt.Sprintf("max by (service) (%s)", vec(PolicyServiceRate.Name, sel)), "{{service}}")).Min(0).Max(1))

	b.row("Tail sampling")
	// Counters are summed across the gateways of a pool: each gateway decides its own share of the
	// traces. Buffer gauges stay per instance, since max_traces, max_bytes and max_records bound
	// each gateway on its own.
	perInstance := func(m Metric) string { return fmt.Sprintf("sum by (instance) (%s)", vec(m.Name, sel)) }
	// Bytes per held item from the averages over the interval, so that the size is still there
	// when a buffer empties between bursts (and no division by an empty buffer).
	perItem := func(bytes, items Metric) string {
		return fmt.Sprintf("sum by (instance) (avg_over_time(%s[%s]))\n/\n(sum by (instance) (avg_over_time(%s[%s])) > 0)",
			vec(bytes.Name, sel), rate, vec(items.Name, sel), rate)
	}
	// Early decisions and late spans are rare when the buffer and decision_wait suit the traffic:
	// all the traces or spans decided are drawn with them for scale, so the panel is never empty
	// while tail sampling runs. Kept and dropped are tagged apart so that the union keeps both.
	against := func(label, part string, kept, dropped Metric) string {
		return fmt.Sprintf("sum by (%[1]s) (\n  %[2]s\n  or\n  label_replace(rate(%[3]s[%[5]s]), \"%[1]s\", \"all kept\", \"\", \"\")\n  or\n  label_replace(rate(%[4]s[%[5]s]), \"%[1]s\", \"all dropped\", \"\", \"\")\n)",
			label, part, vec(kept.Name, sel), vec(dropped.Name, sel), rate)
	}
	b.add(8, 8, timeseriesPanel("Traces kept by reason", "Traces per second kept whole by tail sampling, by reason: error (an error span or an HTTP 5xx), slow (a span over its latency threshold), always_rule, rate (the consistent rate of the root's service).", units.Short,
		prom(fmt.Sprintf("sum by (reason) (rate(%s[%s]))", vec(TraceTracesKept.Name, sel), rate), "{{reason}}")))
	b.add(8, 8, timeseriesPanel("Traces dropped by reason", "Traces per second dropped whole by tail sampling, by reason: rate (not drawn at the consistent rate of the root's service), never_rule.", units.Short,
		prom(fmt.Sprintf("sum by (reason) (rate(%s[%s]))", vec(TraceTracesDropped.Name, sel), rate), "{{reason}}")))
	b.add(8, 8, timeseriesPanel("Early decisions by cause", "Traces per second decided before decision_wait had passed since their last span, by cause, against all traces decided: max_traces and max_bytes mean the buffer is too small for the traffic (those traces are decided on what had arrived of them), max_trace_age a trace whose spans kept coming, shutdown the buffer emptied on stop.", units.Short,
		prom(against("cause", fmt.Sprintf("rate(%s[%s])", vec(TraceEarlyDecisions.Name, sel), rate), TraceTracesKept, TraceTracesDropped), "{{cause}}")))
	b.add(8, 8, timeseriesPanel("Buffered traces and spans", "Traces and spans each instance holds until their trace is decided; tail.max_traces bounds the traces per instance.", units.Short,
		prom(perInstance(TraceBufferedTraces), "{{instance}} traces"),
		prom(perInstance(TraceBufferedSpans), "{{instance}} spans")))
	b.add(8, 8, onRightAxis(timeseriesPanel("Buffered bytes", "Bytes each instance holds for tail sampling (spans in their OTLP encoding plus a fixed cost per trace), bounded by tail.max_bytes, and the bytes per buffered span (right axis): with the span rate and decision_wait, what max_bytes must allow.", units.BytesIEC,
		prom(perInstance(TraceBufferedBytes), "{{instance}}"),
		prom(perItem(TraceBufferedBytes, TraceBufferedSpans), "{{instance}} per span")), 1))
	b.add(8, 8, timeseriesPanel("Late spans by decision", "Spans per second that arrived after their trace was decided and followed the decision (a kept trace's pass at once, a dropped trace's are dropped), against all spans kept and dropped: many late spans mean decision_wait is shorter than the gaps between a trace's spans.", units.Short,
		prom(against("decision", fmt.Sprintf(`label_replace(label_replace(rate(%s[%s]), "decision", "late kept", "decision", "kept"), "decision", "late dropped", "decision", "dropped")`, vec(TraceLateSpans.Name, sel), rate), TraceSpansKept, TraceSpansDropped), "{{decision}}")))
	b.add(8, 8, timeseriesPanel("Log records held", "Log records each instance holds because their tier dropped them and their trace is not decided yet; follow_traces.max_records bounds them per instance.", units.Short,
		prom(perInstance(TierHeldRecords), "{{instance}}")))
	b.add(8, 8, onRightAxis(timeseriesPanel("Held bytes", "Bytes the held log records take on each instance (in their OTLP encoding plus a fixed cost per trace), bounded by follow_traces.max_bytes, and the bytes per held record (right axis).", units.BytesIEC,
		prom(perInstance(TierHeldBytes), "{{instance}}"),
		prom(perItem(TierHeldBytes, TierHeldRecords), "{{instance}} per record")), 1))
	b.add(8, 8, timeseriesPanel("Held decisions by outcome", "Held log records decided per second, by outcome: trace_kept and trace_dropped followed their trace's tail decision; timeout (no decision within follow_traces.wait), overflow (max_records or max_bytes reached) and shutdown fell back to the consistent rate of their service.", units.Short,
		prom(fmt.Sprintf("sum by (outcome) (rate(%s[%s]))", vec(TierHeldDecisions.Name, sel), rate), "{{outcome}}")))
	return b.build()
}

// Pipeline: every component's throughput and failures, queues, Loki and remote write, resources.
func Pipeline(cfg Config) (*Dashboard, error) {
	b := newBoard(cfg, "pipeline", "Sieve / Pipeline health",
		"Per component: accepted, refused, sent and failed items by reason, exporter queues, Loki demotions and throttling, remote-write lag and failures, fine histogram health, memory against the limit, and CPU.")
	b.vars(sieveVars(cfg)...)
	sel := sieveSel(cfg)
	// One query per panel across the three signals: label_replace tags each signal's series so
	// that the union keeps them apart, and a signal that never failed simply has no series.
	union := func(by string, parts ...string) string {
		return fmt.Sprintf("sum by (%s) (\n  %s\n)", by, strings.Join(parts, "\n  or\n  "))
	}
	tagged := func(m Metric, label, value string) string {
		return fmt.Sprintf(`label_replace(rate(%s[%s]), "%s", "%s", "", "")`, vec(m.Name, sel), rate, label, value)
	}
	perSignal := func(m map[Signal]Metric, by string) string {
		var parts []string
		for _, s := range Signals {
			parts = append(parts, tagged(m[s], "signal", string(s)))
		}
		return union(by+", signal", parts...)
	}
	b.row("Receivers")
	b.add(12, 8, timeseriesPanel("Accepted", "Items per second accepted by each receiver.", units.Short,
		prom(perSignal(ReceiverAccepted, "receiver"), "{{receiver}} {{signal}}")))
	var refused []string
	for _, s := range Signals {
		refused = append(refused, fmt.Sprintf(`label_replace(%s, "stage", "receiver refused", "", "")`, tagged(ReceiverRefused[s], "signal", string(s))),
			fmt.Sprintf(`label_replace(%s, "stage", "exporter queue full", "", "")`, tagged(ExporterEnqueueFailed[s], "signal", string(s))))
	}
	b.add(12, 8, withThresholds(timeseriesPanel("Refused", "Items per second refused by receivers (the senders retry: memory limiter or back-pressure) and by exporters whose queue was full (lost).", units.Short,
		prom(union("receiver, exporter, signal, stage", refused...), "{{receiver}}{{exporter}} {{signal}} {{stage}}")),
		thresholds("green", 1.0, "red")))
	b.row("Processors")
	b.add(24, 8, timeseriesPanel("Processor items in and out", "Items per second entering and leaving each processor; the gap is what it dropped or aggregated.", units.Short,
		prom(fmt.Sprintf("sum by (processor, otel_signal) (rate(%s[%s]))", vec(ProcessorIncoming.Name, sel), rate), "{{processor}} {{otel_signal}} in"),
		prom(fmt.Sprintf("sum by (processor, otel_signal) (rate(%s[%s]))", vec(ProcessorOutgoing.Name, sel), rate), "{{processor}} {{otel_signal}} out")))
	b.row("Exporters")
	b.add(12, 8, timeseriesPanel("Sent", "Items per second delivered by each exporter.", units.Short,
		prom(perSignal(ExporterSent, "exporter"), "{{exporter}} {{signal}}")))
	b.add(12, 8, withThresholds(timeseriesPanel("Failed attempts by reason", "Items per second whose sending failed for good (a permanent error, or retries given up), by exporter and error type. Items still being retried are not counted here: watch the queue size.", units.Short,
		prom(perSignal(ExporterFailed, "exporter, error_type"), "{{exporter}} {{signal}} {{error_type}}")), thresholds("green", 1.0, "red")))
	b.add(12, 8, timeseriesPanel("Queue size and capacity", "Batches waiting in each exporter's sending queue, and the queue's capacity.", units.Short,
		prom(fmt.Sprintf("max by (exporter) (%s)", vec(QueueSize.Name, sel)), "{{exporter}} size"),
		prom(fmt.Sprintf("max by (exporter) (%s)", vec(QueueCapacity.Name, sel)), "{{exporter}} capacity")))
	b.add(12, 8, withThresholds(timeseriesPanel("Queue fill ratio", "Queue size over capacity; new data is refused at 100%.", units.PercentUnit,
		prom(fmt.Sprintf("max by (exporter) (%s) / max by (exporter) (%s)", vec(QueueSize.Name, sel), vec(QueueCapacity.Name, sel)), "{{exporter}}")),
		thresholds("green", cfg.QueueFullRatio, "red")).Min(0).Max(1))
	b.row("Loki and remote write")
	b.add(8, 8, timeseriesPanel("Loki entries sent", "Log entries per second accepted by Loki.", units.Short,
		prom(fmt.Sprintf("sum(rate(%s[%s]))", vec(LokiEntriesSent.Name, sel), rate), "sent")))
	b.add(16, 8, withThresholds(timeseriesPanel("Loki demotions, failed pushes and dropped entries",
		"Label values demoted to structured metadata by the cardinality guard, failed push requests (reason throttled: Loki's 429) and entries not delivered, by reason.", units.Short,
		prom(union("outcome, reason",
			fmt.Sprintf(`label_replace(rate(%s[%s]), "outcome", "label demoted", "", "")`, vec(LokiLabelsDemoted.Name, sel), rate),
			fmt.Sprintf(`label_replace(rate(%s[%s]), "outcome", "push failed", "", "")`, vec(LokiRequestsFailed.Name, sel), rate),
			fmt.Sprintf(`label_replace(rate(%s[%s]), "outcome", "entry dropped", "", "")`, vec(LokiEntriesDropped.Name, sel), rate),
		), "{{outcome}} {{reason}}")), thresholds("green", 0.01, "red")))
	b.add(8, 8, withThresholds(timeseriesPanel("Remote-write lag", "Age of the newest sample Prometheus holds of a series Sieve writes continuously, per source job: how far behind remote write is.", units.Seconds,
		prom(fmt.Sprintf("time() - max by (job) (timestamp(%s))", vec(WrittenSeries.Name, cfg.ClusterLabel+`=~"$`+cfg.ClusterLabel+`"`)), "{{job}}")),
		thresholds("green", 30.0, "orange", 120.0, "red")))
	b.add(8, 8, timeseriesPanel("Remote-write points sent", "Metric points per second delivered to Prometheus by each exporter, and samples Sieve's remote-write exporter had accepted.", units.Short,
		prom(fmt.Sprintf("sum by (exporter) (rate(%s[%s]))", vec(ExporterSent[SignalMetrics].Name, sel), rate), "{{exporter}}"),
		prom(fmt.Sprintf("sum(rate(%s[%s]))", vec(RWSamplesSent.Name, sel), rate), "samples accepted")))
	b.add(8, 8, withThresholds(timeseriesPanel("Remote-write failures", "Failed remote-write requests and dropped samples, by reason (throttled are 429s).", units.Short,
		prom(fmt.Sprintf("sum by (reason) (rate(%s[%s]))", vec(RWRequestsFailed.Name, sel), rate), "failed {{reason}}"),
		prom(fmt.Sprintf("sum by (reason) (rate(%s[%s]))", vec(RWSamplesDropped.Name, sel), rate), "dropped {{reason}}")), thresholds("green", 0.01, "red")))
	b.row("Fine histograms")
	b.add(12, 8, timeseriesPanel("Histogram observations", "Observations per second recorded by the fine_histogram connector per metric, those routed to the overflow series at the cardinality limit, and those not aggregated, by reason.", units.Short,
		prom(union("metric, outcome, reason",
			fmt.Sprintf(`label_replace(rate(%s[%s]), "outcome", "recorded", "", "")`, vec(FineObservations.Name, sel), rate),
			fmt.Sprintf(`label_replace(rate(%s[%s]), "outcome", "overflowed", "", "")`, vec(FineOverflowed.Name, sel), rate),
			fmt.Sprintf(`label_replace(rate(%s[%s]), "outcome", "dropped", "", "")`, vec(FineDropped.Name, sel), rate),
		), "{{metric}} {{outcome}} {{reason}}")))
	b.add(12, 8, timeseriesPanel("Histogram series in memory", "Series the fine_histogram connector holds, overflow series included.", units.Short,
		prom(fmt.Sprintf("sum by (instance) (%s)", vec(FineSeriesActive.Name, sel)), "{{instance}}")))
	b.row("Resources")
	b.add(12, 8, timeseriesPanel("Memory against the limit", "Resident memory and Go heap of each instance, against the Go memory limit set by the go_memory_limit extension.", units.BytesIEC,
		prom(fmt.Sprintf("max by (instance) (%s)", vec(MemoryRSS.Name, sel)), "{{instance}} RSS"),
		prom(fmt.Sprintf("max by (instance) (%s)", vec(HeapAlloc.Name, sel)), "{{instance}} heap"),
		prom(fmt.Sprintf("max by (instance) (%s)", vec(GoMemoryLimit.Name, sel)), "{{instance}} limit")))
	b.add(12, 8, timeseriesPanel("CPU", "CPU cores used by each instance.", units.Short,
		prom(fmt.Sprintf("sum by (instance) (rate(%s[%s]))", vec(CPUSeconds.Name, sel), rate), "{{instance}}")))
	return b.build()
}

// Logs: log volume from Loki per service and level, kept volume per tier, and the logs.
func Logs(cfg Config) (*Dashboard, error) {
	b := newBoard(cfg, "logs", "Sieve / Logs",
		"Log volume in Loki per service and level, the volume each sampling tier keeps, and the log lines filtered by level.")
	b.vars(sieveVars(cfg)...)
	b.vars(
		datasourceVar(VarLokiDatasource, "Loki", LokiType),
		lokiLabelVar("service", "Service", LokiServiceLabel),
		lokiLabelVar("level", "Level", LokiLevelLabel),
	)
	stream := fmt.Sprintf(`{%s=~"$service", %s=~"$level"}`, LokiServiceLabel, LokiLevelLabel)
	b.row("Volume")
	b.add(12, 8, timeseriesPanel("Log volume per service", "Log lines per second stored in Loki, per service.", units.Short,
		lokiQuery(fmt.Sprintf("sum by (%s) (rate(%s [$__interval]))", LokiServiceLabel, stream), "{{"+LokiServiceLabel+"}}")))
	b.add(12, 8, timeseriesPanel("Log volume per level", "Log lines per second stored in Loki, per level.", units.Short,
		lokiQuery(fmt.Sprintf("sum by (%s) (rate(%s [$__interval]))", LokiLevelLabel, stream), "{{"+LokiLevelLabel+"}}")))
	b.add(24, 8, timeseriesPanel("Log volume per tier", "Log records per second each sampling tier received and kept for Loki.", units.Short,
		prom(fmt.Sprintf("sum by (tier) (rate(%s[%s]))", vec(TierRecordsIn.Name, sieveSel(cfg)), rate), "{{tier}} received"),
		prom(fmt.Sprintf("sum by (tier) (rate(%s[%s]))", vec(TierRecordsKept.Name, sieveSel(cfg)), rate), "{{tier}} kept")))
	b.row("Logs")
	b.add(24, 14, logsPanel("Logs", "Log lines of the selected services and levels.", lokiQuery(stream, "")))
	return b.build()
}
