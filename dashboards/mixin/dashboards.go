package mixin

import (
	"fmt"
	"strings"
)

// Dashboards returns every dashboard keyed by its file name under dashboards/.
func Dashboards(cfg Config) map[string]*Dashboard {
	return map[string]*Dashboard{
		"sieve-latency.json":  Latency(cfg),
		"sieve-sampling.json": Sampling(cfg),
		"sieve-pipeline.json": Pipeline(cfg),
		"sieve-logs.json":     Logs(cfg),
	}
}

const rate = "$__rate_interval"

// sieveVars are the selectors of Sieve's own telemetry: cluster, job and instance.
func sieveVars(cfg Config) []*Variable {
	c := "$" + cfg.ClusterLabel
	return []*Variable{
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
func Latency(cfg Config) *Dashboard {
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
	b.add(8, 8, timeseries("Request rate", "Requests per second per service and route.", "reqps",
		prom(fmt.Sprintf("sum by (%s, %s) (rate(%s{%s}[%s]))", HTTPServiceLabel, HTTPOperationLabel, HTTPRequests, httpSel, rate), "{{"+HTTPServiceLabel+"}} {{"+HTTPOperationLabel+"}}")))
	b.add(8, 8, withMinMax(withThresholds(timeseries("Error ratio", "Share of requests answered with a 5xx status.", "percentunit",
		prom(fmt.Sprintf(`sum by (%s) (rate(%s{%s, %s=~"5.."}[%s])) / sum by (%s) (rate(%s{%s}[%s]))`,
			HTTPServiceLabel, HTTPRequests, httpSel, HTTPStatusLabel, rate, HTTPServiceLabel, HTTPRequests, httpSel, rate), "{{"+HTTPServiceLabel+"}}")),
		thresholds("green", 0.01, "orange", 0.05, "red")), f(0), nil))
	b.add(8, 8, withThresholds(timeseries("Request P99 by service", "P99 request latency per service, all routes.", "s",
		promExemplar(fmt.Sprintf("histogram_quantile(0.99, sum by (%s) (rate(%s{%s}[%s])))", HTTPServiceLabel, HTTPDuration, httpSel, rate), "{{"+HTTPServiceLabel+"}}")), latencyT))
	for _, q := range Quantiles {
		b.add(6, 8, withThresholds(timeseries("Request latency "+strings.ToUpper(q.Name[:1])+q.Name[1:],
			fmt.Sprintf("%s request latency per service and route, over %s (recording rule %s).", q.Name, cfg.QuantileWindow, HTTPQuantileRecord(cfg, q)), "s",
			prom(vec(HTTPQuantileRecord(cfg, q), httpSel), "{{"+HTTPServiceLabel+"}} {{"+HTTPOperationLabel+"}}")), latencyT))
	}

	b.row("Spans (Sieve fine histograms)")
	for _, q := range Quantiles {
		b.add(6, 8, withThresholds(timeseries("Span latency "+strings.ToUpper(q.Name[:1])+q.Name[1:],
			fmt.Sprintf("%s span latency per service and operation, over %s (recording rule %s).", q.Name, cfg.QuantileWindow, SpanQuantileRecord(cfg, q)), "s",
			prom(vec(SpanQuantileRecord(cfg, q), spanSel), "{{"+SpanServiceLabel+"}} {{"+SpanOperationLabel+"}}")), latencyT))
	}
	by := SpanServiceLabel + ", " + SpanOperationLabel
	b.add(12, 8, withThresholds(timeseries("Span P99 with exemplars", "P99 per service and operation at the dashboard's resolution; exemplar points open the trace that produced them.", "s",
		promExemplar(histogramQuantile(0.99, SpanDuration, by, spanSel, rate), "{{"+SpanServiceLabel+"}} {{"+SpanOperationLabel+"}}")), latencyT))
	b.add(12, 8, timeseries("Span rate", "Spans per second per service and operation, as counted by the fine histograms.", "ops",
		prom(fmt.Sprintf("sum by (%s) (rate(%s[%s]))\nor\nsum by (%s) (histogram_count(rate(%s[%s])))", by, vec(SpanDuration.Count(), spanSel), rate, by, vec(SpanDuration.Name, spanSel), rate),
			"{{"+SpanServiceLabel+"}} {{"+SpanOperationLabel+"}}")))
	return b.d
}

// Sampling: what the tiered log sampler and the trace sampler keep and drop, the rates in force,
// the reconstruction of the original volume from the kept records, the live policy and shedding,
// and what tail sampling holds and decides.
func Sampling(cfg Config) *Dashboard {
	b := newBoard(cfg, "sampling", "Sieve / Sampling efficacy",
		"Per log tier and per trace rule: records in, kept and dropped, the effective keep rate, the adjusted-count reconstruction (kept divided by the keep rate, compared with what was received), the live policy version and overload shedding. Tail sampling: traces kept and dropped by reason, what the buffers hold, early decisions and late spans, and the log records held for their trace's decision.")
	b.vars(sieveVars(cfg)...)
	b.vars(promVar("tier", "Tier", "tier", TierRecordsIn.Name, sieveSel(cfg)))
	sel := sieveSel(cfg)
	// Marks every policy change on all panels, so that a shift in keep rates lines up with
	// the version that caused it.
	b.d.Annotations.List = append(b.d.Annotations.List, Annotation{
		Datasource: promDS, Enable: true, IconColor: "purple", Name: "Policy changes",
		Expr:        fmt.Sprintf("changes(%s[1m]) > 0", vec(PolicyActiveHash.Name, sel)),
		Step:        "30s",
		TitleFormat: "Sampling policy changed on {{instance}}",
		Type:        "tags",
	})
	tierSel := sieveSel(cfg, `tier=~"$tier"`)

	b.row("Live policy and overload")
	b.add(6, 6, table("Policy version in force", "Hash of the sampling policy each instance runs: instances with different values run different versions.",
		promInstant(fmt.Sprintf("max by (instance) (%s)", vec(PolicyActiveHash.Name, sel)), "{{instance}}")))
	b.add(6, 6, timeseries("Policy changes", "Policy versions applied (each one is a change of the live policy) and refused by reason; the version in force changes when the hash does.", "short",
		prom(fmt.Sprintf("sum(increase(%s[%s]))", vec(PolicyApplied.Name, sel), rate), "applied"),
		prom(fmt.Sprintf("sum by (reason) (increase(%s[%s]))", vec(PolicyRefused.Name, sel), rate), "refused {{reason}}"),
		prom(fmt.Sprintf("sum by (result) (increase(%s[%s]))", vec(TierPolicyUpdates.Name, sel), rate), "log tiers {{result}}"),
		prom(fmt.Sprintf("sum(changes(%s[%s]))", vec(PolicyActiveHash.Name, sel), rate), "hash changes")))
	b.add(6, 6, stat("Shed level", "Log tiers currently shed (keep rate forced to 0) because of memory pressure.", "none",
		thresholds("green", 1.0, "orange", 2.0, "red"),
		prom(fmt.Sprintf("max(%s)", vec(TierShedLevel.Name, sel)), "")))
	b.add(6, 6, withThresholds(timeseries("Policy refusals and source errors", "Policy versions refused and failures to fetch or watch the policy source, by reason; the last good policy stays in force.", "short",
		prom(fmt.Sprintf("sum by (outcome, reason) (\n  label_replace(increase(%s[%s]), \"outcome\", \"refused\", \"\", \"\")\n  or\n  label_replace(increase(%s[%s]), \"outcome\", \"source error\", \"\", \"\")\n)",
			vec(PolicyRefused.Name, sel), rate, vec(PolicySourceErrors.Name, sel), rate), "{{outcome}} {{reason}}")), thresholds("green", 1.0, "red")))

	b.row("Log tiers")
	b.add(12, 8, timeseries("Records in, kept and dropped per tier", "Log records per second entering the tiered sampler, kept and dropped, per tier.", "short",
		prom(fmt.Sprintf("sum by (tier) (rate(%s[%s]))", vec(TierRecordsIn.Name, tierSel), rate), "{{tier}} in"),
		prom(fmt.Sprintf("sum by (tier) (rate(%s[%s]))", vec(TierRecordsKept.Name, tierSel), rate), "{{tier}} kept"),
		prom(fmt.Sprintf("sum by (tier) (rate(%s[%s]))", vec(TierRecordsDropped.Name, tierSel), rate), "{{tier}} dropped")))
	b.add(12, 8, timeseries("Dropped by tier and reason", "Why records were dropped: tier_drop, sampled_out, rate_limited, shed, missing_attribute, release_failed (kept after their trace's decision but refused by the next consumer).", "short",
		prom(fmt.Sprintf("sum by (tier, reason) (rate(%s[%s]))", vec(TierRecordsDropped.Name, tierSel), rate), "{{tier}} {{reason}}")))
	b.add(8, 8, withMinMax(timeseries("Effective keep rate per tier", "Keep rate in force per tier, after overload shedding.", "percent",
		prom(fmt.Sprintf("max by (tier) (%s)", vec(TierEffectiveRate.Name, tierSel)), "{{tier}}")), f(0), f(100)))
	b.add(8, 8, withMinMax(timeseries("Measured keep ratio per tier", "Kept divided by received per tier: compare with the effective rate.", "percentunit",
		prom(fmt.Sprintf("sum by (tier) (rate(%s[%s])) / sum by (tier) (rate(%s[%s]))", vec(TierRecordsKept.Name, tierSel), rate, vec(TierRecordsIn.Name, tierSel), rate), "{{tier}}")), f(0), f(1)))
	adj := "sum by (tier) (\n  sum by (%[1]s, job, instance, tier) (rate(%[2]s[%[3]s]))\n  / on (%[1]s, job, instance, tier)\n  (max by (%[1]s, job, instance, tier) (%[4]s) > 0) * 100\n)"
	b.add(8, 8, timeseries("Adjusted-count reconstruction per tier", "Kept records weighted by 1 / keep rate, against the records actually received: the two lines match when the sampling is unbiased.", "short",
		prom(fmt.Sprintf(adj, cfg.ClusterLabel, vec(TierRecordsKept.Name, tierSel), rate, vec(TierEffectiveRate.Name, tierSel)), "{{tier}} reconstructed"),
		prom(fmt.Sprintf("sum by (tier) (rate(%s[%s]))", vec(TierRecordsIn.Name, tierSel), rate), "{{tier}} received")))

	b.row("Traces")
	b.add(8, 8, timeseries("Spans kept and dropped by rule", "Spans per second kept and dropped, by the rule that decided: rate (probabilistic), always_rule, never_rule, error, and in tail mode slow; export_failed are spans of kept traces the next consumer refused (lost).", "short",
		prom(fmt.Sprintf("sum by (reason) (rate(%s[%s]))", vec(TraceSpansKept.Name, sel), rate), "kept {{reason}}"),
		prom(fmt.Sprintf("sum by (reason) (rate(%s[%s]))", vec(TraceSpansDropped.Name, sel), rate), "dropped {{reason}}")))
	b.add(8, 8, withMinMax(timeseries("Measured span keep ratio", "Spans kept over spans seen (kept + dropped).", "percentunit",
		prom(fmt.Sprintf("sum(rate(%[1]s[%[3]s])) / (sum(rate(%[1]s[%[3]s])) + sum(rate(%[2]s[%[3]s])))", vec(TraceSpansKept.Name, sel), vec(TraceSpansDropped.Name, sel), rate), "kept")), f(0), f(1)))
	b.add(8, 8, withMinMax(timeseries("Effective trace rate per service", "Keep probability per service served by the live policy after adaptive rules.", "percentunit",
		prom(fmt.Sprintf("max by (service) (%s)", vec(PolicyServiceRate.Name, sel)), "{{service}}")), f(0), f(1)))

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
	b.add(8, 8, timeseries("Traces kept by reason", "Traces per second kept whole by tail sampling, by reason: error (an error span or an HTTP 5xx), slow (a span over its latency threshold), always_rule, rate (the consistent rate of the root's service).", "short",
		prom(fmt.Sprintf("sum by (reason) (rate(%s[%s]))", vec(TraceTracesKept.Name, sel), rate), "{{reason}}")))
	b.add(8, 8, timeseries("Traces dropped by reason", "Traces per second dropped whole by tail sampling, by reason: rate (not drawn at the consistent rate of the root's service), never_rule.", "short",
		prom(fmt.Sprintf("sum by (reason) (rate(%s[%s]))", vec(TraceTracesDropped.Name, sel), rate), "{{reason}}")))
	b.add(8, 8, timeseries("Early decisions by cause", "Traces per second decided before decision_wait had passed since their last span, by cause, against all traces decided: max_traces and max_bytes mean the buffer is too small for the traffic (those traces are decided on what had arrived of them), max_trace_age a trace whose spans kept coming, shutdown the buffer emptied on stop.", "short",
		prom(against("cause", fmt.Sprintf("rate(%s[%s])", vec(TraceEarlyDecisions.Name, sel), rate), TraceTracesKept, TraceTracesDropped), "{{cause}}")))
	b.add(8, 8, timeseries("Buffered traces and spans", "Traces and spans each instance holds until their trace is decided; tail.max_traces bounds the traces per instance.", "short",
		prom(perInstance(TraceBufferedTraces), "{{instance}} traces"),
		prom(perInstance(TraceBufferedSpans), "{{instance}} spans")))
	b.add(8, 8, onRightAxis(timeseries("Buffered bytes", "Bytes each instance holds for tail sampling (spans in their OTLP encoding plus a fixed cost per trace), bounded by tail.max_bytes, and the bytes per buffered span (right axis): with the span rate and decision_wait, what max_bytes must allow.", "bytes",
		prom(perInstance(TraceBufferedBytes), "{{instance}}"),
		prom(perItem(TraceBufferedBytes, TraceBufferedSpans), "{{instance}} per span")), 1))
	b.add(8, 8, timeseries("Late spans by decision", "Spans per second that arrived after their trace was decided and followed the decision (a kept trace's pass at once, a dropped trace's are dropped), against all spans kept and dropped: many late spans mean decision_wait is shorter than the gaps between a trace's spans.", "short",
		prom(against("decision", fmt.Sprintf(`label_replace(label_replace(rate(%s[%s]), "decision", "late kept", "decision", "kept"), "decision", "late dropped", "decision", "dropped")`, vec(TraceLateSpans.Name, sel), rate), TraceSpansKept, TraceSpansDropped), "{{decision}}")))
	b.add(8, 8, timeseries("Log records held", "Log records each instance holds because their tier dropped them and their trace is not decided yet; follow_traces.max_records bounds them per instance.", "short",
		prom(perInstance(TierHeldRecords), "{{instance}}")))
	b.add(8, 8, onRightAxis(timeseries("Held bytes", "Bytes the held log records take on each instance (in their OTLP encoding plus a fixed cost per trace), bounded by follow_traces.max_bytes, and the bytes per held record (right axis).", "bytes",
		prom(perInstance(TierHeldBytes), "{{instance}}"),
		prom(perItem(TierHeldBytes, TierHeldRecords), "{{instance}} per record")), 1))
	b.add(8, 8, timeseries("Held decisions by outcome", "Held log records decided per second, by outcome: trace_kept and trace_dropped followed their trace's tail decision; timeout (no decision within follow_traces.wait), overflow (max_records or max_bytes reached) and shutdown fell back to the consistent rate of their service.", "short",
		prom(fmt.Sprintf("sum by (outcome) (rate(%s[%s]))", vec(TierHeldDecisions.Name, sel), rate), "{{outcome}}")))
	return b.d
}

// Pipeline: every component's throughput and failures, queues, Loki and remote write, resources.
func Pipeline(cfg Config) *Dashboard {
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
	b.add(12, 8, timeseries("Accepted", "Items per second accepted by each receiver.", "short",
		prom(perSignal(ReceiverAccepted, "receiver"), "{{receiver}} {{signal}}")))
	var refused []string
	for _, s := range Signals {
		refused = append(refused, fmt.Sprintf(`label_replace(%s, "stage", "receiver refused", "", "")`, tagged(ReceiverRefused[s], "signal", string(s))),
			fmt.Sprintf(`label_replace(%s, "stage", "exporter queue full", "", "")`, tagged(ExporterEnqueueFailed[s], "signal", string(s))))
	}
	b.add(12, 8, withThresholds(timeseries("Refused", "Items per second refused by receivers (the senders retry: memory limiter or back-pressure) and by exporters whose queue was full (lost).", "short",
		prom(union("receiver, exporter, signal, stage", refused...), "{{receiver}}{{exporter}} {{signal}} {{stage}}")),
		thresholds("green", 1.0, "red")))
	b.row("Processors")
	b.add(24, 8, timeseries("Processor items in and out", "Items per second entering and leaving each processor; the gap is what it dropped or aggregated.", "short",
		prom(fmt.Sprintf("sum by (processor, otel_signal) (rate(%s[%s]))", vec(ProcessorIncoming.Name, sel), rate), "{{processor}} {{otel_signal}} in"),
		prom(fmt.Sprintf("sum by (processor, otel_signal) (rate(%s[%s]))", vec(ProcessorOutgoing.Name, sel), rate), "{{processor}} {{otel_signal}} out")))
	b.row("Exporters")
	b.add(12, 8, timeseries("Sent", "Items per second delivered by each exporter.", "short",
		prom(perSignal(ExporterSent, "exporter"), "{{exporter}} {{signal}}")))
	b.add(12, 8, withThresholds(timeseries("Failed attempts by reason", "Items per second whose sending failed for good (a permanent error, or retries given up), by exporter and error type. Items still being retried are not counted here: watch the queue size.", "short",
		prom(perSignal(ExporterFailed, "exporter, error_type"), "{{exporter}} {{signal}} {{error_type}}")), thresholds("green", 1.0, "red")))
	b.add(12, 8, timeseries("Queue size and capacity", "Batches waiting in each exporter's sending queue, and the queue's capacity.", "short",
		prom(fmt.Sprintf("max by (exporter) (%s)", vec(QueueSize.Name, sel)), "{{exporter}} size"),
		prom(fmt.Sprintf("max by (exporter) (%s)", vec(QueueCapacity.Name, sel)), "{{exporter}} capacity")))
	b.add(12, 8, withMinMax(withThresholds(timeseries("Queue fill ratio", "Queue size over capacity; new data is refused at 100%.", "percentunit",
		prom(fmt.Sprintf("max by (exporter) (%s) / max by (exporter) (%s)", vec(QueueSize.Name, sel), vec(QueueCapacity.Name, sel)), "{{exporter}}")),
		thresholds("green", cfg.QueueFullRatio, "red")), f(0), f(1)))
	b.row("Loki and remote write")
	b.add(8, 8, timeseries("Loki entries sent", "Log entries per second accepted by Loki.", "short",
		prom(fmt.Sprintf("sum(rate(%s[%s]))", vec(LokiEntriesSent.Name, sel), rate), "sent")))
	b.add(16, 8, withThresholds(timeseries("Loki demotions, failed pushes and dropped entries",
		"Label values demoted to structured metadata by the cardinality guard, failed push requests (reason throttled: Loki's 429) and entries not delivered, by reason.", "short",
		prom(union("outcome, reason",
			fmt.Sprintf(`label_replace(rate(%s[%s]), "outcome", "label demoted", "", "")`, vec(LokiLabelsDemoted.Name, sel), rate),
			fmt.Sprintf(`label_replace(rate(%s[%s]), "outcome", "push failed", "", "")`, vec(LokiRequestsFailed.Name, sel), rate),
			fmt.Sprintf(`label_replace(rate(%s[%s]), "outcome", "entry dropped", "", "")`, vec(LokiEntriesDropped.Name, sel), rate),
		), "{{outcome}} {{reason}}")), thresholds("green", 0.01, "red")))
	b.add(8, 8, withThresholds(timeseries("Remote-write lag", "Age of the newest sample Prometheus holds of a series Sieve writes continuously, per source job: how far behind remote write is.", "s",
		prom(fmt.Sprintf("time() - max by (job) (timestamp(%s))", vec(WrittenSeries.Name, cfg.ClusterLabel+`=~"$`+cfg.ClusterLabel+`"`)), "{{job}}")),
		thresholds("green", 30.0, "orange", 120.0, "red")))
	b.add(8, 8, timeseries("Remote-write points sent", "Metric points per second delivered to Prometheus by each exporter, and samples Sieve's remote-write exporter had accepted.", "short",
		prom(fmt.Sprintf("sum by (exporter) (rate(%s[%s]))", vec(ExporterSent[SignalMetrics].Name, sel), rate), "{{exporter}}"),
		prom(fmt.Sprintf("sum(rate(%s[%s]))", vec(RWSamplesSent.Name, sel), rate), "samples accepted")))
	b.add(8, 8, withThresholds(timeseries("Remote-write failures", "Failed remote-write requests and dropped samples, by reason (throttled are 429s).", "short",
		prom(fmt.Sprintf("sum by (reason) (rate(%s[%s]))", vec(RWRequestsFailed.Name, sel), rate), "failed {{reason}}"),
		prom(fmt.Sprintf("sum by (reason) (rate(%s[%s]))", vec(RWSamplesDropped.Name, sel), rate), "dropped {{reason}}")), thresholds("green", 0.01, "red")))
	b.row("Fine histograms")
	b.add(12, 8, timeseries("Histogram observations", "Observations per second recorded by the fine_histogram connector per metric, those routed to the overflow series at the cardinality limit, and those not aggregated, by reason.", "short",
		prom(union("metric, outcome, reason",
			fmt.Sprintf(`label_replace(rate(%s[%s]), "outcome", "recorded", "", "")`, vec(FineObservations.Name, sel), rate),
			fmt.Sprintf(`label_replace(rate(%s[%s]), "outcome", "overflowed", "", "")`, vec(FineOverflowed.Name, sel), rate),
			fmt.Sprintf(`label_replace(rate(%s[%s]), "outcome", "dropped", "", "")`, vec(FineDropped.Name, sel), rate),
		), "{{metric}} {{outcome}} {{reason}}")))
	b.add(12, 8, timeseries("Histogram series in memory", "Series the fine_histogram connector holds, overflow series included.", "short",
		prom(fmt.Sprintf("sum by (instance) (%s)", vec(FineSeriesActive.Name, sel)), "{{instance}}")))
	b.row("Resources")
	b.add(12, 8, timeseries("Memory against the limit", "Resident memory and Go heap of each instance, against the Go memory limit set by the go_memory_limit extension.", "bytes",
		prom(fmt.Sprintf("max by (instance) (%s)", vec(MemoryRSS.Name, sel)), "{{instance}} RSS"),
		prom(fmt.Sprintf("max by (instance) (%s)", vec(HeapAlloc.Name, sel)), "{{instance}} heap"),
		prom(fmt.Sprintf("max by (instance) (%s)", vec(GoMemoryLimit.Name, sel)), "{{instance}} limit")))
	b.add(12, 8, timeseries("CPU", "CPU cores used by each instance.", "short",
		prom(fmt.Sprintf("sum by (instance) (rate(%s[%s]))", vec(CPUSeconds.Name, sel), rate), "{{instance}}")))
	return b.d
}

// Logs: log volume from Loki per service and level, kept volume per tier, and the logs.
func Logs(cfg Config) *Dashboard {
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
	b.add(12, 8, timeseries("Log volume per service", "Log lines per second stored in Loki, per service.", "short",
		loki(fmt.Sprintf("sum by (%s) (rate(%s [$__interval]))", LokiServiceLabel, stream), "{{"+LokiServiceLabel+"}}")))
	b.add(12, 8, timeseries("Log volume per level", "Log lines per second stored in Loki, per level.", "short",
		loki(fmt.Sprintf("sum by (%s) (rate(%s [$__interval]))", LokiLevelLabel, stream), "{{"+LokiLevelLabel+"}}")))
	b.add(24, 8, timeseries("Log volume per tier", "Log records per second each sampling tier received and kept for Loki.", "short",
		prom(fmt.Sprintf("sum by (tier) (rate(%s[%s]))", vec(TierRecordsIn.Name, sieveSel(cfg)), rate), "{{tier}} received"),
		prom(fmt.Sprintf("sum by (tier) (rate(%s[%s]))", vec(TierRecordsKept.Name, sieveSel(cfg)), rate), "{{tier}} kept")))
	b.row("Logs")
	b.add(24, 14, logsPanel("Logs", "Log lines of the selected services and levels.", loki(stream, "")))
	return b.d
}
