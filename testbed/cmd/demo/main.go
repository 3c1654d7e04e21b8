// Command demo runs Sieve's demo: real Loki, Prometheus and Jaeger, Sieve with the demo pipeline,
// and a small shop of services logging through zap + otelzap and tracing with the OpenTelemetry SDK.
// It prints progress, then what was sent and what each backend holds, and stops everything
// (also on Ctrl-C).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sieveobs/sieve/testbed/backends"
	"github.com/sieveobs/sieve/testbed/demoapp"
	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/sieveproc"
)

func main() {
	var (
		sieveBin = flag.String("sieve", "", "path of bin/sieve (default: $SIEVE_BIN or ../bin/sieve)")
		config   = flag.String("config", harness.RepoPath("configs/demo.yaml"), "Sieve configuration")
		duration = flag.Duration("duration", 45*time.Second, "how long the services send traffic")
		rate     = flag.Float64("rate", 40, "front-door requests per second")
		keep     = flag.Bool("keep", false, "keep Loki, Prometheus, Jaeger and Sieve running after the summary until Ctrl-C")
	)
	flag.Parse()
	if *sieveBin != "" {
		os.Setenv("SIEVE_BIN", *sieveBin)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *config, *duration, *rate, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) {
	fmt.Printf("==> "+format+"\n", args...)
}

func run(ctx context.Context, config string, duration time.Duration, rate float64, keep bool) error {
	step("starting Loki (single binary, filesystem storage, loopback)")
	loki, err := backends.NewLoki(ctx, backends.LokiOptions{})
	if err != nil {
		return err
	}
	defer closeAndSay("Loki", loki.Close)
	fmt.Println("    Loki:", loki.URL)

	// Sieve's own metrics are scraped as job "sieve", as the dashboards expect, on a port chosen
	// now so Prometheus knows it before Sieve starts.
	ports, err := harness.FreePorts(1)
	if err != nil {
		return err
	}
	telemetryAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	step("starting Prometheus (remote-write receiver, native histograms, scraping Sieve's own metrics as job sieve)")
	prom, err := backends.NewPrometheus(ctx, backends.PrometheusOptions{ScrapeTargets: []string{telemetryAddr}, ScrapeInterval: 5 * time.Second})
	if err != nil {
		return err
	}
	defer closeAndSay("Prometheus", prom.Close)
	fmt.Println("    Prometheus:", prom.URL)

	step("starting Jaeger v2 (in-memory storage, OTLP/gRPC in, query API, loopback)")
	jaeger, err := backends.NewJaeger(ctx, backends.JaegerOptions{})
	if err != nil {
		return err
	}
	defer closeAndSay("Jaeger", jaeger.Close)
	fmt.Println("    Jaeger query API:", jaeger.QueryURL, " OTLP/gRPC:", jaeger.OTLPGRPC)

	// The live policy is a copy of configs/policy.yaml that the demo rewrites mid-run.
	policyDir, err := os.MkdirTemp("", "sieve-demo-policy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(policyDir)
	policyPath := filepath.Join(policyDir, "policy.yaml")
	shipped, err := os.ReadFile(harness.RepoPath("configs/policy.yaml"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(policyPath, shipped, 0o600); err != nil {
		return err
	}

	step("starting Sieve with %s", config)
	sieve, err := sieveproc.Start(ctx, sieveproc.Options{
		Config: config,
		Env: map[string]string{
			"SIEVE_LOKI_OTLP_URL":        loki.OTLPURL(),
			"SIEVE_LOKI_PUSH_URL":        loki.PushURL(),
			"SIEVE_PROMETHEUS_RW_URL":    prom.RemoteWriteURL(),
			"SIEVE_TRACES_OTLP_ENDPOINT": jaeger.OTLPGRPC,
			"SIEVE_TELEMETRY_PORT":       fmt.Sprint(ports[0]),
			"SIEVE_POLICY_FILE":          policyPath,
		},
	})
	if err != nil {
		return err
	}
	defer closeAndSay("Sieve", sieve.Stop)
	// Sieve's telemetry listens where Prometheus scrapes it.
	sieve.TelemetryURL = "http://" + telemetryAddr + "/metrics"
	fmt.Println("    OTLP/gRPC:", sieve.OTLPGRPC, " own metrics:", sieve.TelemetryURL)

	step("services frontend, checkout, payment, catalog send logs (zap + otelzap), traces and metrics for %s at %.0f req/s", duration, rate)
	stats := &demoapp.Stats{}
	trafficCtx, cancelTraffic := context.WithTimeout(ctx, duration)
	defer cancelTraffic()
	done := make(chan error, 1)
	go func() {
		done <- demoapp.Run(trafficCtx, demoapp.Config{Endpoint: sieve.OTLPGRPC, Rate: rate, MetricInterval: 5 * time.Second}, stats)
	}()
	started := time.Now()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	change := time.After(duration / 2)
	var runErr error
	var pc *policyChange
wait:
	for {
		select {
		case runErr = <-done:
			break wait
		case <-tick.C:
			fmt.Printf("    %3.0fs  requests %-6d spans %-6d log records %-6d\n",
				time.Since(started).Seconds(), stats.Requests.Load(), stats.Spans.Load(), stats.LogTotal())
		case <-change:
			pc = changePolicy(ctx, policyPath, shipped, sieve, started)
		}
	}
	if ctx.Err() != nil {
		step("interrupted: stopping everything")
		return nil
	}
	if runErr != nil {
		fmt.Println("    some telemetry could not be exported:", runErr)
	}

	step("waiting for Sieve to deliver")
	// Traces are decided decision_wait after their last span, and log records that failed their
	// tier wait for their trace's decision: wait until Sieve holds none of either.
	telemetry := &http.Client{Timeout: 5 * time.Second}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(500 * time.Millisecond) {
		m, err := harness.Scrape(ctx, telemetry, sieve.TelemetryURL)
		if err == nil && m.Sum("otelcol_processor_trace_sampling_buffered_spans")+m.Sum("otelcol_processor_tiered_sampling_held_records") == 0 {
			break
		}
	}
	// Sieve keeps every error record that has a uid: wait until Loki holds all of them.
	wantErrors := int64(0)
	for svc, levels := range stats.Logs() {
		wantErrors += levels["error"] - stats.LogsWithoutUID()[svc]["error"]
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if held := lokiByLevel(ctx, loki, started); sumLevel(held, "error") >= float64(wantErrors) {
			break
		}
		time.Sleep(time.Second)
	}
	if err := summary(ctx, stats, loki, prom, jaeger, sieve.TelemetryURL, started); err != nil {
		return err
	}
	if pc != nil {
		pc.report(ctx, sieve.TelemetryURL, started.Add(duration))
	}
	if keep && ctx.Err() == nil {
		step("the stack keeps running for the example queries: Ctrl-C stops it")
		<-ctx.Done()
	}
	return nil
}

// lokiByLevel counts the records Loki holds per service and level.
func lokiByLevel(ctx context.Context, loki *backends.Loki, since time.Time) map[string]map[string]float64 {
	window := time.Since(since).Round(time.Second) + time.Minute
	res, err := loki.QueryMetric(ctx, "", fmt.Sprintf(`sum by (service_name, level) (count_over_time({service_name=~".+"}[%s]))`, window), time.Now())
	out := map[string]map[string]float64{}
	if err != nil {
		return out
	}
	for _, s := range res {
		svc := s.Metric["service_name"]
		if out[svc] == nil {
			out[svc] = map[string]float64{}
		}
		out[svc][s.Metric["level"]] = s.Value
	}
	return out
}

func sumLevel(m map[string]map[string]float64, level string) float64 {
	var n float64
	for _, l := range m {
		n += l[level]
	}
	return n
}

func summary(ctx context.Context, stats *demoapp.Stats, loki *backends.Loki, prom *backends.Prometheus, jaeger *backends.Jaeger, telemetryURL string, since time.Time) error {
	step("summary: log records sent by the services / kept by Sieve in Loki")
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "    service	error	warn	info	debug	without uid (dropped)")
	logs, noUID := stats.Logs(), stats.LogsWithoutUID()
	held := lokiByLevel(ctx, loki, since)
	var names []string
	for n := range logs {
		names = append(names, n)
	}
	sort.Strings(names)
	var sent, kept float64
	for _, n := range names {
		fmt.Fprintf(w, "    %s", n)
		for _, lvl := range []string{"error", "warn", "info", "debug"} {
			fmt.Fprintf(w, "\t%d / %.0f", logs[n][lvl], held[n][lvl])
			sent += float64(logs[n][lvl])
			kept += held[n][lvl]
		}
		var missing int64
		for _, c := range noUID[n] {
			missing += c
		}
		fmt.Fprintf(w, "\t%d\n", missing)
	}
	w.Flush()
	if sent > 0 {
		fmt.Printf("    %.0f of %.0f records kept (%.1f%%): every error with a uid kept; warn, info and debug sampled\n", kept, sent, 100*kept/sent)
	}
	fmt.Printf("    requests %d, spans %d\n", stats.Requests.Load(), stats.Spans.Load())

	fmt.Println()
	fmt.Println("    Prometheus:")
	queries := []string{
		`sum by (job) (http_server_requests_total)`,
		`histogram_quantile(0.99, sum by (job) (rate(http_server_request_duration_seconds[1m])))`,
		// Sieve's fine_histogram, computed from every span before trace sampling.
		`histogram_quantile(0.99, sum by (job, le) (span_duration_seconds_bucket{span_kind="SPAN_KIND_SERVER"}))`,
	}
	for _, q := range queries {
		res, err := prom.Query(ctx, q, time.Now())
		if err != nil {
			fmt.Printf("      %s: %v\n", q, err)
			continue
		}
		fmt.Printf("      %s\n", q)
		sort.Slice(res, func(i, j int) bool { return res[i].Metric["job"] < res[j].Metric["job"] })
		for _, s := range res {
			fmt.Printf("        %-10s %.4g\n", s.Metric["job"], s.Value)
		}
	}
	if names, err := prom.MetricNames(ctx); err == nil {
		fmt.Printf("      %d metric names held, e.g. %s\n", len(names), strings.Join(first(names, 6), ", "))
	}

	fmt.Println()
	fmt.Println("    Tail sampling at the gateway (Sieve's own metrics): whole traces kept and dropped, by reason")
	tailSummary(ctx, telemetryURL)

	fmt.Println()
	fmt.Println("    Jaeger (the traces trace_sampling kept):")
	example := jaegerSummary(ctx, jaeger, since)
	if example != "" {
		traceLogs(ctx, loki, example, since)
	}

	fmt.Println()
	fmt.Println("    Example queries (run `make demo DEMO_FLAGS=-keep` to keep the stack up for them):")
	fmt.Printf("      curl -G %s/loki/api/v1/query_range --data-urlencode 'query={service_name=\"payment\", level=\"error\"}'\n", loki.URL)
	fmt.Printf("      curl -G %s/api/v1/query --data-urlencode 'query=histogram_quantile(0.99, sum by (job) (rate(http_server_request_duration_seconds[1m])))'\n", prom.URL)
	fmt.Printf("      curl -G %s/api/traces --data-urlencode service=payment --data-urlencode limit=20\n", jaeger.QueryURL)
	if example != "" {
		fmt.Printf("      curl %s/api/traces/%s\n", jaeger.QueryURL, example)
	}
	if _, err := os.Stat(harness.RepoPath("dashboards")); err == nil {
		fmt.Println("    Dashboards: in Grafana, Dashboards > New > Import, upload each dashboards/sieve-*.json and pick")
		fmt.Println("    your Prometheus and Loki datasources; load dashboards/rules/*.yaml into Prometheus (dashboards/README.md).")
	}
	return nil
}

// jaegerSummary prints how many kept traces and spans Jaeger holds per service and returns the ID
// of one trace, preferably one with an error span, for the example queries.
func jaegerSummary(ctx context.Context, jaeger *backends.Jaeger, since time.Time) string {
	services, err := jaeger.Services(ctx)
	if err != nil {
		fmt.Printf("      %v\n", err)
		return ""
	}
	var example string
	var exampleFailed bool
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "      service\ttraces\tspans\terror spans")
	for _, svc := range services {
		traces, err := jaeger.FindTraces(ctx, svc, since.Add(-time.Minute), time.Now().Add(time.Minute), 100_000)
		if err != nil {
			fmt.Fprintf(w, "      %s\t%v\n", svc, err)
			continue
		}
		var spans, errs int
		for _, tr := range traces {
			for _, s := range tr.Spans {
				if s.Service != svc {
					continue
				}
				spans++
				if s.Error() {
					errs++
					if !exampleFailed {
						example, exampleFailed = tr.TraceID, true
					}
				}
			}
			if example == "" {
				example = tr.TraceID
			}
		}
		fmt.Fprintf(w, "      %s\t%d\t%d\t%d\n", svc, len(traces), spans, errs)
	}
	w.Flush()
	return example
}

// policyChange is the demo's mid-run policy version: the default trace rate raised tenfold.
type policyChange struct {
	at, applied  time.Time
	started      time.Time
	keptBefore   float64 // traces kept by rate when the new version was in force
	from, to     float64
	applyLatency time.Duration
}

// changePolicy writes the new version, waits until Sieve serves it, and notes the traces kept by
// rate so far. Nothing in Sieve restarts.
func changePolicy(ctx context.Context, path string, shipped []byte, sieve *sieveproc.Process, started time.Time) *policyChange {
	const from, to = "default_rate: 0.01", "default_rate: 0.1"
	doc := strings.Replace(string(shipped), from, to, 1)
	doc = strings.Replace(doc, "version: shop-1", "version: shop-2", 1)
	if doc == string(shipped) || !strings.Contains(doc, "version: shop-2") {
		fmt.Println("    (the shipped policy no longer has default_rate 0.01 and version shop-1: no change made)")
		return nil
	}
	pc := &policyChange{at: time.Now(), started: started, from: 0.01, to: 0.1}
	step("%.0fs: writing policy version shop-2: default_rate 0.01 -> 0.1 (the frontend's traces kept tenfold)", time.Since(started).Seconds())
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(doc), 0o600); err != nil || os.Rename(tmp, path) != nil {
		fmt.Println("    could not write the policy:", err)
		return nil
	}
	client := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := client.Get(sieve.SamplingURL + "/policy")
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), `"shop-2"`) {
			pc.applied = time.Now()
			break
		}
	}
	if pc.applied.IsZero() {
		fmt.Println("    Sieve did not serve shop-2 within 10s")
		return nil
	}
	pc.applyLatency = pc.applied.Sub(pc.at)
	if m, err := harness.Scrape(ctx, client, sieve.TelemetryURL); err == nil {
		pc.keptBefore = m.Sum("otelcol_processor_trace_sampling_traces_kept", "reason", "rate")
	}
	fmt.Printf("    in force after %s (GET %s/policy serves shop-2); traces are decided under it from then on\n",
		pc.applyLatency.Round(time.Millisecond), sieve.SamplingURL)
	return pc
}

// report prints the traces kept by rate per second before and after the change.
func (pc *policyChange) report(ctx context.Context, telemetryURL string, trafficEnd time.Time) {
	m, err := harness.Scrape(ctx, &http.Client{Timeout: 5 * time.Second}, telemetryURL)
	if err != nil {
		return
	}
	after := m.Sum("otelcol_processor_trace_sampling_traces_kept", "reason", "rate") - pc.keptBefore
	before := pc.keptBefore
	b := pc.applied.Sub(pc.started).Seconds()
	a := trafficEnd.Sub(pc.applied).Seconds()
	fmt.Println()
	fmt.Printf("    Live policy change (shop-1 -> shop-2, default_rate %.2g -> %.2g, in force %s after the write):\n", pc.from, pc.to, pc.applyLatency.Round(time.Millisecond))
	fmt.Printf("      traces kept by rate: %.0f in the %.0fs before (%.2f/s), %.0f in the %.0fs after (%.2f/s): x%.1f\n",
		before, b, before/b, after, a, after/a, (after/a)/max(before/b, 1e-9))
}

// tailSummary prints the traces tail sampling kept and dropped per reason, and the log records
// kept because their trace was.
func tailSummary(ctx context.Context, telemetryURL string) {
	m, err := harness.Scrape(ctx, &http.Client{Timeout: 5 * time.Second}, telemetryURL)
	if err != nil {
		fmt.Printf("      %v\n", err)
		return
	}
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "      reason\ttraces kept\ttraces dropped")
	for _, r := range []string{"error", "slow", "always_rule", "rate", "never_rule"} {
		k := m.Sum("otelcol_processor_trace_sampling_traces_kept", "reason", r)
		d := m.Sum("otelcol_processor_trace_sampling_traces_dropped", "reason", r)
		if k+d > 0 {
			fmt.Fprintf(w, "      %s\t%.0f\t%.0f\n", r, k, d)
		}
	}
	w.Flush()
	followed := m.Sum("otelcol_processor_tiered_sampling_held_decisions", "outcome", "trace_kept")
	fmt.Printf("      %.0f log records their tier would drop were kept because their trace was kept\n", followed)
}

// traceLogs prints the log records Loki holds for one trace: every one of a kept trace is there.
func traceLogs(ctx context.Context, loki *backends.Loki, traceID string, since time.Time) {
	q := fmt.Sprintf(`{service_name=~".+"} | trace_id=%q`, traceID)
	streams, err := loki.QueryRange(ctx, "", q, since.Add(-time.Minute), time.Now().Add(time.Minute))
	if err != nil {
		fmt.Printf("      logs of trace %s: %v\n", traceID, err)
		return
	}
	type entry struct {
		at   time.Time
		line string
	}
	var entries []entry
	for _, st := range streams {
		for _, e := range st.Entries {
			entries = append(entries, entry{e.Time, fmt.Sprintf("%-8s %-6s %s", st.Labels["service_name"], st.Labels["level"], e.Line)})
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].at.Before(entries[j].at) })
	lines := make([]string, len(entries))
	for i, e := range entries {
		lines[i] = e.line
	}
	fmt.Printf("    Loki: the %d log records of trace %s (every record of a kept trace, whatever its level):\n", len(lines), traceID)
	for _, l := range first(lines, 8) {
		if len(l) > 140 {
			l = l[:140] + "…"
		}
		fmt.Printf("      %s\n", l)
	}
}

func first(s []string, n int) []string {
	if len(s) < n {
		return s
	}
	return s[:n]
}

func closeAndSay(what string, f func() error) {
	if err := f(); err != nil {
		fmt.Fprintf(os.Stderr, "    stopping %s: %v\n", what, err)
		return
	}
	fmt.Printf("    stopped %s\n", what)
}
