package harness

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const exposition = `# HELP otelcol_exporter_sent_log_records_total Log records sent.
# TYPE otelcol_exporter_sent_log_records_total counter
otelcol_exporter_sent_log_records_total{exporter="loki",service_name="sieve"} 120
otelcol_exporter_sent_log_records_total{exporter="otlp",service_name="sieve"} 3
otelcol_exporter_queue_size{exporter="loki"} 7 1712345678000
otelcol_process_uptime 42.5
otelcol_odd{path="/a,b",msg="say \"hi\", then {go}"} 2
otelcol_odd{path="/c"} 5
otelcol_exporter_sent_log_records_totally_different 1000

`

func TestParseAndSum(t *testing.T) {
	m, err := Parse(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 7 {
		t.Fatalf("parsed %d samples, want 7: %+v", len(m), m)
	}
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		// With and without the _total suffix, never a longer name sharing the prefix.
		{"otelcol_exporter_sent_log_records", nil, 123},
		{"otelcol_exporter_sent_log_records_total", nil, 123},
		{"otelcol_exporter_sent_log_records", []string{"exporter", "loki"}, 120},
		// A timestamp after the value is not the value.
		{"otelcol_exporter_queue_size", nil, 7},
		{"otelcol_process_uptime", nil, 42.5},
		// Commas, quotes and braces inside label values.
		{"otelcol_odd", []string{"path", "/a,b"}, 2},
		{"otelcol_odd", []string{"msg", `say "hi", then {go}`}, 2},
		{"otelcol_odd", nil, 7},
		{"otelcol_missing", nil, 0},
	} {
		if got := m.Sum(tc.name, tc.labels...); got != tc.want {
			t.Errorf("Sum(%s, %q) = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if !m.Has("otelcol_exporter_sent_log_records") || !m.Has("otelcol_process_uptime") || m.Has("otelcol_exporter_sent") {
		t.Error("Has must match whole names, with or without _total")
	}
}

func TestParseRejectsBrokenLines(t *testing.T) {
	for _, line := range []string{`a{b="c" 1`, `a{b="c"}`, `a{b="c"} x`} {
		if _, err := Parse(strings.NewReader(line)); err == nil {
			t.Errorf("%q parsed without error", line)
		}
	}
}

func TestProcstatOfThisProcess(t *testing.T) {
	pid := os.Getpid()
	// Burn a little CPU so the counter has moved past zero.
	deadline := time.Now().Add(50 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	cpu, err := CPUSeconds(pid)
	if err != nil || cpu <= 0 {
		t.Fatalf("CPUSeconds = %v, %v", cpu, err)
	}
	rss, err := StatusKiB(pid, "VmRSS")
	if err != nil || rss == 0 {
		t.Fatalf("StatusKiB(VmRSS) = %v, %v", rss, err)
	}
	hwm, err := StatusKiB(pid, "VmHWM")
	if err != nil || hwm < rss {
		t.Fatalf("StatusKiB(VmHWM) = %v, %v; VmRSS %v", hwm, err, rss)
	}
	if _, err := StatusKiB(pid, "NoSuchField"); err == nil {
		t.Fatal("a missing field must be an error")
	}
	if _, err := RunDelaySeconds(pid); err != nil {
		t.Fatal(err)
	}
}

// WatchPeak must report a peak that is gone by the time it stops: 64 MiB touched, seen by the
// sampler, then released.
func TestWatchPeakSeesTransientMemory(t *testing.T) {
	before, err := StatusKiB(os.Getpid(), "RssAnon")
	require.NoError(t, err)
	w, err := WatchPeak(os.Getpid(), "RssAnon", 5*time.Millisecond)
	require.NoError(t, err)
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	const grown = 60 << 10 // kB
	require.Eventually(t, func() bool { return w.Peak() >= before+grown }, 5*time.Second, 5*time.Millisecond)
	runtime.KeepAlive(buf)
	buf = nil
	debug.FreeOSMemory()
	after, err := StatusKiB(os.Getpid(), "RssAnon")
	require.NoError(t, err)
	peak := w.Stop()
	require.GreaterOrEqual(t, peak, before+grown, "the 64 MiB must show in the peak")
	require.Greater(t, peak, after, "the peak outlives the memory (now %d kB)", after)
}

func TestProcessStopAndLog(t *testing.T) {
	log := filepath.Join(t.TempDir(), "child.log")
	// The child ignores SIGTERM, so Stop has to kill it after the grace period.
	p, err := Start(Spec{Name: "stubborn", Path: "sh", Args: []string{"-c", `trap "" TERM; echo "$GREETING"; while :; do sleep 0.05; done`},
		Env: map[string]string{"GREETING": "hello from the child"}, LogPath: log})
	if err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(p.LogTail(5), "hello from the child") {
		if p.Wait(20 * time.Millisecond) {
			t.Fatalf("child exited: %v", p.ExitError())
		}
	}
	if err := p.Stop(200 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "stubborn") {
		t.Fatalf("Stop = %v, want a report that the child was killed", err)
	}
	if !p.Exited() || p.ExitError() == nil {
		t.Fatal("the killed child must have exited with an error")
	}
	ports, err := FreePorts(4)
	if err != nil || len(ports) != 4 {
		t.Fatalf("FreePorts = %v, %v", ports, err)
	}
}

func TestProcessUnsetsInheritedVariables(t *testing.T) {
	t.Setenv("SIEVE_TEST_DROPPED", "inherited")
	t.Setenv("SIEVE_TEST_KEPT", "inherited")
	log := filepath.Join(t.TempDir(), "child.log")
	p, err := Start(Spec{Name: "env", Path: "sh", Args: []string{"-c", `echo "dropped=${SIEVE_TEST_DROPPED-unset} kept=$SIEVE_TEST_KEPT"`},
		Unset: []string{"SIEVE_TEST_DROPPED"}, LogPath: log})
	require.NoError(t, err)
	require.True(t, p.Wait(10*time.Second))
	require.Contains(t, p.LogTail(5), "dropped=unset kept=inherited")
}
