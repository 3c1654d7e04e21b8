package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/loadgen"
	"github.com/sieveobs/sieve/testbed/sinks"
)

// Runner starts collectors and drives them.
type Runner struct {
	// Bins maps each collector to its binary.
	Bins map[Collector]string
	// CollectorCPUs pins the collector with taskset (e.g. "0"); empty leaves it unpinned.
	CollectorCPUs string
	// WorkDir holds the configs and the collectors' logs.
	WorkDir string
	// Logf reports progress; nil is silent.
	Logf func(format string, args ...any)
}

// NewRunner writes the configs into workDir.
func NewRunner(bins map[Collector]string, collectorCPUs, workDir string) (*Runner, error) {
	if err := WriteConfigs(workDir); err != nil {
		return nil, err
	}
	return &Runner{Bins: bins, CollectorCPUs: collectorCPUs, WorkDir: workDir}, nil
}

func (r *Runner) logf(format string, args ...any) {
	if r.Logf != nil {
		r.Logf(format, args...)
	}
}

// Available validates the collector's config for the pipeline with the collector itself; an
// error means the build lacks a component (or the config is wrong for it).
func (r *Runner) Available(ctx context.Context, p Pipeline, c Collector) error {
	bin, ok := r.Bins[c]
	if !ok {
		return fmt.Errorf("no %s binary", c)
	}
	cmd := exec.CommandContext(ctx, bin, "validate", "--config", filepath.Join(r.WorkDir, p.Configs[c]))
	cmd.Env = append(os.Environ(), "RECEIVER_GRPC=127.0.0.1:4317", "RECEIVER_HTTP=127.0.0.1:4318",
		"SINK_GRPC=127.0.0.1:4319", "SINK_HTTP=http://127.0.0.1:4320", "FREE_ADDR=127.0.0.1:4321", "CONFIG_DIR="+r.WorkDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s validate %s: %v: %s", c, p.Configs[c], err, lastLine(string(out)))
	}
	return nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// Load describes the load of one run.
type Load struct {
	// Signal overrides the pipeline's signal (the standard cases send all three through the
	// passthrough pipeline).
	Signal loadgen.Signal
	// Protocol is "grpc" (default) or "http".
	Protocol string
	// Rate in items/s; 0 sends as fast as the collector accepts.
	Rate float64
	// Concurrency is the number of requests in flight.
	Concurrency int
	// Duration and MaxRequests end the load, whichever comes first (zero is no limit).
	Duration    time.Duration
	MaxRequests uint64
	// Data shapes the items.
	Data loadgen.DataConfig
	// Faults are injected by the sink for the whole run.
	Faults sinks.Faults
}

// Result is what one run measured.
type Result struct {
	Pipeline  string    `json:"pipeline"`
	Collector Collector `json:"collector"`
	Signal    string    `json:"signal"`
	Protocol  string    `json:"protocol"`
	// TargetRate is the requested items/s, 0 for as fast as accepted.
	TargetRate float64 `json:"target_rate"`
	Seconds    float64 `json:"seconds"`

	Requests       uint64            `json:"requests"`
	FailedRequests uint64            `json:"failed_requests"`
	LastError      string            `json:"last_error,omitempty"`
	Sent           map[string]uint64 `json:"sent"`
	Acked          map[string]uint64 `json:"acked"`
	Delivered      map[string]uint64 `json:"delivered"`
	// DeliveredItems counts every delivered item (for aggregated pipelines: the spans the
	// histograms account for).
	DeliveredItems uint64 `json:"delivered_items"`
	Duplicates     uint64 `json:"duplicates"`
	// Unexpected counts delivered items of classes that must be dropped.
	Unexpected uint64 `json:"unexpected"`
	// ExpectedDelivered is what the pipeline's sampling rates predict from the acked items.
	ExpectedDelivered float64 `json:"expected_delivered"`
	// Loss is the unexplained loss: missing must-keep items plus sampled shortfalls beyond
	// four standard deviations (binomial, widened by the pipeline's Cluster), over
	// ExpectedDelivered.
	Loss   float64 `json:"unexplained_loss"`
	LossOK bool    `json:"loss_ok"`
	// Throughput is acked items per second.
	Throughput float64 `json:"items_per_second"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUPerMillion is collector CPU-seconds per million acked items.
	CPUPerMillion float64 `json:"cpu_seconds_per_million"`
	CPUPercent    float64 `json:"cpu_percent"`
	PeakRSSMiB    float64 `json:"peak_rss_mib"`
	// IdleAnonMiB is the anonymous RSS once the collector listens, before the load starts.
	IdleAnonMiB float64 `json:"idle_anon_rss_mib"`
	// PeakAnonMiB is the highest anonymous resident memory (heap, stacks) sampled during the
	// run: RSS without the pages of the mapped executable, whose size differs between builds.
	PeakAnonMiB float64 `json:"peak_anon_rss_mib"`
	// CPUWaitPercent is the time the collector's threads spent runnable but waiting for a CPU,
	// summed over threads (so it can pass 100) as a share of the run: well above zero, other
	// work on the collector's core held it back.
	CPUWaitPercent float64 `json:"cpu_wait_percent"`
	// LoadCPUPercent is the generator+sink process's CPU use: near 100% of its core means the
	// load side, not the collector, limited the run.
	LoadCPUPercent float64 `json:"load_cpu_percent"`
	SinkBytes      uint64  `json:"sink_bytes"`
}

// MaxLoss is the unexplained loss a run may show and still count as lossless.
const MaxLoss = 0.001

// Run starts a fresh sink and collector, applies the load, waits for the pipeline to drain and
// stops the collector.
func (r *Runner) Run(ctx context.Context, p Pipeline, c Collector, load Load) (Result, error) {
	res, _, err := r.run(ctx, p, c, load, true)
	return res, err
}

// RunKeepSink is Run returning the sink too, for checks by ID; the caller closes it.
func (r *Runner) RunKeepSink(ctx context.Context, p Pipeline, c Collector, load Load) (Result, *sinks.Sink, error) {
	return r.run(ctx, p, c, load, false)
}

func (r *Runner) run(ctx context.Context, p Pipeline, c Collector, load Load, closeSink bool) (res Result, sink *sinks.Sink, err error) {
	sig := p.Signal
	if load.Signal != "" {
		sig = load.Signal
	}
	if load.Protocol == "" {
		load.Protocol = "grpc"
	}
	res = Result{Pipeline: p.Name, Collector: c, Signal: string(sig), Protocol: load.Protocol, TargetRate: load.Rate}

	sink, err = sinks.Start()
	if err != nil {
		return res, nil, err
	}
	defer func() {
		if closeSink || err != nil {
			sink.Close()
			sink = nil
		}
	}()
	sink.SetFaults(load.Faults)
	addrs, err := harness.FreeAddrs(3)
	if err != nil {
		return res, sink, err
	}
	// FREE_ADDR is for listeners a config needs besides the receiver (e.g. an extension's
	// server); CONFIG_DIR lets a config name its side files.
	env := map[string]string{
		"RECEIVER_GRPC": addrs[0], "RECEIVER_HTTP": addrs[1], "FREE_ADDR": addrs[2],
		"SINK_GRPC": sink.GRPCAddr, "SINK_HTTP": sink.HTTPURL, "CONFIG_DIR": r.WorkDir,
	}
	gcSet, gcUnset := gcEnvironment(p)
	for k, v := range gcSet {
		env[k] = v
	}
	logPath := filepath.Join(r.WorkDir, fmt.Sprintf("%s-%s-%d.log", p.Name, c, time.Now().UnixNano()))
	proc, err := startProcess(r.Bins[c], []string{"--config", filepath.Join(r.WorkDir, p.Configs[c])}, env, gcUnset, r.CollectorCPUs, logPath)
	if err != nil {
		return res, sink, err
	}
	defer func() {
		if stopErr := proc.Stop(stopGrace); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	if err := waitListening(ctx, proc, 60*time.Second, addrs[0], addrs[1]); err != nil {
		return res, sink, err
	}

	if idle, err := harness.StatusKiB(proc.PID(), "RssAnon"); err == nil {
		res.IdleAnonMiB = float64(idle) / 1024
	}
	ep := addrs[0]
	if load.Protocol == "http" {
		ep = addrs[1]
	}
	gen, err := loadgen.New(loadgen.Config{
		Signal: sig, Protocol: load.Protocol, Endpoint: ep, Rate: load.Rate, Concurrency: load.Concurrency,
		Duration: load.Duration, MaxRequests: load.MaxRequests, Data: load.Data,
	})
	if err != nil {
		return res, sink, err
	}
	defer gen.Close()

	cpu0, err := harness.CPUSeconds(proc.PID())
	if err != nil {
		return res, sink, err
	}
	self0, _ := harness.CPUSeconds(os.Getpid())
	wait0, _ := harness.RunDelaySeconds(proc.PID())
	start := time.Now()
	anon, _ := harness.WatchPeak(proc.PID(), "RssAnon", 100*time.Millisecond)
	gen.Run(ctx)
	loadSeconds := time.Since(start).Seconds()
	self1, _ := harness.CPUSeconds(os.Getpid())
	st := gen.Stats()

	expect := p.Expect[c]
	r.drain(ctx, p, sig, sink, st, expect, proc, load.Faults != (sinks.Faults{}))
	if proc.Exited() {
		return res, sink, fmt.Errorf("collector exited during the run: %v\n%s", proc.ExitError(), proc.LogTailBytes(logTailBytes))
	}
	cpu1, err := harness.CPUSeconds(proc.PID())
	if err != nil {
		return res, sink, err
	}
	wait1, _ := harness.RunDelaySeconds(proc.PID())
	drainSeconds := time.Since(start).Seconds()
	hwm, err := harness.StatusKiB(proc.PID(), "VmHWM")
	if err != nil {
		return res, sink, err
	}
	res.PeakAnonMiB = float64(anon.Stop()) / 1024
	got := p.Delivered(sink, sig)

	res.Seconds = loadSeconds
	res.Requests, res.FailedRequests, res.LastError = st.Requests, st.FailedRequests, st.LastError
	res.Sent, res.Acked, res.Delivered = byName(st.SentItems), byName(st.AckedItems), byName(got.Unique)
	res.DeliveredItems = got.Items
	res.Duplicates = got.TotalDuplicates()
	res.SinkBytes = got.Bytes
	res.Throughput = float64(st.Acked()) / loadSeconds
	res.CPUSeconds = cpu1 - cpu0
	if st.Acked() > 0 {
		res.CPUPerMillion = res.CPUSeconds / float64(st.Acked()) * 1e6
	}
	res.CPUPercent = 100 * res.CPUSeconds / loadSeconds
	res.CPUWaitPercent = 100 * (wait1 - wait0) / drainSeconds
	res.LoadCPUPercent = 100 * (self1 - self0) / loadSeconds
	res.PeakRSSMiB = float64(hwm) / 1024
	res.ExpectedDelivered, res.Loss, res.Unexpected = evaluate(p, expect, st, got)
	res.LossOK = res.Loss <= MaxLoss && res.Unexpected == 0
	if f := sink.DecodeFailures(); len(f) > 0 {
		return res, sink, fmt.Errorf("sink could not decode what the collector sent: %s", f[0])
	}
	return res, sink, nil
}

// drain waits until everything expected arrived, bounded by a deadline. Sampled classes have no
// exact total: once every must-keep item is in, the sink only has to stay unchanged for a short
// settle period. While must-keep items are still missing the collector may just be slow (a
// starved core, a batch timeout), so the quiet period that ends the wait is longer.
func (r *Runner) drain(ctx context.Context, p Pipeline, sig loadgen.Signal, sink *sinks.Sink, st loadgen.Stats, expect map[loadgen.Class]float64, proc *harness.Process, faulty bool) {
	settle, incomplete := 1500*time.Millisecond, 6*time.Second
	switch {
	case faulty:
		// Exporters retry refused requests after 5s, then 7.5s (exporterhelper's defaults,
		// with jitter): quiet periods that long do not mean the pipeline is done.
		incomplete = 15 * time.Second
	case p.Aggregated:
		// Aggregating components flush on an interval (1s in the configs): wait for two.
		settle = 3 * time.Second
	}
	sampled := false
	for _, f := range expect {
		if f > 0 && f < 1 {
			sampled = true
		}
	}
	complete := func(got sinks.Counts) bool {
		if p.Aggregated {
			return got.Items >= st.Acked()
		}
		for c, a := range st.AckedItems {
			if expect[c] == 1 && got.Unique[c] < a {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(incomplete + 30*time.Second)
	last, lastChange := p.Delivered(sink, sig).Items, time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) && !proc.Exited() {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		got := p.Delivered(sink, sig)
		done := complete(got)
		if done && !sampled {
			return
		}
		if got.Items != last {
			last, lastChange = got.Items, time.Now()
			continue
		}
		quiet := time.Since(lastChange)
		if (done && quiet >= settle) || quiet >= incomplete {
			return
		}
	}
}

// evaluate compares what arrived with what the expected rates allow.
func evaluate(p Pipeline, expect map[loadgen.Class]float64, st loadgen.Stats, got sinks.Counts) (expected, loss float64, unexpected uint64) {
	if p.Aggregated {
		acked := float64(st.Acked())
		missing := math.Max(0, acked-float64(got.Items))
		if acked == 0 {
			return 0, 0, 0
		}
		return acked, missing / acked, 0
	}
	var missing float64
	for cl, a := range st.AckedItems {
		f, ok := expect[cl]
		d := float64(got.Unique[cl])
		switch {
		case !ok || f == 0:
			unexpected += got.Unique[cl]
		case f >= 1:
			expected += float64(a)
			missing += math.Max(0, float64(a)-d)
		default:
			e := float64(a) * f
			expected += e
			sd := math.Sqrt(float64(max(p.Cluster, 1)) * float64(a) * f * (1 - f))
			missing += math.Max(0, e-d-4*sd)
		}
	}
	if expected == 0 {
		return 0, 0, unexpected
	}
	return expected, missing / expected, unexpected
}

func byName(m map[loadgen.Class]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(m))
	for c, n := range m {
		out[c.String()] = n
	}
	return out
}

// Saturation is the outcome of a saturation search.
type Saturation struct {
	// Best is the fastest run within MaxLoss; when no run qualified, the last attempt.
	Best     Result   `json:"best"`
	Found    bool     `json:"found"`
	Attempts []Result `json:"attempts"`
}

// Saturate finds the throughput the collector sustains with at most MaxLoss unexplained loss:
// first as fast as it accepts (closed loop); when that loses items, at fixed rates stepping
// down from what it accepted.
func (r *Runner) Saturate(ctx context.Context, p Pipeline, c Collector, load Load, steps int) (Saturation, error) {
	var s Saturation
	load.Rate = 0
	for i := 0; i <= steps; i++ {
		res, err := r.Run(ctx, p, c, load)
		if err != nil {
			return s, err
		}
		s.Attempts = append(s.Attempts, res)
		r.logf("  %-16s %-8s rate=%-8s -> %8.0f items/s loss=%.4f%% cpu=%.0f%% cpu-wait=%.0f%% rss=%.0fMiB anon=%.0fMiB load-cpu=%.0f%%",
			p.Name, c, rateLabel(load.Rate), res.Throughput, 100*res.Loss, res.CPUPercent, res.CPUWaitPercent, res.PeakRSSMiB, res.PeakAnonMiB, res.LoadCPUPercent)
		// A fixed-rate run that could not keep its rate did not sustain it, lossless or not.
		kept := load.Rate == 0 || res.Throughput >= 0.95*load.Rate
		if res.LossOK && kept {
			s.Best, s.Found = res, true
			return s, nil
		}
		s.Best = res
		if load.Rate == 0 {
			load.Rate = 0.8 * res.Throughput
		} else {
			load.Rate *= 0.7
		}
	}
	return s, nil
}

func rateLabel(r float64) string {
	if r == 0 {
		return "max"
	}
	return fmt.Sprintf("%.0f", r)
}
