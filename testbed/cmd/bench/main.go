// Command bench runs every benchmark pipeline on Sieve and on the upstream baseline collector,
// alternating them under the same load on the same cores, and writes BENCHMARKS.md and a JSON
// file with every run's figures.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/sieveobs/sieve/testbed/bench"
	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/loadgen"
)

func main() {
	var (
		mdPath      = flag.String("md", "BENCHMARKS.md", "markdown report to write")
		jsonPath    = flag.String("json", "BENCHMARKS.json", "JSON report to write")
		duration    = flag.Duration("duration", 6*time.Second, "load duration of one saturation run")
		rounds      = flag.Int("rounds", 2, "rounds per pipeline; collectors alternate within and across rounds")
		steps       = flag.Int("steps", 2, "fixed-rate steps down when running as fast as accepted loses items")
		concurrency = flag.Int("concurrency", 8, "requests in flight while searching saturation")
		only        = flag.String("pipelines", "", "comma-separated pipeline names (default: all)")
		standard    = flag.Bool("standard", true, "also run the standard 10k items/s cases")
		stdDuration = flag.Duration("standard-duration", 10*time.Second, "duration of one standard case")
		stdRate     = flag.Float64("standard-rate", 10000, "items/s of the standard cases")
		pin         = flag.Bool("pin", true, "pin the collector to CPU 0 and this process to CPU 1")
		workDir     = flag.String("workdir", "", "directory for configs and collector logs (default: a temporary one)")
	)
	flag.Parse()
	log.SetFlags(log.Ltime)

	collectorCPUs, loadCPUs := "", "any"
	if *pin && (bench.Pinned() || runtime.NumCPU() >= 2) {
		collectorCPUs, loadCPUs = "0", "1"
		if err := bench.PinSelf(loadCPUs); err != nil {
			log.Printf("running unpinned: %v", err)
			collectorCPUs, loadCPUs = "", "any"
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts{*mdPath, *jsonPath, *duration, *rounds, *steps, *concurrency, *only, *standard, *stdDuration, *stdRate, collectorCPUs, loadCPUs, *workDir}); err != nil {
		log.Fatal(err)
	}
}

type opts struct {
	md, json                   string
	duration                   time.Duration
	rounds, steps, concurrency int
	only                       string
	standard                   bool
	stdDuration                time.Duration
	stdRate                    float64
	collectorCPUs, loadCPUs    string
	workDir                    string
}

func run(ctx context.Context, o opts) error {
	began := time.Now()
	machine := bench.DescribeMachine()
	sieveBin, err := harness.SieveBinary()
	if err != nil {
		return err
	}
	log.Printf("building or reusing the baseline collector")
	baseBin, err := bench.BaselineBinary(ctx)
	if err != nil {
		return err
	}
	dir := o.workDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "sieve-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	r, err := bench.NewRunner(map[bench.Collector]string{bench.Sieve: sieveBin, bench.Baseline: baseBin}, o.collectorCPUs, dir)
	if err != nil {
		return err
	}
	r.Logf = log.Printf

	load := bench.Load{Concurrency: o.concurrency, Duration: o.duration}
	report := bench.Report{
		Date:    time.Now().UTC(),
		Machine: machine,
		Settings: map[string]any{
			"collector_cpus": orAny(o.collectorCPUs), "load_cpus": o.loadCPUs, "rounds": o.rounds,
			"run_seconds": o.duration.Seconds(), "concurrency": o.concurrency, "items_per_request": loadgen.DefaultDataConfig().BatchSize,
			"protocol": "otlp/grpc", "gogc": bench.GOGC,
		},
	}
	want := map[string]bool{}
	for _, n := range strings.Split(o.only, ",") {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	known := map[string]bool{}
	var names []string
	for _, p := range bench.Pipelines() {
		known[p.Name] = true
		names = append(names, p.Name)
	}
	for n := range want {
		if !known[n] {
			return fmt.Errorf("-pipelines: no pipeline %q; the pipelines are %s", n, strings.Join(names, ", "))
		}
	}
	for i, p := range bench.Pipelines() {
		if len(want) > 0 && !want[p.Name] {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		pr := bench.PipelineReport{Name: p.Name, Title: p.Title, Note: p.Note}
		sides := map[bench.Collector]*bench.Side{bench.Sieve: &pr.Sieve, bench.Baseline: &pr.Baseline}
		var collectors []bench.Collector
		for _, c := range []bench.Collector{bench.Sieve, bench.Baseline} {
			if err := r.Available(ctx, p, c); err != nil {
				log.Printf("%s on %s: not available: %v", p.Name, c, err)
				*sides[c] = bench.Side{Available: false, Reason: "not available in this build"}
				continue
			}
			collectors = append(collectors, c)
		}
		rounds := map[bench.Collector][]bench.Saturation{}
		failed := map[bench.Collector]string{}
		for round := 0; round < o.rounds; round++ {
			// Alternate which collector goes first so drift in the machine's state (thermal, other
			// load) does not favour one side.
			order := collectors
			if (round+i)%2 == 1 && len(collectors) == 2 {
				order = []bench.Collector{collectors[1], collectors[0]}
			}
			for _, c := range order {
				if failed[c] != "" {
					continue
				}
				log.Printf("%s: %s round %d/%d", p.Name, c, round+1, o.rounds)
				sat, err := r.Saturate(ctx, p, c, load, o.steps)
				if ctx.Err() != nil {
					return ctx.Err()
				}
				// One collector failing a pipeline (a component that validates but does not run)
				// must not cost the rest of the table.
				if err != nil {
					log.Printf("%s on %s failed: %v", p.Name, c, err)
					failed[c] = firstLine(err.Error())
					continue
				}
				rounds[c] = append(rounds[c], sat)
			}
		}
		for _, c := range collectors {
			*sides[c] = bench.Summarise(rounds[c])
			sides[c].Failed = failed[c]
		}
		pr.ComputeRatios()
		report.Pipelines = append(report.Pipelines, pr)
	}

	if o.standard && (len(want) == 0 || want["passthrough"]) {
		pass, err := bench.PipelineByName("passthrough")
		if err != nil {
			return err
		}
		for _, sig := range []loadgen.Signal{loadgen.Logs, loadgen.Traces, loadgen.Metrics} {
			sr := bench.StandardReport{Signal: string(sig), Rate: o.stdRate, Batch: 100}
			order := []bench.Collector{bench.Sieve, bench.Baseline}
			if sig == loadgen.Traces {
				order = []bench.Collector{bench.Baseline, bench.Sieve}
			}
			for _, c := range order {
				log.Printf("standard %s on %s at %.0f items/s", sig, c, o.stdRate)
				res, err := r.Run(ctx, pass, c, bench.Load{Signal: sig, Rate: o.stdRate, Concurrency: 4, Duration: o.stdDuration,
					Data: loadgen.DataConfig{BatchSize: 100}})
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if err != nil {
					log.Printf("standard %s on %s failed: %v", sig, c, err)
					continue
				}
				log.Printf("  cpu=%.1f%% rss=%.0fMiB anon=%.0fMiB loss=%.4f%%", res.CPUPercent, res.PeakRSSMiB, res.PeakAnonMiB, 100*res.Loss)
				if c == bench.Sieve {
					sr.Sieve = &res
				} else {
					sr.Baseline = &res
				}
			}
			report.Standard = append(report.Standard, sr)
		}
	}
	report.Seconds = time.Since(began).Seconds()

	if err := writeFile(o.md, report.WriteMarkdown); err != nil {
		return err
	}
	js, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(o.json, append(js, '\n'), 0o644); err != nil {
		return err
	}
	abs, _ := filepath.Abs(o.md)
	log.Printf("wrote %s and %s in %.0f s", abs, o.json, report.Seconds)
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if len(line) > 160 {
		line = line[:160] + "…"
	}
	return line
}

func orAny(s string) string {
	if s == "" {
		return "any"
	}
	return s
}

func writeFile(path string, write func(w io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
