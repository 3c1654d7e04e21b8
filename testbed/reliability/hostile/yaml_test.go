package hostile

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/sieveproc"
)

// aliasBomb is the billion laughs: 9 levels of 9 references, 9^9 strings once expanded.
func aliasBomb(indent string) string {
	var b strings.Builder
	b.WriteString(indent + `l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]` + "\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "%sl%d: &l%d [", indent, i, i)
		for j := 0; j < 9; j++ {
			if j > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

// deepNesting is a value nested far deeper than any real document.
func deepNesting(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth)
}

// sieveRun is the outcome of one bin/sieve invocation.
type sieveRun struct {
	out     string
	err     error
	elapsed time.Duration
	maxRSS  int64
}

// runSieve runs bin/sieve to completion with every endpoint on a free loopback port, and
// reports its peak resident memory as the kernel accounted it.
func runSieve(t *testing.T, env map[string]string, args ...string) sieveRun {
	t.Helper()
	bin, err := harness.SieveBinary()
	require.NoError(t, err)
	ports, err := harness.FreePorts(sieveproc.NumPorts)
	require.NoError(t, err)
	all := sieveproc.Env(ports, t.TempDir())
	for k, v := range env {
		all[k] = v
	}
	start := time.Now()
	p, err := harness.Start(harness.Spec{Name: "sieve", Path: bin, Args: args, Env: all, LogPath: filepath.Join(t.TempDir(), "sieve.log")})
	require.NoError(t, err)
	// A case that hangs fails instead of blocking the package.
	timer := time.AfterFunc(time.Minute, func() { _ = p.Kill() })
	defer timer.Stop()
	// The kernel's rusage of a child also counts the parent's memory it shared until exec, so
	// the peak is read from the child's own high-water mark while it runs; a runaway
	// allocation takes far longer than the sampling period to reach any size that matters.
	hwm, _ := harness.WatchPeak(p.PID(), "VmHWM", 5*time.Millisecond)
	<-p.Done()
	out, _ := os.ReadFile(p.LogPath())
	r := sieveRun{err: p.ExitError(), elapsed: time.Since(start), out: string(out), maxRSS: int64(hwm.Stop()) << 10}
	require.Positive(t, r.maxRSS, "the child's memory could not be read")
	return r
}

// minimalConfig is a valid configuration with one Sieve component of each kind, into which the
// cases below inject their hostile section.
const minimalConfig = `
extensions:
  health_check:
    endpoint: ${env:SIEVE_HEALTH_ENDPOINT}
  sampling_policy:
    file:
      path: ${env:SIEVE_POLICY_FILE}
    server:
      endpoint: ${env:SIEVE_SAMPLING_ENDPOINT}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: ${env:SIEVE_OTLP_GRPC_ENDPOINT}
processors:
  tiered_sampling:
    required_attributes: [uid]
  trace_sampling:
    policy: sampling_policy
connectors:
  fine_histogram:
    dimensions: [http.route]
exporters:
  loki:
    endpoint: http://127.0.0.1:1/loki/api/v1/push
  prometheus_remote_write:
    endpoint: http://127.0.0.1:1/api/v1/write
service:
  extensions: [health_check, sampling_policy]
  telemetry:
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [otlp]
      processors: [tiered_sampling]
      exporters: [loki]
    traces:
      receivers: [otlp]
      processors: [trace_sampling]
      exporters: [fine_histogram]
    metrics:
      receivers: [fine_histogram]
      exporters: [prometheus_remote_write]
`

// inject replaces the first line equal to anchor (trimmed) in minimalConfig by replacement,
// keeping the anchor's indentation for every line of the replacement.
func inject(t *testing.T, anchor, replacement string) string {
	t.Helper()
	lines := strings.Split(minimalConfig, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != anchor {
			continue
		}
		indent := l[:len(l)-len(strings.TrimLeft(l, " "))]
		var repl []string
		for _, r := range strings.Split(strings.TrimRight(replacement, "\n"), "\n") {
			repl = append(repl, indent+r)
		}
		return strings.Join(append(append(append([]string{}, lines[:i]...), repl...), lines[i+1:]...), "\n")
	}
	t.Fatalf("anchor %q not in the minimal configuration", anchor)
	return ""
}

// TestHostileConfigsAreRefusedQuickly runs `sieve validate` on configurations whose Sieve
// sections hold an alias bomb, deep nesting, unknown keys or values of the wrong type: each must
// fail fast, with bounded memory, and with an error naming the culprit. (Unknown and mistyped
// keys of upstream components are covered by the e2e configuration tests.)
func TestHostileConfigsAreRefusedQuickly(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "minimal.yaml")
	require.NoError(t, os.WriteFile(ok, []byte(minimalConfig), 0o600))
	r := runSieve(t, nil, "validate", "--config", ok)
	require.NoError(t, r.err, "the minimal configuration must be valid for the cases to mean anything:\n%s", r.out)
	t.Logf("valid configuration: validated in %v, peak RSS %d MiB", r.elapsed.Round(time.Millisecond), r.maxRSS/mib)
	baseRSS := r.maxRSS

	tests := []struct {
		name        string
		anchor      string
		replacement string
		want        []string // all must appear in the error output
	}{
		{"alias bomb in tiered_sampling", "required_attributes: [uid]", aliasBomb("") + "required_attributes: *l9", []string{"alias"}},
		{"deep nesting in loki", "endpoint: http://127.0.0.1:1/loki/api/v1/push", "endpoint: http://127.0.0.1:1/loki/api/v1/push\nlabels: {static: {a: " + deepNesting(20000) + "}}", []string{"depth"}},
		{"unknown key in tiered_sampling", "required_attributes: [uid]", "required_attribute: [uid]", []string{"tiered_sampling", "required_attribute"}},
		{"unknown key in trace_sampling", "policy: sampling_policy", "policy: sampling_policy\nratee: 0.5", []string{"trace_sampling", "ratee"}},
		{"unknown key in fine_histogram", "dimensions: [http.route]", "dimensions: [http.route]\nflush_intervall: 10s", []string{"fine_histogram", "flush_intervall"}},
		{"unknown key in loki", "endpoint: http://127.0.0.1:1/loki/api/v1/push", "endpoint: http://127.0.0.1:1/loki/api/v1/push\nlabelz: {severity: level}", []string{"loki", "labelz"}},
		{"unknown key in prometheus_remote_write", "endpoint: http://127.0.0.1:1/api/v1/write", "endpoint: http://127.0.0.1:1/api/v1/write\nshard: 2", []string{"prometheus_remote_write", "shard"}},
		{"unknown key in sampling_policy", "endpoint: ${env:SIEVE_SAMPLING_ENDPOINT}", "endpiont: ${env:SIEVE_SAMPLING_ENDPOINT}", []string{"sampling_policy", "endpiont"}},
		{"wrong type in tiered_sampling", "required_attributes: [uid]", "required_attributes: [uid]\nsampling_precision: high", []string{"tiered_sampling", "sampling_precision"}},
		{"wrong type in trace_sampling", "policy: sampling_policy", "rate: half", []string{"trace_sampling", "rate"}},
		{"wrong type in fine_histogram", "dimensions: [http.route]", "dimensions: [http.route]\ncardinality_limit: [1, 2]", []string{"fine_histogram", "cardinality_limit"}},
		{"wrong type in loki", "endpoint: http://127.0.0.1:1/loki/api/v1/push", "endpoint: http://127.0.0.1:1/loki/api/v1/push\ncardinality: {window: soon}", []string{"loki", "window"}},
		{"wrong type in prometheus_remote_write", "endpoint: http://127.0.0.1:1/api/v1/write", "endpoint: http://127.0.0.1:1/api/v1/write\nshards: {two: 2}", []string{"prometheus_remote_write", "shards"}},
		{"wrong type in sampling_policy", "server:", "fallback_rate: all\nserver:", []string{"sampling_policy", "fallback_rate", "float64"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
			require.NoError(t, os.WriteFile(path, []byte(inject(t, tc.anchor, tc.replacement)), 0o600))
			r := runSieve(t, nil, "validate", "--config", path)
			require.Error(t, r.err, "sieve accepted it:\n%s", r.out)
			for _, w := range tc.want {
				require.Contains(t, r.out, w)
			}
			t.Logf("refused in %v, peak RSS %d MiB: %s", r.elapsed.Round(time.Millisecond), r.maxRSS/mib, lastLine(r.out))
			require.Less(t, r.elapsed, 10*time.Second)
			require.Less(t, r.maxRSS, baseRSS+64*mib, "validating a hostile configuration took much more memory than a valid one")
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	l := lines[len(lines)-1]
	if len(l) > 300 {
		l = l[:300] + "…"
	}
	return l
}

// TestHostilePolicyAtStartIsRefused starts the gateway with a bomb for a policy file: the start
// must fail quickly, with bounded memory and an error naming the problem, instead of expanding
// it.
func TestHostilePolicyAtStartIsRefused(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(policy, []byte("default_rate: 0.1\n"+aliasBomb("")+"services: *l9\n"), 0o600))
	r := runSieve(t, map[string]string{"SIEVE_POLICY_FILE": policy}, "--config", harness.RepoPath("configs/gateway.yaml"))
	require.Error(t, r.err, "sieve started with a bomb for a policy:\n%s", r.out)
	require.Contains(t, r.out, "alias")
	t.Logf("start refused in %v, peak RSS %d MiB: %s", r.elapsed.Round(time.Millisecond), r.maxRSS/mib, lastLine(r.out))
	require.Less(t, r.elapsed, 30*time.Second)
	require.Less(t, r.maxRSS, int64(512)*mib)
}

// servedVersion reads the version the sampling_policy extension serves.
func servedVersion(t *testing.T, samplingURL string) string {
	t.Helper()
	resp, err := http.Get(samplingURL + "/policy")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var p struct {
		Version string `json:"version"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
	return p.Version
}

// writeAtomically replaces a file the way configuration management does, so that the watcher
// never reads it half-written.
func writeAtomically(t *testing.T, path string, content []byte) {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, content, 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

// TestHostilePolicyUpdatesAreRefused replaces the live policy file of a running gateway with
// hostile versions: each must be refused and counted while the previous policy keeps being
// served, Sieve's memory must stay bounded, and a valid version must still apply afterwards.
func TestHostilePolicyUpdatesAreRefused(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	shipped, err := os.ReadFile(harness.RepoPath("configs/policy.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(policy, shipped, 0o600))
	sieve, _ := startGateway(t, map[string]string{"SIEVE_POLICY_FILE": policy})
	w := watchRSS(t, sieve.PID())
	good := servedVersion(t, sieve.SamplingURL)
	require.NotEmpty(t, good)

	huge := []byte("default_rate: 0.1\nservices:\n" + strings.Repeat("  svc-"+strings.Repeat("x", 100)+": {rate: 0.5}\n", 50_000))
	for _, tc := range []struct {
		name string
		doc  []byte
	}{
		{"alias bomb", []byte("version: bomb\ndefault_rate: 0.1\n" + aliasBomb("") + "services: *l9\n")},
		{"deep nesting", []byte("version: deep\ndefault_rate: 0.1\nrules: " + deepNesting(50_000) + "\n")},
		{"unknown key", []byte("version: unknown\ndefault_rate: 0.1\nservice:\n  a: {rate: 0.5}\n")},
		{"wrong type", []byte("version: mistyped\ndefault_rate: half\n")},
		{"over 4 MiB", huge},
		{"not yaml", []byte("\x00\xff{{{[[[")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A document the source cannot even read in full (over 4 MiB) is a source error, one
			// it reads but cannot accept is a refusal: either way it is counted.
			rejections := func() float64 {
				return harness.SumAt(t, sieve.TelemetryURL, "otelcol_sampling_policy_refused") +
					harness.SumAt(t, sieve.TelemetryURL, "otelcol_sampling_policy_source_errors")
			}
			before := rejections()
			writeAtomically(t, policy, tc.doc)
			deadline := time.Now().Add(15 * time.Second)
			for rejections() <= before {
				require.True(t, time.Now().Before(deadline), "%s was not refused; sieve log:\n%s", tc.name, sieve.LogTail(20))
				time.Sleep(50 * time.Millisecond)
			}
			require.Equal(t, good, servedVersion(t, sieve.SamplingURL), "the previous policy must stay in effect")
			requireHealthy(t, sieve)
			t.Logf("%d KiB document refused; peak RSS so far %d MiB", len(tc.doc)>>10, w.PeakBytes()/mib)
		})
	}

	// The watcher survived the refusals: a valid version applies.
	writeAtomically(t, policy, []byte("version: after-the-storm\ndefault_rate: 0.2\n"))
	require.Eventually(t, func() bool { return servedVersion(t, sieve.SamplingURL) == "after-the-storm" }, 15*time.Second, 50*time.Millisecond)
	w.Stop()
	t.Logf("Sieve RSS: %d MiB before, peak %d MiB (+%d MiB)", w.FirstBytes()/mib, w.PeakBytes()/mib, (w.PeakBytes()-w.FirstBytes())/mib)
	require.Less(t, w.PeakBytes()-w.FirstBytes(), int64(256)*mib, "refusing hostile policies cost too much memory")
}
