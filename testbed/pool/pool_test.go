// Package pool runs Sieve as the README draws it: one agent (configs/agent.yaml) whose
// load_balancing exporter resolves one DNS name to a pool of gateways (configs/gateway.yaml),
// real Loki and Prometheus behind them, and traffic from the OpenTelemetry Go SDK and zap through
// otelzap. It checks that a pool answers what one gateway answers.
package pool

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/bridges/otelzap"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/sieveobs/sieve/testbed/backends"
	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/sieveproc"
)

// poolHost is the gateways' DNS name as the agent sees it; each agent process gets its own
// /etc/hosts (sieveproc.Options.Hosts) resolving it to one loopback address per gateway.
const poolHost = "sieve-gateways.pool.test"

// hop is one span of every trace of the corpus: frontend calls checkout, which calls payment.
type hop struct {
	service, operation string
	median             float64 // seconds
}

var hops = []hop{
	{"pool-frontend", "GET /checkout", 0.120},
	{"pool-checkout", "POST /orders", 0.060},
	{"pool-payment", "charge", 0.025},
}

// corpus is the durations of every span, per hop, in sending order.
type corpus struct {
	durations [][]float64 // [trace][hop]
}

func newCorpus(traces int) corpus {
	rng := rand.New(rand.NewPCG(15, 3))
	c := corpus{durations: make([][]float64, traces)}
	for i := range c.durations {
		c.durations[i] = make([]float64, len(hops))
		for h, hp := range hops {
			// Lognormal with a heavy tail, as RPC latencies are; P99.9 sits near 6x the median.
			c.durations[i][h] = hp.median * math.Exp(0.6*rng.NormFloat64())
		}
	}
	return c
}

// quantile is the exact q-quantile of what was sent for one hop (nearest rank).
func (c corpus) quantile(h int, q float64) float64 {
	v := make([]float64, len(c.durations))
	for i := range c.durations {
		v[i] = c.durations[i][h]
	}
	sort.Float64s(v)
	return v[int(math.Ceil(q*float64(len(v))))-1]
}

type fleet struct {
	loki     *backends.Loki
	prom     *backends.Prometheus
	jaeger   *backends.Jaeger
	gateways []*sieveproc.Process
	agent    *sieveproc.Process
}

// startFleet starts real Loki and Prometheus (with the shipped recording rules), n gateways on
// 127.0.0.2, 127.0.0.3, ... sharing one port, and an agent resolving poolHost to all of them.
func startFleet(t *testing.T, n int) *fleet { return startFleetWith(t, n, false) }

// startFleetWith also starts a real Jaeger, the gateways' trace backend, when withJaeger is set.
func startFleetWith(t *testing.T, n int, withJaeger bool) *fleet {
	t.Helper()
	f := &fleet{
		loki: backends.StartLoki(t, backends.LokiOptions{}),
		prom: backends.StartPrometheus(t, backends.PrometheusOptions{
			RuleFiles: []string{harness.RepoPath("dashboards/rules/recording.yaml")},
		}),
	}
	if withJaeger {
		j, err := backends.NewJaeger(context.Background(), backends.JaegerOptions{})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, j.Close()) })
		f.jaeger = j
	}
	ports, err := harness.FreePorts(1)
	require.NoError(t, err)
	port := ports[0]
	dir := t.TempDir()
	hosts := "127.0.0.1 localhost\n"
	for i := range n {
		ip := fmt.Sprintf("127.0.0.%d", i+2)
		hosts += ip + " " + poolHost + "\n"
		storage := filepath.Join(dir, fmt.Sprintf("gateway-%d", i))
		require.NoError(t, os.MkdirAll(storage, 0o755))
		env := map[string]string{
			"SIEVE_OTLP_GRPC_ENDPOINT":       fmt.Sprintf("%s:%d", ip, port),
			"SIEVE_LOKI_PUSH_URL":            f.loki.PushURL(),
			"SIEVE_PROMETHEUS_RW_URL":        f.prom.RemoteWriteURL(),
			"SIEVE_HISTOGRAM_FLUSH_INTERVAL": "1s",
			"SIEVE_TAIL_DECISION_WAIT":       "2s",
		}
		if f.jaeger != nil {
			env["SIEVE_TRACES_OTLP_ENDPOINT"] = f.jaeger.OTLPGRPC
		}
		gw := sieveproc.StartT(t, sieveproc.Options{
			Config:     harness.RepoPath("configs/gateway.yaml"),
			StorageDir: storage,
			Env:        env,
		})
		gw.OTLPGRPC = fmt.Sprintf("%s:%d", ip, port)
		f.gateways = append(f.gateways, gw)
	}
	hostsFile := filepath.Join(dir, "hosts")
	require.NoError(t, os.WriteFile(hostsFile, []byte(hosts), 0o644))
	logs := filepath.Join(dir, "logs")
	targets := filepath.Join(dir, "targets")
	require.NoError(t, os.MkdirAll(logs, 0o755))
	require.NoError(t, os.MkdirAll(targets, 0o755))
	f.agent = sieveproc.StartT(t, sieveproc.Options{
		Config:     harness.RepoPath("configs/agent.yaml"),
		StorageDir: filepath.Join(dir, "agent"),
		Hosts:      hostsFile,
		Env: map[string]string{
			"SIEVE_GATEWAY_HOST":       poolHost,
			"SIEVE_GATEWAY_PORT":       fmt.Sprint(port),
			"SIEVE_LOG_GLOB":           filepath.Join(logs, "*.log"),
			"SIEVE_SCRAPE_TARGETS_DIR": targets,
		},
	})
	return f
}

// client is the services: one tracer provider and one otelzap logger per hop, exporting to the
// agent's OTLP/gRPC port like an instrumented Go service next to it.
type client struct {
	tracers  []trace.Tracer
	loggers  []*zap.Logger
	flush    []func(context.Context) error
	shutdown []func(context.Context) error
}

func newClient(t *testing.T, endpoint string) *client {
	t.Helper()
	ctx := context.Background()
	c := &client{}
	for _, h := range hops {
		res := resource.NewSchemaless(attribute.String("service.name", h.service))
		te, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure())
		require.NoError(t, err)
		// Blocking and a queue larger than the corpus: the SDK must not drop spans on its own.
		tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res),
			sdktrace.WithBatcher(te, sdktrace.WithMaxQueueSize(200_000), sdktrace.WithBlocking(), sdktrace.WithMaxExportBatchSize(2048)))
		le, err := otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(endpoint), otlploggrpc.WithInsecure())
		require.NoError(t, err)
		lp := sdklog.NewLoggerProvider(sdklog.WithResource(res),
			sdklog.WithProcessor(sdklog.NewBatchProcessor(le, sdklog.WithMaxQueueSize(200_000))))
		c.tracers = append(c.tracers, tp.Tracer("pool-test"))
		c.loggers = append(c.loggers, zap.New(otelzap.NewCore("pool-test", otelzap.WithLoggerProvider(lp))))
		c.flush = append(c.flush, tp.ForceFlush, lp.ForceFlush)
		c.shutdown = append(c.shutdown, tp.Shutdown, lp.Shutdown)
	}
	t.Cleanup(func() {
		for _, s := range c.shutdown {
			_ = s(context.Background())
		}
	})
	return c
}

// sendTrace sends one trace of the corpus: three spans with the corpus' durations, and one error
// log per span carrying the trace context (every error is kept by the shipped policy).
func (c *client) sendTrace(ctx context.Context, durations []float64, uid string) trace.TraceID {
	end := time.Now()
	var tid trace.TraceID
	var spans []trace.Span
	for h := range hops {
		start := end.Add(-time.Duration(durations[h] * float64(time.Second)))
		var span trace.Span
		ctx, span = c.tracers[h].Start(ctx, hops[h].operation, trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start))
		tid = span.SpanContext().TraceID()
		c.loggers[h].Error("request failed downstream", zap.String("uid", uid), zap.Any("ctx", ctx))
		spans = append(spans, span)
	}
	for _, s := range spans {
		s.End(trace.WithTimestamp(end))
	}
	return tid
}

func (c *client) forceFlush(t *testing.T) {
	t.Helper()
	for _, f := range c.flush {
		require.NoError(t, f(context.Background()))
	}
}

// scrapeAll sums one telemetry metric (label name, value pairs as for harness.Metrics.Sum) on
// each gateway.
func (f *fleet) scrapeAll(t *testing.T, name string, labels ...string) []float64 {
	t.Helper()
	out := make([]float64, len(f.gateways))
	for i, g := range f.gateways {
		out[i] = harness.SumAt(t, g.TelemetryURL, name, labels...)
	}
	return out
}

// promSelf reads one of Prometheus' own counters (summed over its series) from its /metrics.
func (f *fleet) promSelf(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	return harness.SumAt(t, f.prom.URL+"/metrics", name, labels...)
}

func (f *fleet) promValue(ctx context.Context, q string) (float64, bool) {
	res, err := f.prom.Query(ctx, q, time.Now())
	if err != nil || len(res) != 1 {
		return 0, false
	}
	return res[0].Value, true
}

// waitLogs waits until Loki holds at least want of the test's log records and returns how many
// it holds.
func (f *fleet) waitLogs(ctx context.Context, t *testing.T, want float64) float64 {
	t.Helper()
	var got float64
	for deadline := time.Now().Add(2 * time.Minute); got < want; time.Sleep(time.Second) {
		s, err := f.loki.QueryMetric(ctx, "", `sum(count_over_time({service_name=~"pool-.*"}[10m]))`, time.Now())
		if err == nil && len(s) == 1 {
			got = s[0].Value
		}
		if got < want && time.Now().After(deadline) {
			t.Fatalf("error logs in Loki: %v of %v after 2 minutes", got, want)
		}
	}
	return got
}

// result is what one run measured.
type result struct {
	q99, q999 [3]float64 // read through the recording rules, per hop
	series    int        // span_duration_seconds_count series of the first hop
}

// run sends the corpus through a fleet of n gateways and reads the quantiles back through the
// shipped recording rules once every span is counted.
func run(t *testing.T, n int, c corpus) result {
	f := startFleet(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cl := newClient(t, f.agent.OTLPGRPC)
	// rate() cannot see what a series held at its first sample. Priming traces give every
	// gateway its series first, so that the corpus is all increase; they are left out of the
	// exact quantiles and counted in the totals.
	primed := 0
	require.Eventually(t, func() bool {
		for range 10 {
			cl.sendTrace(ctx, []float64{0.001, 0.001, 0.001}, "prime")
			primed++
		}
		cl.forceFlush(t)
		for _, hp := range hops {
			if got, _ := f.promValue(ctx, fmt.Sprintf(`count(span_duration_seconds_count{service_name=%q})`, hp.service)); int(got) != n {
				return false
			}
		}
		return true
	}, time.Minute, time.Second, "every gateway writes its series")
	for i, d := range c.durations {
		cl.sendTrace(ctx, d, fmt.Sprintf("u%d", i%50))
	}
	cl.forceFlush(t)

	var r result
	want := float64(len(c.durations) + primed)
	for _, hp := range hops {
		countQ := fmt.Sprintf(`sum(span_duration_seconds_count{service_name=%q})`, hp.service)
		var got float64
		for deadline := time.Now().Add(2 * time.Minute); got < want && time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
			got, _ = f.promValue(ctx, countQ)
		}
		require.Equal(t, want, got, "%s: every span counted exactly once across the pool", hp.service)
	}
	series, _ := f.promValue(ctx, fmt.Sprintf(`count(span_duration_seconds_count{service_name=%q})`, hops[0].service))
	r.series = int(series)
	ids, err := f.prom.Query(ctx, `count by (collector_instance_id) (span_duration_seconds_count)`, time.Now())
	require.NoError(t, err)
	require.Len(t, ids, n, "one set of series per gateway, told apart by collector_instance_id")

	// The rules evaluate every second; wait for an evaluation that saw the final counts.
	counted := time.Now()
	for h, hp := range hops {
		sel := fmt.Sprintf(`{service_name=%q, span_name=%q}`, hp.service, hp.operation)
		for _, q := range []struct {
			rule string
			into *float64
		}{
			{"cluster_service_name_span_name:span_duration_seconds:p99_rate5m", &r.q99[h]},
			{"cluster_service_name_span_name:span_duration_seconds:p999_rate5m", &r.q999[h]},
		} {
			require.Eventually(t, func() bool {
				ts, ok := f.promValue(ctx, "timestamp("+q.rule+sel+")")
				if !ok || ts < float64(counted.Add(2*time.Second).UnixMilli())/1000 {
					return false
				}
				*q.into, ok = f.promValue(ctx, q.rule+sel)
				return ok
			}, time.Minute, 500*time.Millisecond, "recording rule %s%s", q.rule, sel)
		}
	}

	// Every error log (3 per trace) reached Loki once.
	logsWant := float64((len(c.durations) + primed) * len(hops))
	require.Equal(t, logsWant, f.waitLogs(ctx, t, logsWant), "every error log delivered once")

	f.requireNoRefusals(t)
	return r
}

// requireNoRefusals: Prometheus took every remote-write request and sample; no gateway dropped
// or failed to send anything.
func (f *fleet) requireNoRefusals(t *testing.T) {
	t.Helper()
	require.Zero(t, f.promSelf(t, "prometheus_tsdb_out_of_order_samples_total"), "samples refused as out of order")
	require.Zero(t, f.promSelf(t, "prometheus_tsdb_out_of_bound_samples_total"), "samples refused as out of bounds")
	for _, code := range []string{"400", "409", "500"} {
		require.Zero(t, f.promSelf(t, "prometheus_http_requests_total", "handler", "/api/v1/write", "code", code),
			"remote-write requests answered %s (duplicate or out-of-order samples)", code)
	}
	for _, m := range []struct {
		name  string
		match []string
	}{
		{"otelcol_exporter_prometheus_remote_write_samples_dropped", nil},
		// Other reasons are the fall-back from remote write 2.0, which Prometheus 2.42 lacks.
		{"otelcol_exporter_prometheus_remote_write_requests_failed", []string{"reason", "client_error"}},
		{"otelcol_exporter_send_failed_metric_points", nil},
		{"otelcol_exporter_send_failed_log_records", nil},
	} {
		for i, v := range f.scrapeAll(t, m.name, m.match...) {
			require.Zero(t, v, "gateway-%d: %s%v", i, m.name, m.match)
		}
	}
}

// TestPoolAnswersLikeOneGateway sends the same corpus through one gateway and through a pool of
// three behind the agent, and reads P99 and P99.9 through the shipped recording rules: both must
// be as close to the exact quantiles of what was sent, every span counted once, no sample refused.
func TestPoolAnswersLikeOneGateway(t *testing.T) {
	traces := 20_000
	if harness.Long() {
		traces = 50_000
	}
	c := newCorpus(traces)
	var exact99, exact999 [3]float64
	for h := range hops {
		exact99[h], exact999[h] = c.quantile(h, 0.99), c.quantile(h, 0.999)
	}
	var one, three result
	t.Run("one gateway", func(t *testing.T) { one = run(t, 1, c) })
	t.Run("three gateways", func(t *testing.T) { three = run(t, 3, c) })
	require.False(t, t.Failed())

	require.Equal(t, 1, one.series)
	require.Equal(t, 3, three.series, "each gateway writes its own series")
	for h, hp := range hops {
		for _, q := range []struct {
			name       string
			exact      float64
			one, three float64
			bound      float64
		}{
			// The default bounds grow by 17% per bucket; interpolation inside the bucket that
			// holds the quantile stays well within it. P99.9 rests on 0.1% of the spans.
			{"P99", exact99[h], one.q99[h], three.q99[h], 0.03},
			{"P99.9", exact999[h], one.q999[h], three.q999[h], 0.05},
		} {
			e1, e3 := (q.one-q.exact)/q.exact, (q.three-q.exact)/q.exact
			t.Logf("%s %s: exact %.4fs; one gateway %.4fs (%+.2f%%); three gateways %.4fs (%+.2f%%)",
				hp.service, q.name, q.exact, q.one, 100*e1, q.three, 100*e3)
			require.LessOrEqual(t, math.Abs(e1), q.bound, "%s %s with one gateway", hp.service, q.name)
			require.LessOrEqual(t, math.Abs(e3), q.bound, "%s %s with three gateways", hp.service, q.name)
			// The pool's buckets, summed across gateways, are the single gateway's buckets:
			// only the rate's extrapolation at the window's edges may differ.
			require.InEpsilon(t, q.one, q.three, 0.005, "%s %s: three gateways answer as one", hp.service, q.name)
		}
	}
}

// TestPoolKeepsTraceAndItsLogsOnOneGateway sends traces one at a time and watches every
// gateway's receiver counters: the spans and the logs of each trace must arrive at one gateway,
// the one its trace ID routes to, so that trace-consistent log sampling holds across the pool.
func TestPoolKeepsTraceAndItsLogsOnOneGateway(t *testing.T) {
	f := startFleet(t, 3)
	cl := newClient(t, f.agent.OTLPGRPC)
	ctx := context.Background()
	spansAt := func() []float64 { return f.scrapeAll(t, "otelcol_receiver_accepted_spans") }
	logsAt := func() []float64 { return f.scrapeAll(t, "otelcol_receiver_accepted_log_records") }
	used := map[int]int{}
	const probes = 24
	for i := range probes {
		spans0, logs0 := spansAt(), logsAt()
		cl.sendTrace(ctx, []float64{0.1, 0.05, 0.02}, fmt.Sprintf("probe-%d", i))
		cl.forceFlush(t)
		var spans, logs []float64
		require.Eventually(t, func() bool {
			spans, logs = spansAt(), logsAt()
			return sum(spans)-sum(spans0) >= 3 && sum(logs)-sum(logs0) >= 3
		}, 30*time.Second, 100*time.Millisecond, "probe %d never reached the pool", i)
		gw := -1
		for g := range f.gateways {
			ds, dl := spans[g]-spans0[g], logs[g]-logs0[g]
			if ds == 0 && dl == 0 {
				continue
			}
			t.Logf("probe %d: spans %v→%v, logs %v→%v", i, spans0, spans, logs0, logs)
			require.Equal(t, -1, gw, "probe %d: spans or logs on two gateways (spans %v→%v, logs %v→%v)", i, spans0, spans, logs0, logs)
			require.Equal(t, 3.0, ds, "probe %d: every span of the trace on gateway-%d", i, g)
			require.Equal(t, 3.0, dl, "probe %d: every log of the trace on gateway-%d, with its spans", i, g)
			gw = g
		}
		used[gw]++
	}
	t.Logf("%d traces, by gateway: %v", probes, used)
	require.GreaterOrEqual(t, len(used), 2, "trace IDs must spread over the pool")
}

func sum(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s
}

// TestPoolGatewayKilledMidRun kills one gateway of three with SIGKILL while traffic flows and
// restarts it on its storage: every log the agent acknowledged reaches Loki, and every span is
// counted once in the latency histograms.
func TestPoolGatewayKilledMidRun(t *testing.T) {
	f := startFleet(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cl := newClient(t, f.agent.OTLPGRPC)
	c := newCorpus(6000)
	third := len(c.durations) / 3
	send := func(part [][]float64) {
		for i, d := range part {
			cl.sendTrace(ctx, d, fmt.Sprintf("u%d", i%50))
		}
		cl.forceFlush(t)
	}
	// First third, until every gateway has flushed series of its own: the victim dies with
	// counts in Prometheus and counts still in its memory.
	send(c.durations[:third])
	require.Eventually(t, func() bool {
		ids, err := f.prom.Query(ctx, `count by (collector_instance_id) (span_duration_seconds_count)`, time.Now())
		return err == nil && len(ids) == len(f.gateways)
	}, time.Minute, 200*time.Millisecond, "every gateway flushed")
	// The second third, and the kill as soon as the victim has taken some of it: it dies with
	// spans counted since its last flush (1 s), which only the journal can bring back.
	victim := f.gateways[1]
	accepted := func() float64 { return f.scrapeAll(t, "otelcol_receiver_accepted_spans")[1] }
	before := accepted()
	send(c.durations[third : 2*third])
	for deadline := time.Now().Add(30 * time.Second); accepted() == before; time.Sleep(10 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the victim never received the second third")
	}
	require.NoError(t, victim.Kill())
	// The last third while it is down: the agent keeps its share in the persistent queue and
	// resends whole batches, the healthy gateways' parts included.
	send(c.durations[2*third:])
	restarted, err := victim.Restart(ctx)
	if err != nil && restarted != nil {
		t.Logf("restarted gateway log:\n%s", restarted.LogTail(40))
	}
	require.NoError(t, err)
	f.gateways[1] = restarted
	t.Cleanup(func() { _ = restarted.Stop() })

	logsWant := float64(len(c.durations) * len(hops))
	logsGot := f.waitLogs(ctx, t, logsWant)
	// Delivery is at least once: a batch the victim had taken but not yet acknowledged when it
	// died is sent again, and Loki drops a resent entry only when it follows its original.
	t.Logf("error logs in Loki: %.0f of %.0f sent, %.0f delivered twice", logsGot, logsWant, logsGot-logsWant)

	// The restarted gateway has a new collector.instance.id, so it writes new series beside the
	// ones it wrote before the kill: the spans counted are the sum of every series' total. What
	// it had counted since its last flush before the kill comes back from fine_histogram's
	// journal. A request it had journaled but not acknowledged when it died is sent again by the
	// agent and recognised, as is every batch the agent resends to the healthy gateways.
	for _, hp := range hops {
		want := float64(len(c.durations))
		var total float64
		var resets int
		deadline := time.Now().Add(time.Minute)
		for {
			series, err := f.prom.Raw(ctx, fmt.Sprintf(`span_duration_seconds_count{service_name=%q}`, hp.service), 15*time.Minute)
			require.NoError(t, err)
			total, resets = 0, 0
			for _, s := range series {
				n, r := counterTotal(s.Values)
				total += n
				resets += r
			}
			if total >= want || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Second)
		}
		t.Logf("%s: %d spans sent, %.0f counted across the pool (%d counter resets): %.0f missing, %.0f counted twice",
			hp.service, len(c.durations), total, resets, max(want-total, 0), max(total-want, 0))
		require.Zero(t, resets, "%s: no series restarted", hp.service)
		require.Equal(t, want, total, "%s: every span the agent sent counted once", hp.service)
	}
	ids, err := f.prom.Query(ctx, `count by (collector_instance_id) (span_duration_seconds_count)`, time.Now())
	require.NoError(t, err)
	require.Len(t, ids, len(f.gateways)+1, "the restarted gateway writes series of its own")
	t.Logf("requests counted again from the journal, by gateway: %v; resent requests recognised: %v",
		f.scrapeAll(t, "otelcol_connector_fine_histogram_journal_replayed"),
		f.scrapeAll(t, "otelcol_connector_fine_histogram_duplicate_requests"))
	f.requireNoRefusals(t)
}

// counterTotal is what a counter counted over its samples, across resets (a value lower than the
// one before it starts again from zero), and the number of resets.
func counterTotal(v []float64) (float64, int) {
	if len(v) == 0 {
		return 0, 0
	}
	total, resets := v[0], 0
	for i := 1; i < len(v); i++ {
		if v[i] < v[i-1] {
			total += v[i]
			resets++
			continue
		}
		total += v[i] - v[i-1]
	}
	return total, resets
}
