// Command loadgen sends OTLP logs, traces or metrics to a collector at a fixed rate or as fast as
// it accepts, and prints what was sent and acknowledged per item class.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/sieveobs/sieve/testbed/loadgen"
)

func main() {
	d := loadgen.DefaultDataConfig()
	var (
		sig         = flag.String("signal", "logs", "logs, traces or metrics")
		protocol    = flag.String("protocol", "grpc", "grpc or http")
		endpoint    = flag.String("endpoint", "127.0.0.1:4317", "collector OTLP endpoint (host:port)")
		rate        = flag.Float64("rate", 0, "items per second; 0 sends as fast as the collector accepts")
		concurrency = flag.Int("concurrency", 8, "requests in flight")
		duration    = flag.Duration("duration", 30*time.Second, "how long to send; 0 until -requests or Ctrl-C")
		requests    = flag.Uint64("requests", 0, "stop after this many requests; 0 is no limit")
		report      = flag.Duration("report", 5*time.Second, "progress interval; 0 prints only the final summary")
	)
	flag.IntVar(&d.BatchSize, "batch", d.BatchSize, "items per request")
	flag.IntVar(&d.Templates, "templates", d.Templates, "distinct requests encoded up front")
	flag.Float64Var(&d.ErrorRatio, "error-ratio", d.ErrorRatio, "fraction of error/fatal logs and of traces with an error")
	flag.Float64Var(&d.WarnRatio, "warn-ratio", d.WarnRatio, "fraction of warn logs")
	flag.Float64Var(&d.Status5xxRatio, "status-5xx-ratio", d.Status5xxRatio, "fraction of non-error logs with a 5xx status")
	flag.Float64Var(&d.MissingUIDRatio, "missing-uid-ratio", d.MissingUIDRatio, "fraction of log resources without uid")
	flag.IntVar(&d.Services, "services", d.Services, "number of service.name values")
	flag.IntVar(&d.Operations, "operations", d.Operations, "number of operations (span names, routes)")
	flag.DurationVar(&d.LatencyMedian, "latency-median", d.LatencyMedian, "median span duration (lognormal)")
	flag.Float64Var(&d.LatencySigma, "latency-sigma", d.LatencySigma, "sigma of the lognormal span durations")
	flag.Parse()
	// A ratio of 0 given on the command line means "none", not "default".
	for _, r := range []*float64{&d.ErrorRatio, &d.WarnRatio, &d.Status5xxRatio, &d.MissingUIDRatio} {
		if *r == 0 {
			*r = -1
		}
	}

	g, err := loadgen.New(loadgen.Config{
		Signal: loadgen.Signal(*sig), Protocol: *protocol, Endpoint: *endpoint, Rate: *rate,
		Concurrency: *concurrency, Duration: *duration, MaxRequests: *requests, Data: d,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	done := make(chan struct{})
	go func() {
		if *report <= 0 {
			return
		}
		t := time.NewTicker(*report)
		defer t.Stop()
		start, prev := time.Now(), uint64(0)
		for {
			select {
			case <-done:
				return
			case <-t.C:
				st := g.Stats()
				fmt.Printf("%6.0fs acked %d items (%.0f/s), failed requests %d\n", time.Since(start).Seconds(), st.Acked(),
					float64(st.Acked()-prev)/report.Seconds(), st.FailedRequests)
				prev = st.Acked()
			}
		}
	}()
	g.Run(ctx)
	close(done)

	st := g.Stats()
	fmt.Printf("\n%s over %s to %s in %s: %d requests, %d failed, %.0f acked items/s, %d bytes\n",
		*sig, *protocol, *endpoint, st.Elapsed.Round(time.Millisecond), st.Requests, st.FailedRequests,
		float64(st.Acked())/st.Elapsed.Seconds(), st.SentBytes)
	classes := make([]string, 0)
	for c := range st.SentItems {
		classes = append(classes, fmt.Sprintf("  %-8s sent %10d  acked %10d", c, st.SentItems[c], st.AckedItems[c]))
	}
	sort.Strings(classes)
	for _, l := range classes {
		fmt.Println(l)
	}
	if st.LastError != "" {
		fmt.Println("last error:", st.LastError)
	}
	if st.FailedRequests > 0 {
		os.Exit(1)
	}
}
