package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sieveobs/sieve/dashboards/mixin"
	"github.com/sieveobs/sieve/testbed/backends"
	"github.com/sieveobs/sieve/testbed/demoapp"
	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/sieveproc"
)

// faultOnly are catalogued metrics that the collector creates only when the fault they count
// happens, and that this run cannot cause: the debug exporter never fails, no queue fills up in
// seconds, the demo's labels stay under the Loki cardinality guard and its spans under the
// histogram cardinality limit, with valid durations. Their names are checked against the upstream metadata.yaml by the dashboards unit
// tests; the panels showing them also query series that this run does produce.
var faultOnly = map[string]string{
	mixin.ExporterFailed[mixin.SignalTraces].Name:         "the demo's traces go to the debug exporter, which cannot fail",
	mixin.ExporterEnqueueFailed[mixin.SignalLogs].Name:    "needs a full sending queue",
	mixin.ExporterEnqueueFailed[mixin.SignalTraces].Name:  "needs a full sending queue",
	mixin.ExporterEnqueueFailed[mixin.SignalMetrics].Name: "needs a full sending queue",
	mixin.LokiLabelsDemoted.Name:                          "needs a label over the cardinality guard's limit",
	mixin.FineOverflowed.Name:                             "needs a histogram over its cardinality limit",
	mixin.FineDropped.Name:                                "needs an invalid observation",
	mixin.PolicySourceErrors.Name:                         "needs the policy source to fail",
	mixin.TraceEarlyDecisions.Name:                        "needs a full tail buffer, a trace older than max_trace_age or a shutdown",
	mixin.TraceLateSpans.Name:                             "needs a span arriving after its trace's decision, which the demo's batch timing does not guarantee (tail_test.go sends them)",
}

// builtComponents runs `bin/sieve components` and returns "kind/type" -> module for everything
// in the build.
func builtComponents(t *testing.T) map[string]string {
	t.Helper()
	bin, err := harness.SieveBinary()
	require.NoError(t, err)
	out, err := exec.Command(bin, "components").Output()
	require.NoError(t, err, "sieve components")
	comps := map[string]string{}
	kind, name := "", ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case !strings.HasPrefix(line, " ") && strings.HasSuffix(line, ":"):
			kind = strings.TrimSuffix(line, ":")
		case strings.HasPrefix(trimmed, "- name: "):
			name = strings.TrimPrefix(trimmed, "- name: ")
			comps[kind+"/"+name] = ""
		case strings.HasPrefix(trimmed, "module: ") && name != "":
			comps[kind+"/"+name] = strings.TrimPrefix(trimmed, "module: ")
		}
	}
	require.NotEmpty(t, comps, "no components listed by %s components", bin)
	return comps
}

func inBuild(comps map[string]string, c mixin.Component) bool {
	if c == mixin.Core {
		return true
	}
	mod, ok := comps[c.Kind+"/"+c.Type]
	if !ok {
		return false
	}
	return !c.Sieve || strings.HasPrefix(mod, "github.com/sieveobs/sieve")
}

// rejectingProxy forwards to target but refuses the first n requests with 400, as Loki does for
// a batch it will not ingest: a permanent error, counted in the exporter's failure series that
// the pipeline dashboard shows (retryable errors are retried forever by the demo config and
// never counted as failed).
func rejectingProxy(t *testing.T, target string, n int64) string {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(u)
	var seen atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) <= n {
			http.Error(w, "rejected by the test", http.StatusBadRequest)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

var labelValuesRE = regexp.MustCompile(`^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// regexOf formats values the way Grafana interpolates a multi-value variable into a regex
// inside a double-quoted PromQL or LogQL string: regex-escaped, the backslashes doubled.
func regexOf(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = strings.ReplaceAll(regexp.QuoteMeta(v), `\`, `\\`)
	}
	sort.Strings(q)
	return "(" + strings.Join(q, "|") + ")"
}

func hasData(res []backends.Sample) bool {
	for _, s := range res {
		if s.Histogram != nil || !math.IsNaN(s.Value) {
			return true
		}
	}
	return false
}

// TestDashboardQueriesReturnData runs the demo traffic through bin/sieve into real Loki and
// Prometheus (which scrapes Sieve's own telemetry and loads the generated rules), resolves every
// dashboard variable against them as Grafana would, and requires every panel query whose
// metrics come from a component in bin/sieve to return data. Queries on components not in the
// build are listed and skipped.
func TestDashboardQueriesReturnData(t *testing.T) {
	cfg := mixin.Defaults()
	comps := builtComponents(t)

	// Sieve's telemetry port must be in Prometheus' scrape config before Prometheus starts, and
	// Sieve needs Prometheus' URL: reserve the port first.
	ports, err := harness.FreePorts(1)
	require.NoError(t, err)
	telemetryPort := ports[0]

	loki := backends.StartLoki(t, backends.LokiOptions{})
	// The demo's kept traces go to Jaeger: the exporter panels need its sends to succeed.
	jaeger := backends.StartJaeger(t, backends.JaegerOptions{})
	prom := backends.StartPrometheus(t, backends.PrometheusOptions{
		ScrapeTargets:  []string{fmt.Sprintf("127.0.0.1:%d", telemetryPort)},
		ScrapeInterval: time.Second,
		RuleFiles: []string{
			harness.RepoPath("dashboards/rules/recording.yaml"),
			harness.RepoPath("dashboards/rules/alerts.yaml"),
			harness.RepoPath("dashboards/rules/thresholds.yaml"),
		},
	})
	ctx := context.Background()
	// A policy file of the test's own, so that a version can be refused and another applied.
	policy, err := os.ReadFile(harness.RepoPath("configs/policy.yaml"))
	require.NoError(t, err)
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(policyFile, policy, 0o600))

	// The first requests to each backend are refused so that the failure series exist.
	lokiProxy := rejectingProxy(t, loki.URL, 3)
	promProxy := rejectingProxy(t, prom.URL, 2)
	sieve := sieveproc.StartT(t, sieveproc.Options{
		Config: harness.RepoPath("configs/demo.yaml"),
		Env: map[string]string{
			"SIEVE_LOKI_OTLP_URL":        lokiProxy + "/otlp",
			"SIEVE_LOKI_PUSH_URL":        lokiProxy + "/loki/api/v1/push",
			"SIEVE_PROMETHEUS_RW_URL":    promProxy + "/api/v1/write",
			"SIEVE_TRACES_OTLP_ENDPOINT": jaeger.OTLPGRPC,
			"SIEVE_TELEMETRY_PORT":       fmt.Sprint(telemetryPort),
			"SIEVE_POLICY_FILE":          policyFile,
			// Span histograms are written at every flush; the default 30s outlasts the traffic.
			"SIEVE_HISTOGRAM_FLUSH_INTERVAL": "1s",
		},
	})
	// An invalid version is refused (the previous one stays), then a new valid one is applied:
	// the policy panels and annotation have a change and a refusal to show.
	telemetry := fmt.Sprintf("http://127.0.0.1:%d/metrics", telemetryPort)
	require.True(t, waitFor(60*time.Second, func() bool {
		res, err := prom.Query(ctx, mixin.PolicyActiveHash.Name, time.Now())
		return err == nil && len(res) > 0
	}), "prometheus never scraped the policy hash")
	require.NoError(t, os.WriteFile(policyFile, []byte("version: [broken\n"), 0o600))
	require.True(t, waitFor(30*time.Second, func() bool { return exported(telemetry, mixin.PolicyRefused.Name) }),
		"sieve did not refuse the invalid policy version")
	next := strings.Replace(string(policy), "\nversion: ", "\nversion: dashboards-", 1)
	require.NotEqual(t, string(policy), next, "configs/policy.yaml has no version line")
	require.NoError(t, os.WriteFile(policyFile, []byte(next), 0o600))

	// Long enough for three span batches from the SDKs (every 5s), so that rates over the run
	// are not only a counter's first value.
	trafficCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	stats := &demoapp.Stats{}
	require.NoError(t, demoapp.Run(trafficCtx, demoapp.Config{Endpoint: sieve.OTLPGRPC, Rate: 50, MetricInterval: time.Second}, stats))
	require.Positive(t, stats.Requests.Load())
	// Every query is evaluated at one instant just after the traffic, as a dashboard opened then
	// would be: later, the one-minute rate windows would hold no traffic any more. The last
	// batches, histogram flushes and scrapes land within a few seconds; the checks below poll
	// until the backends have them.
	at := time.Now().Add(3 * time.Second)

	// Every catalogued metric of a component in the build is really exported.
	var notBuilt, missing []string
	ok := waitFor(90*time.Second, func() bool {
		names, err := prom.MetricNames(ctx)
		if err != nil {
			return false
		}
		have := map[string]bool{}
		for _, n := range names {
			have[n] = true
		}
		notBuilt = notBuilt[:0]
		missing = missing[:0]
		for _, m := range mixin.Catalog() {
			if !inBuild(comps, m.Source) {
				notBuilt = append(notBuilt, fmt.Sprintf("%s (%s %s)", m.Name, m.Source.Kind, m.Source.Type))
				continue
			}
			if _, ok := faultOnly[m.Name]; ok {
				continue
			}
			if !have[m.Name] && !(m.Histogram && have[m.Bucket()]) {
				missing = append(missing, fmt.Sprintf("%s (%s %s)", m.Name, m.Source.Kind, m.Source.Type))
			}
		}
		return len(missing) == 0
	})
	require.True(t, ok, "metrics used by the dashboards whose component is in bin/sieve but which Prometheus never received "+
		"(is the component used by configs/demo.yaml? does the metric only exist after a fault? then list it in faultOnly):\n  %s",
		strings.Join(missing, "\n  "))
	for name, why := range faultOnly {
		t.Logf("%s: not produced by this run (%s)", name, why)
	}

	dashboards, err := mixin.Dashboards(cfg)
	require.NoError(t, err)
	var skipped []string
	for file, d := range dashboards {
		t.Run(file, func(t *testing.T) {
			vars := resolveVariables(t, ctx, cfg, comps, d, prom, loki, at)
			for _, q := range mixin.Queries(d) {
				var absent []string
				for _, m := range mixin.MetricsIn(cfg, q.Expr) {
					if !inBuild(comps, m.Source) {
						absent = append(absent, fmt.Sprintf("%s %s", m.Source.Kind, m.Source.Type))
					}
				}
				where := fmt.Sprintf("%s / %q / %s", file, q.Panel, q.RefID)
				t.Run(q.Panel+"/"+q.RefID, func(t *testing.T) {
					if len(absent) > 0 {
						skipped = append(skipped, fmt.Sprintf("%s (needs %s)", where, strings.Join(uniq(absent), ", ")))
						t.Skipf("needs %s, not in bin/sieve", strings.Join(uniq(absent), ", "))
					}
					expr := mixin.Substitute(q.Expr, vars, "1m")
					var lastErr error
					ok := waitFor(30*time.Second, func() bool {
						switch {
						case q.Datasource == mixin.PrometheusType:
							res, err := prom.Query(ctx, expr, at)
							lastErr = err
							return err == nil && hasData(res)
						case q.LogQuery:
							res, err := loki.QueryRange(ctx, "", expr, at.Add(-10*time.Minute), at)
							lastErr = err
							return err == nil && len(res) > 0 && len(res[0].Entries) > 0
						default:
							res, err := loki.QueryMetric(ctx, "", expr, at)
							lastErr = err
							return err == nil && hasData(res)
						}
					})
					if !ok {
						t.Errorf("%s returned no data (last error: %v):\n%s", where, lastErr, expr)
					}
				})
			}
		})
	}
	sort.Strings(skipped)
	sort.Strings(notBuilt)
	if len(skipped) > 0 {
		t.Logf("queries not checked because their source is not in bin/sieve yet:\n  %s\nmetrics of those components:\n  %s",
			strings.Join(skipped, "\n  "), strings.Join(notBuilt, "\n  "))
	}
}

// resolveVariables queries each variable's values the way Grafana fills its drop-down, and
// selects all of them.
func resolveVariables(t *testing.T, ctx context.Context, cfg mixin.Config, comps map[string]string, d *mixin.Dashboard, prom *backends.Prometheus, loki *backends.Loki, at time.Time) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for _, v := range mixin.Variables(d) {
		switch {
		case v.Type == "datasource":
		case v.Type == "custom":
			vars[v.Name] = regexOf(strings.Split(v.Query, ","))
		case v.Datasource == mixin.LokiType:
			var values []string
			ok := waitFor(60*time.Second, func() bool {
				var err error
				label := strings.TrimSuffix(strings.TrimPrefix(v.Query, "label_values("), ")")
				values, err = loki.LabelValues(ctx, "", label, at.Add(-time.Hour), at)
				return err == nil && len(values) > 0
			})
			require.True(t, ok, "variable %s (%s) has no values in Loki", v.Name, v.Query)
			vars[v.Name] = regexOf(values)
		default:
			m := labelValuesRE.FindStringSubmatch(v.Query)
			require.NotNil(t, m, "variable %s: unexpected query %q", v.Name, v.Query)
			selector, label := mixin.Substitute(m[1], vars, "1m"), m[2]
			metrics := mixin.MetricsIn(cfg, selector)
			required := label != cfg.ClusterLabel
			for _, mm := range metrics {
				required = required && inBuild(comps, mm.Source)
			}
			var values []string
			ok := waitFor(60*time.Second, func() bool {
				res, err := prom.Query(ctx, fmt.Sprintf("group by (%s) (%s)", label, selector), at)
				if err != nil {
					return false
				}
				values = values[:0]
				for _, s := range res {
					if val := s.Metric[label]; val != "" {
						values = append(values, val)
					}
				}
				return len(values) > 0 || !required
			})
			require.True(t, ok, "variable %s (%s) has no values", v.Name, v.Query)
			if len(values) == 0 {
				// No values (e.g. no cluster label on a single cluster): "All" expands to allValue.
				vars[v.Name] = v.AllValue
			} else {
				vars[v.Name] = regexOf(values)
			}
		}
	}
	return vars
}

// exported reports whether Sieve's telemetry endpoint currently exports a metric.
func exported(url, name string) bool {
	m, err := harness.Scrape(context.Background(), nil, url)
	return err == nil && m.Has(name)
}

// waitFor polls cond until it holds or the timeout passes: backends ingest asynchronously.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Second)
	}
}

func uniq(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
