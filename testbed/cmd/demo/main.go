// Command demo runs Sieve's demo: real Loki and Prometheus, Sieve with the demo pipeline, and a
// small shop of services logging through zap + otelzap and tracing with the OpenTelemetry SDK.
// It prints progress, then what was sent and what each backend holds, and stops everything
// (also on Ctrl-C).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sieveobs/sieve/testbed/backends"
	"github.com/sieveobs/sieve/testbed/demoapp"
	"github.com/sieveobs/sieve/testbed/sieveproc"
)

func main() {
	var (
		sieveBin = flag.String("sieve", "", "path of bin/sieve (default: $SIEVE_BIN or ../bin/sieve)")
		config   = flag.String("config", sieveproc.RepoPath("configs/demo.yaml"), "Sieve configuration")
		duration = flag.Duration("duration", 45*time.Second, "how long the services send traffic")
		rate     = flag.Float64("rate", 40, "front-door requests per second")
		keep     = flag.Bool("keep", false, "keep Loki, Prometheus and Sieve running after the summary until Ctrl-C")
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

	step("starting Prometheus (remote-write receiver, native histograms)")
	prom, err := backends.NewPrometheus(ctx, backends.PrometheusOptions{})
	if err != nil {
		return err
	}
	defer closeAndSay("Prometheus", prom.Close)
	fmt.Println("    Prometheus:", prom.URL)

	step("starting Sieve with %s", config)
	sieve, err := sieveproc.Start(ctx, sieveproc.Options{
		Config: config,
		Env: map[string]string{
			"SIEVE_LOKI_OTLP_URL":     loki.OTLPURL(),
			"SIEVE_LOKI_PUSH_URL":     loki.PushURL(),
			"SIEVE_PROMETHEUS_RW_URL": prom.RemoteWriteURL(),
		},
	})
	if err != nil {
		return err
	}
	defer closeAndSay("Sieve", sieve.Stop)
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
	var runErr error
wait:
	for {
		select {
		case runErr = <-done:
			break wait
		case <-tick.C:
			fmt.Printf("    %3.0fs  requests %-6d spans %-6d log records %-6d\n",
				time.Since(started).Seconds(), stats.Requests.Load(), stats.Spans.Load(), stats.LogTotal())
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
	sent := stats.LogTotal()
	var held float64
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		held = lokiTotal(ctx, loki, started)
		if held >= float64(sent) {
			break
		}
		time.Sleep(time.Second)
	}
	if err := summary(ctx, stats, loki, prom, started); err != nil {
		return err
	}
	if keep {
		step("everything keeps running; press Ctrl-C to stop")
		<-ctx.Done()
	}
	return nil
}

func lokiTotal(ctx context.Context, loki *backends.Loki, since time.Time) float64 {
	window := time.Since(since).Round(time.Second) + time.Minute
	res, err := loki.QueryMetric(ctx, "", fmt.Sprintf(`sum(count_over_time({service_name=~".+"}[%s]))`, window), time.Now())
	if err != nil || len(res) == 0 {
		return 0
	}
	return res[0].Value
}

func summary(ctx context.Context, stats *demoapp.Stats, loki *backends.Loki, prom *backends.Prometheus, since time.Time) error {
	window := fmt.Sprintf("%ds", int(time.Since(since).Seconds())+60)
	step("summary")
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "    service\tlogs sent\tlogs in Loki\terror/warn/info/debug sent")
	logs := stats.Logs()
	var names []string
	for n := range logs {
		names = append(names, n)
	}
	sort.Strings(names)
	inLoki := map[string]float64{}
	if res, err := loki.QueryMetric(ctx, "", fmt.Sprintf(`sum by (service_name) (count_over_time({service_name=~".+"}[%s]))`, window), time.Now()); err == nil {
		for _, s := range res {
			inLoki[s.Metric["service_name"]] = s.Value
		}
	} else {
		fmt.Println("    loki query failed:", err)
	}
	for _, n := range names {
		m := logs[n]
		var total int64
		for _, c := range m {
			total += c
		}
		fmt.Fprintf(w, "    %s\t%d\t%.0f\t%d/%d/%d/%d\n", n, total, inLoki[n], m["error"], m["warn"], m["info"], m["debug"])
	}
	w.Flush()
	fmt.Printf("    requests %d, spans %d\n", stats.Requests.Load(), stats.Spans.Load())

	fmt.Println()
	fmt.Println("    Prometheus:")
	queries := []string{
		`sum by (job) (http_server_requests_total)`,
		`histogram_quantile(0.99, sum by (job) (rate(http_server_request_duration_seconds[1m])))`,
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
	fmt.Println("    Example queries (run `make demo DEMO_FLAGS=-keep` to keep the stack up for them):")
	fmt.Printf("      curl -G %s/loki/api/v1/query_range --data-urlencode 'query={service_name=\"payment\", level=\"error\"}'\n", loki.URL)
	fmt.Printf("      curl -G %s/api/v1/query --data-urlencode 'query=histogram_quantile(0.99, sum by (job) (rate(http_server_request_duration_seconds[1m])))'\n", prom.URL)
	if _, err := os.Stat(sieveproc.RepoPath("dashboards")); err == nil {
		fmt.Println("    Dashboards: import the JSON files under dashboards/ into Grafana (Dashboards > New > Import),")
		fmt.Println("    choosing your Prometheus and Loki datasources for the variables they ask for.")
	}
	return nil
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
