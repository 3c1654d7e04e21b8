package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Side is one collector's figures for one pipeline, averaged over the rounds.
type Side struct {
	Available bool   `json:"available"`
	Reason    string `json:"reason,omitempty"`
	// Failed holds the error of a run that could not complete (e.g. the collector exited).
	Failed string `json:"failed,omitempty"`
	// ItemsPerSecond is the saturation throughput with at most MaxLoss unexplained loss.
	ItemsPerSecond float64 `json:"items_per_second"`
	CPUPerMillion  float64 `json:"cpu_seconds_per_million"`
	PeakRSSMiB     float64 `json:"peak_rss_mib"`
	PeakAnonMiB    float64 `json:"peak_anon_rss_mib"`
	// IdleAnonMiB is the anonymous RSS once the collector listens, before any load: the fixed
	// cost of the build and the config (package init, extensions), which the peak includes.
	IdleAnonMiB float64 `json:"idle_anon_rss_mib"`
	// LossOK is false when no run of some round stayed within MaxLoss; the figures are then those
	// of the last attempt.
	LossOK bool         `json:"loss_ok"`
	Rounds []Saturation `json:"rounds,omitempty"`
	// LoadBound is set when the load side used nearly all of its core during a best run.
	LoadBound bool `json:"load_bound"`
	// CPUPercent and CPUWaitPercent average the collector's CPU use and its threads' wait for a
	// CPU over the best runs.
	CPUPercent     float64 `json:"cpu_percent"`
	CPUWaitPercent float64 `json:"cpu_wait_percent"`
}

// Summarise averages the rounds.
func Summarise(rounds []Saturation) Side {
	s := Side{Available: true, LossOK: true, Rounds: rounds}
	if len(rounds) == 0 {
		return s
	}
	for _, r := range rounds {
		s.ItemsPerSecond += r.Best.Throughput
		s.CPUPerMillion += r.Best.CPUPerMillion
		s.PeakRSSMiB += r.Best.PeakRSSMiB
		s.PeakAnonMiB += r.Best.PeakAnonMiB
		s.IdleAnonMiB += r.Best.IdleAnonMiB
		s.CPUWaitPercent += r.Best.CPUWaitPercent
		s.CPUPercent += r.Best.CPUPercent
		s.LossOK = s.LossOK && r.Found
		s.LoadBound = s.LoadBound || r.Best.LoadCPUPercent >= 90
	}
	n := float64(len(rounds))
	s.ItemsPerSecond /= n
	s.CPUPerMillion /= n
	s.PeakRSSMiB /= n
	s.PeakAnonMiB /= n
	s.IdleAnonMiB /= n
	s.CPUWaitPercent /= n
	s.CPUPercent /= n
	return s
}

// PipelineReport is one row of the table.
type PipelineReport struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	// Note says what sets the row apart (Pipeline.Note).
	Note     string             `json:"note,omitempty"`
	Sieve    Side               `json:"sieve"`
	Baseline Side               `json:"baseline"`
	Ratios   map[string]float64 `json:"sieve_to_baseline,omitempty"`
}

// ComputeRatios fills Ratios when both sides ran.
func (p *PipelineReport) ComputeRatios() {
	if !p.Sieve.Available || !p.Baseline.Available || p.Sieve.Failed != "" || p.Baseline.Failed != "" ||
		len(p.Sieve.Rounds) == 0 || len(p.Baseline.Rounds) == 0 {
		return
	}
	p.Ratios = map[string]float64{
		"items_per_second":        ratio(p.Sieve.ItemsPerSecond, p.Baseline.ItemsPerSecond),
		"cpu_seconds_per_million": ratio(p.Sieve.CPUPerMillion, p.Baseline.CPUPerMillion),
		"peak_rss":                ratio(p.Sieve.PeakRSSMiB, p.Baseline.PeakRSSMiB),
		"peak_anon_rss":           ratio(p.Sieve.PeakAnonMiB, p.Baseline.PeakAnonMiB),
	}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// StandardReport is one contrib-style standard case: a fixed rate through the passthrough
// pipeline.
type StandardReport struct {
	Signal   string  `json:"signal"`
	Rate     float64 `json:"rate"`
	Batch    int     `json:"items_per_request"`
	Sieve    *Result `json:"sieve,omitempty"`
	Baseline *Result `json:"baseline,omitempty"`
}

// Machine describes where the figures were taken.
type Machine struct {
	CPU      string `json:"cpu"`
	Cores    int    `json:"cores"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
	LoadAvg  string `json:"load_average_at_start"`
	Hostname string `json:"hostname"`
}

// DescribeMachine reads the CPU model, kernel and load from /proc.
func DescribeMachine() Machine {
	// Cores come from /proc/cpuinfo: runtime.NumCPU only sees the CPUs this process is pinned to.
	m := Machine{Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "processor") {
				m.Cores++
			}
			if v, ok := strings.CutPrefix(sc.Text(), "model name"); ok && m.CPU == "" {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
			}
		}
		f.Close()
	}
	if m.Cores == 0 {
		m.Cores = runtime.NumCPU()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	m.Hostname, _ = os.Hostname()
	return m
}

// Report is the whole benchmark output.
type Report struct {
	Date      time.Time        `json:"date"`
	Machine   Machine          `json:"machine"`
	Settings  map[string]any   `json:"settings"`
	Pipelines []PipelineReport `json:"pipelines"`
	Standard  []StandardReport `json:"standard"`
	Seconds   float64          `json:"total_seconds"`
}

// WriteMarkdown renders the report as BENCHMARKS.md.
func (r *Report) WriteMarkdown(w io.Writer) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "# Sieve benchmarks\n\n")
	fmt.Fprintf(b, "Generated by `make bench` on %s. Do not edit: the target rewrites this file.\n\n", r.Date.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(b, "- Machine: %s, %d cores, Linux %s, %s; load average at start %s\n", r.Machine.CPU, r.Machine.Cores, r.Machine.Kernel, r.Machine.Go, r.Machine.LoadAvg)
	fmt.Fprintf(b, "- Collector under test pinned to CPU %v; load generator and sinks pinned to CPU %v\n", r.Settings["collector_cpus"], r.Settings["load_cpus"])
	fmt.Fprintf(b, "- Baseline: upstream core v0.159.0 / contrib v0.159.0 built with ocb from `testbed/baseline/manifest.yaml`\n")
	keys := make([]string, 0, len(r.Settings))
	for k := range r.Settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%v", k, r.Settings[k]))
	}
	fmt.Fprintf(b, "- Settings: %s\n", strings.Join(parts, ", "))
	fmt.Fprintf(b, "- Total run time: %.0f s\n\n", r.Seconds)

	fmt.Fprintf(b, "## Pipelines at saturation\n\n")
	fmt.Fprintf(b, "Saturation is the highest acked rate with at most %.1f%% unexplained loss (items sampled out at the configured rate are explained). ", 100*MaxLoss)
	fmt.Fprintf(b, "Ratios are Sieve / baseline: above 1 is better for items/s, below 1 is better for CPU and RSS. ")
	fmt.Fprintf(b, "CPU-seconds per million items is the figure least disturbed by other work on the machine. ")
	fmt.Fprintf(b, "Both collectors run with GOGC=%s unless a row's note says otherwise, so that rows compare the work done rather than GC tuning. ", GOGC)
	fmt.Fprintf(b, "Peak RSS includes the mapped pages of the executable, whose size differs between the two builds; peak anonymous RSS (heap and stacks, sampled every 100 ms) is the memory the work itself takes, on top of the idle anonymous RSS (measured once the collector listens, before any load: package initialisation and extensions, which the garbage collector's headroom then doubles in the peak). A note gives the collector's CPU use when its threads spent 10%% or more of the run runnable but waiting for a CPU (its own threads queuing on one core, or other work on that core): a saturated collector shows CPU near 100%%.\n\n")
	fmt.Fprintf(b, "| Pipeline | Sieve items/s | Baseline items/s | Ratio | Sieve CPU-s/M items | Baseline CPU-s/M items | Ratio | Sieve peak RSS MiB | Baseline peak RSS MiB | Ratio | Sieve peak anon RSS MiB | Baseline peak anon RSS MiB | Ratio | Sieve idle anon RSS MiB | Baseline idle anon RSS MiB | Notes |\n")
	fmt.Fprintf(b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, p := range r.Pipelines {
		row := []string{p.Title}
		row = append(row, side(p.Sieve, func(s Side) string { return fmt.Sprintf("%.0f", s.ItemsPerSecond) }),
			side(p.Baseline, func(s Side) string { return fmt.Sprintf("%.0f", s.ItemsPerSecond) }), ratioCell(p, "items_per_second"),
			side(p.Sieve, func(s Side) string { return fmt.Sprintf("%.2f", s.CPUPerMillion) }),
			side(p.Baseline, func(s Side) string { return fmt.Sprintf("%.2f", s.CPUPerMillion) }), ratioCell(p, "cpu_seconds_per_million"),
			side(p.Sieve, func(s Side) string { return fmt.Sprintf("%.0f", s.PeakRSSMiB) }),
			side(p.Baseline, func(s Side) string { return fmt.Sprintf("%.0f", s.PeakRSSMiB) }), ratioCell(p, "peak_rss"),
			side(p.Sieve, func(s Side) string { return fmt.Sprintf("%.0f", s.PeakAnonMiB) }),
			side(p.Baseline, func(s Side) string { return fmt.Sprintf("%.0f", s.PeakAnonMiB) }), ratioCell(p, "peak_anon_rss"),
			side(p.Sieve, func(s Side) string { return fmt.Sprintf("%.0f", s.IdleAnonMiB) }),
			side(p.Baseline, func(s Side) string { return fmt.Sprintf("%.0f", s.IdleAnonMiB) }),
			notes(p))
		fmt.Fprintf(b, "| %s |\n", strings.Join(row, " | "))
	}

	if len(r.Standard) > 0 {
		fmt.Fprintf(b, "\n## Standard cases (passthrough OTLP → batch → OTLP)\n\n")
		fmt.Fprintf(b, "The contrib testbed's standard load, to line up with published collector figures: a fixed rate in fixed-size requests over OTLP/gRPC. CPU%% is of one core, averaged over the run; RSS is the peak, anon RSS its anonymous part.\n\n")
		fmt.Fprintf(b, "| Signal | Rate items/s | Items/request | Sieve CPU %% | Baseline CPU %% | Sieve peak RSS MiB | Baseline peak RSS MiB | Sieve peak anon RSS MiB | Baseline peak anon RSS MiB | Sieve loss | Baseline loss |\n")
		fmt.Fprintf(b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, s := range r.Standard {
			fmt.Fprintf(b, "| %s | %.0f | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", s.Signal, s.Rate, s.Batch,
				res(s.Sieve, func(x *Result) string { return fmt.Sprintf("%.1f", x.CPUPercent) }),
				res(s.Baseline, func(x *Result) string { return fmt.Sprintf("%.1f", x.CPUPercent) }),
				res(s.Sieve, func(x *Result) string { return fmt.Sprintf("%.0f", x.PeakRSSMiB) }),
				res(s.Baseline, func(x *Result) string { return fmt.Sprintf("%.0f", x.PeakRSSMiB) }),
				res(s.Sieve, func(x *Result) string { return fmt.Sprintf("%.0f", x.PeakAnonMiB) }),
				res(s.Baseline, func(x *Result) string { return fmt.Sprintf("%.0f", x.PeakAnonMiB) }),
				res(s.Sieve, func(x *Result) string { return fmt.Sprintf("%.3f%%", 100*x.Loss) }),
				res(s.Baseline, func(x *Result) string { return fmt.Sprintf("%.3f%%", 100*x.Loss) }))
		}
	}
	fmt.Fprintf(b, "\nRaw figures for every run are in the JSON written next to this file.\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func side(s Side, f func(Side) string) string {
	if !s.Available {
		return "n/a"
	}
	if s.Failed != "" {
		return "failed"
	}
	if len(s.Rounds) == 0 {
		return "—"
	}
	return f(s)
}

func res(r *Result, f func(*Result) string) string {
	if r == nil {
		return "—"
	}
	return f(r)
}

func ratioCell(p PipelineReport, key string) string {
	if p.Ratios == nil {
		return "—"
	}
	return fmt.Sprintf("%.2f", p.Ratios[key])
}

func notes(p PipelineReport) string {
	var n []string
	if p.Note != "" {
		n = append(n, p.Note)
	}
	if !p.Sieve.Available {
		n = append(n, "Sieve: not available in this build")
	}
	if !p.Baseline.Available {
		n = append(n, "baseline: "+p.Baseline.Reason)
	}
	for _, s := range []struct {
		name string
		side Side
	}{{"Sieve", p.Sieve}, {"baseline", p.Baseline}} {
		if s.side.Failed != "" {
			n = append(n, s.name+": run failed ("+strings.ReplaceAll(s.side.Failed, "|", "/")+")")
			continue
		}
		if s.side.Available && len(s.side.Rounds) > 0 && !s.side.LossOK {
			n = append(n, s.name+": loss above 0.1% at every rate tried")
		}
		if s.side.LoadBound {
			n = append(n, s.name+": load side near 100% of its core")
		}
		// The wait includes the collector's own threads queuing on its single core, so it is
		// reported with the CPU use rather than read as interference on its own.
		if s.side.CPUWaitPercent >= 10 {
			n = append(n, fmt.Sprintf("%s: collector CPU %.0f%%, threads waiting for CPU %.0f%%", s.name, s.side.CPUPercent, s.side.CPUWaitPercent))
		}
	}
	return strings.Join(n, "; ")
}
