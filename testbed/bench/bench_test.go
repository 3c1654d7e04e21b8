package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sieveobs/sieve/testbed/loadgen"
	"github.com/sieveobs/sieve/testbed/sinks"
)

func TestEvaluate(t *testing.T) {
	p, err := PipelineByName("logs-tiered")
	require.NoError(t, err)
	acked := map[loadgen.Class]uint64{loadgen.ClassKeep: 1000, loadgen.ClassWarn: 10000, loadgen.ClassInfo: 100000, loadgen.ClassNoUID: 500}
	st := loadgen.Stats{AckedItems: acked}
	for _, tc := range []struct {
		name       string
		delivered  map[loadgen.Class]uint64
		loss       float64
		unexpected uint64
	}{
		// Warn and info sampled out at their rates, within noise: nothing unexplained.
		{"on rate", map[loadgen.Class]uint64{loadgen.ClassKeep: 1000, loadgen.ClassWarn: 990, loadgen.ClassInfo: 95}, 0, 0},
		// Two must-keep items missing out of 1000+1000+100 expected.
		{"keep missing", map[loadgen.Class]uint64{loadgen.ClassKeep: 998, loadgen.ClassWarn: 1000, loadgen.ClassInfo: 100}, 2.0 / 2100, 0},
		// Warn far below its rate: the shortfall beyond 4 sigma (4*30=120) is unexplained.
		{"warn short", map[loadgen.Class]uint64{loadgen.ClassKeep: 1000, loadgen.ClassWarn: 580, loadgen.ClassInfo: 100}, 300.0 / 2100, 0},
		{"no-uid kept", map[loadgen.Class]uint64{loadgen.ClassKeep: 1000, loadgen.ClassWarn: 1000, loadgen.ClassInfo: 100, loadgen.ClassNoUID: 3}, 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp, loss, unexpected := evaluate(p, p.Expect[Sieve], st, sinks.Counts{Unique: tc.delivered})
			require.InDelta(t, 2100, exp, 1e-9)
			require.InDelta(t, tc.loss, loss, 1e-9)
			require.Equal(t, tc.unexpected, unexpected)
		})
	}

	h, err := PipelineByName("span-histograms")
	require.NoError(t, err)
	_, loss, _ := evaluate(h, h.Expect[Sieve], loadgen.Stats{AckedItems: map[loadgen.Class]uint64{loadgen.ClassSampled: 1000}}, sinks.Counts{Items: 990})
	require.InDelta(t, 0.01, loss, 1e-9)
}

func TestEveryPipelineHasBothConfigs(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, WriteConfigs(dir))
	for _, p := range Pipelines() {
		for _, c := range []Collector{Sieve, Baseline} {
			require.FileExists(t, dir+"/"+p.Configs[c], "%s/%s", p.Name, c)
			require.NotEmpty(t, p.Expect[c], "%s/%s", p.Name, c)
		}
	}
}

func TestMarkdownMarksUnavailable(t *testing.T) {
	r := Report{Machine: Machine{CPU: "test", Cores: 2}, Settings: map[string]any{"collector_cpus": "0", "load_cpus": "1"}}
	base := Summarise([]Saturation{{Found: true, Best: Result{Throughput: 1000, CPUPerMillion: 2, PeakRSSMiB: 50, PeakAnonMiB: 20, IdleAnonMiB: 8}}})
	sieve := Summarise([]Saturation{{Found: true, Best: Result{Throughput: 2000, CPUPerMillion: 1, PeakRSSMiB: 40, PeakAnonMiB: 30, IdleAnonMiB: 16}}})
	both := PipelineReport{Title: "Both", Sieve: sieve, Baseline: base}
	both.ComputeRatios()
	broken := PipelineReport{Title: "Broken", Sieve: Side{Available: true, Failed: "collector exited during start-up"}, Baseline: base}
	broken.ComputeRatios()
	r.Pipelines = []PipelineReport{both, {Title: "Missing", Sieve: Side{Reason: "not available in this build"}, Baseline: base}, broken}
	var b bytes.Buffer
	require.NoError(t, r.WriteMarkdown(&b))
	require.Contains(t, b.String(), "| Both | 2000 | 1000 | 2.00 | 1.00 | 2.00 | 0.50 | 40 | 50 | 0.80 | 30 | 20 | 1.50 | 16 | 8 |  |")
	require.Contains(t, b.String(), "| Missing | n/a | 1000 | — | n/a | 2.00 | — | n/a | 50 | — | n/a | 20 | — | n/a | 8 | Sieve: not available in this build |")
	require.Contains(t, b.String(), "| Broken | failed | 1000 | — | failed | 2.00 | — | failed | 50 | — | failed | 20 | — | failed | 8 | Sieve: run failed (collector exited during start-up) |")
}

func TestGCEnvironment(t *testing.T) {
	gcRows := 0
	for _, p := range Pipelines() {
		set, unset := gcEnvironment(p)
		if !p.GCDefaults {
			require.Equal(t, map[string]string{"GOGC": "100"}, set, p.Name)
			require.Empty(t, unset, p.Name)
			continue
		}
		gcRows++
		require.Empty(t, set, p.Name)
		require.ElementsMatch(t, []string{"GOGC", "GOMEMLIMIT"}, unset, p.Name)
		require.NotEmpty(t, p.Note, "%s: a GC-default row must say so", p.Name)
	}
	require.Equal(t, 1, gcRows)
}

// The GC-default row is logs-tiered with go_memory_limit added on Sieve's side: same load, same
// expectations, same baseline config.
func TestGCDefaultRowIsLogsTiered(t *testing.T) {
	plain, err := PipelineByName("logs-tiered")
	require.NoError(t, err)
	gc, err := PipelineByName("logs-tiered-gc-default")
	require.NoError(t, err)
	require.Equal(t, plain.Signal, gc.Signal)
	require.Equal(t, plain.Expect, gc.Expect)
	require.Equal(t, plain.Configs[Baseline], gc.Configs[Baseline])

	dir := t.TempDir()
	require.NoError(t, WriteConfigs(dir))
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		return string(b)
	}
	withoutComments := func(s string) string {
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.HasPrefix(l, "#") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	sieve := withoutComments(read(gc.Configs[Sieve]))
	require.Contains(t, sieve, "go_memory_limit")
	want := withoutComments(read(plain.Configs[Sieve]))
	// Without the extension's two mentions the configs are the same.
	sieve = strings.Replace(sieve, "  go_memory_limit:\n    gc_percent: 200\n", "", 1)
	sieve = strings.Replace(sieve, "extensions: [go_memory_limit, ", "extensions: [", 1)
	require.Equal(t, want, sieve)
}

func TestMarkdownShowsNoteAndGOGC(t *testing.T) {
	r := Report{Machine: Machine{CPU: "test", Cores: 2}, Settings: map[string]any{"collector_cpus": "0", "load_cpus": "1"}}
	side := Summarise([]Saturation{{Found: true, Best: Result{Throughput: 1000, CPUPerMillion: 2, PeakRSSMiB: 50, PeakAnonMiB: 20}}})
	p := PipelineReport{Title: "GC row", Note: "each collector with its own GC defaults", Sieve: side, Baseline: side}
	p.ComputeRatios()
	r.Pipelines = []PipelineReport{p}
	var b bytes.Buffer
	require.NoError(t, r.WriteMarkdown(&b))
	require.Contains(t, b.String(), "| 1.00 | 0 | 0 | each collector with its own GC defaults |")
	require.Contains(t, b.String(), "Both collectors run with GOGC=100 unless a row's note says otherwise")
}
