package exporterfaults

import (
	"context"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/loadgen"
	"github.com/sieveobs/sieve/testbed/sieveproc"
	"github.com/sieveobs/sieve/testbed/sinks"
)

// Backend is one exporter under test with the sink path it writes to.
type Backend struct {
	Name   string
	Signal loadgen.Signal
	EnvVar string
	Path   string
}

// LokiBackend and PRWBackend are the two exporters under test.
var (
	LokiBackend = Backend{Name: "loki", Signal: loadgen.Logs, EnvVar: "SIEVE_LOKI_PUSH_URL", Path: "/loki/api/v1/push"}
	PRWBackend  = Backend{Name: "prometheus_remote_write", Signal: loadgen.Metrics, EnvVar: "SIEVE_PROMETHEUS_RW_URL", Path: "/api/v1/write"}
)

// Unit is the item name in the exporter's own counters.
func (b Backend) Unit() string {
	if b.Signal == loadgen.Logs {
		return "log_records"
	}
	return "metric_points"
}

// data is the load shape of every test: the generator's defaults with a fixed base time, so
// the templates the checks decode are the ones the generator sends.
func data(base time.Time) loadgen.DataConfig {
	return loadgen.DataConfig{Templates: 16, BaseTime: base}
}

// Rig is one Sieve process between the load generator and a sink that checks every delivered
// item against what its ID says was sent. Other suites can run their own exporter scenarios on
// it; the testdata configurations are this package's.
type Rig struct {
	t       *testing.T
	Backend Backend
	Sink    *sinks.Sink
	Sieve   *sieveproc.Process
	baseNS  int64
	data    loadgen.DataConfig
	items   uint64
	tmpls   uint64
	// next is the first send number of the next load run, a multiple of the template count so
	// that an ID alone says which template item it came from.
	next uint64
	// ranges are the send numbers of every run, with whether all of their requests were acked.
	ranges []sendRange
	logs   [][]logItem
	points [][]pointItem
	slots  bool
}

type sendRange struct {
	first, n uint64
	allAcked bool
}

// logItem and pointItem are what a template's item must look like at the backend.
type logItem struct {
	class                   loadgen.Class
	service, severity, body string
	route                   string
}

type pointItem struct {
	name, service, route string
	value                float64
}

// slotConfigs are the configs that move remote-write IDs from the labels into the timestamp.
var slotConfigs = map[string]bool{"prw-order.yaml": true, "prw-memory.yaml": true}

// Start runs a sink and Sieve with testdata/<config>; env adds TEST_* settings.
func Start(t *testing.T, b Backend, config string, env map[string]string) *Rig {
	t.Helper()
	sink, err := sinks.Start()
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, sink.Close()) })
	sink.KeepAttempts()

	// Loki refuses entries older than a week and the exporter clamps ones more than 10 minutes
	// ahead: a day back leaves room for 86 million IDs at one millisecond each (refused
	// requests use up IDs too).
	base := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	r := &Rig{t: t, Backend: b, Sink: sink, baseNS: base.UnixNano(), data: data(base), slots: slotConfigs[config]}
	tmpls, err := loadgen.BuildTemplates(b.Signal, r.data)
	require.NoError(t, err)
	r.tmpls, r.items = uint64(len(tmpls)), uint64(tmpls[0].Items)
	r.decodeTemplates(tmpls)
	sink.SetContentCheck(r.check)
	if r.slots {
		baseMS := r.baseNS / 1e6
		sink.RemoteWrite.SetIDOf(func(series string, ts int64, _ float64) (loadgen.Class, uint64, bool) {
			if !strings.Contains(series, "sieve_test_slot\xfe") || ts < baseMS {
				return 0, 0, false
			}
			return loadgen.ClassPlain, uint64(ts - baseMS), true
		})
	}

	full := map[string]string{b.EnvVar: sink.HTTPURL + b.Path, "TEST_BASE_NS": strconv.FormatInt(r.baseNS, 10)}
	maps.Copy(full, env)
	_, file, _, _ := runtime.Caller(0)
	r.Sieve = sieveproc.StartT(t, sieveproc.Options{Config: filepath.Join(filepath.Dir(file), "testdata", config), Env: full})
	return r
}

func (r *Rig) decodeTemplates(tmpls []*loadgen.Template) {
	for _, tm := range tmpls {
		switch r.Backend.Signal {
		case loadgen.Logs:
			req := plogotlp.NewExportRequest()
			require.NoError(r.t, req.UnmarshalProto(tm.Body))
			var items []logItem
			rls := req.Logs().ResourceLogs()
			for i := 0; i < rls.Len(); i++ {
				svc, _ := rls.At(i).Resource().Attributes().Get("service.name")
				sls := rls.At(i).ScopeLogs()
				for j := 0; j < sls.Len(); j++ {
					lrs := sls.At(j).LogRecords()
					for k := 0; k < lrs.Len(); k++ {
						lr := lrs.At(k)
						id, _ := lr.Attributes().Get(loadgen.IDAttribute)
						cl, _, _ := loadgen.ParseID(id.Str())
						route, _ := lr.Attributes().Get("http.route")
						items = append(items, logItem{class: cl, service: svc.Str(), severity: lr.SeverityText(), body: lr.Body().AsString(), route: route.Str()})
					}
				}
			}
			r.logs = append(r.logs, items)
		case loadgen.Metrics:
			req := pmetricotlp.NewExportRequest()
			require.NoError(r.t, req.UnmarshalProto(tm.Body))
			var items []pointItem
			rms := req.Metrics().ResourceMetrics()
			for i := 0; i < rms.Len(); i++ {
				svc, _ := rms.At(i).Resource().Attributes().Get("service.name")
				sms := rms.At(i).ScopeMetrics()
				for j := 0; j < sms.Len(); j++ {
					ms := sms.At(j).Metrics()
					for k := 0; k < ms.Len(); k++ {
						m := ms.At(k)
						name := "sieve_loadgen_queue_depth"
						dps := pmetric.NewNumberDataPointSlice()
						switch m.Type() {
						case pmetric.MetricTypeGauge:
							dps = m.Gauge().DataPoints()
						case pmetric.MetricTypeSum:
							name, dps = "sieve_loadgen_requests_total", m.Sum().DataPoints()
						}
						for p := 0; p < dps.Len(); p++ {
							dp := dps.At(p)
							route, _ := dp.Attributes().Get("http.route")
							v := dp.DoubleValue()
							if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
								v = float64(dp.IntValue())
							}
							items = append(items, pointItem{name: name, service: svc.Str(), route: route.Str(), value: v})
						}
					}
				}
			}
			r.points = append(r.points, items)
		}
	}
}

// check compares a delivered item with what its ID says was sent.
func (r *Rig) check(it sinks.Item) error {
	id := loadgen.FormatID(it.Class, it.N)
	seq, j := it.N/r.items, it.N%r.items
	switch r.Backend.Signal {
	case loadgen.Logs:
		want := r.logs[seq%r.tmpls][j]
		wantLabels := map[string]string{"service_name": want.service, "level": want.severity}
		switch {
		case it.Class != want.class:
			return fmt.Errorf("%s: class %s, sent as %s", id, it.Class, want.class)
		case !maps.Equal(it.Labels, wantLabels):
			return fmt.Errorf("%s: stream %v, want %v", id, it.Labels, wantLabels)
		case it.Line != want.body:
			return fmt.Errorf("%s: line %q, want %q", id, it.Line, want.body)
		case it.Timestamp != r.baseNS+int64(it.N)*1e6:
			return fmt.Errorf("%s: timestamp %d, want %d", id, it.Timestamp, r.baseNS+int64(it.N)*1e6)
		case it.Metadata["sieve_test_id"] != id || it.Metadata["http_route"] != want.route:
			return fmt.Errorf("%s: structured metadata %v, want sieve_test_id=%s http_route=%s", id, it.Metadata, id, want.route)
		}
	case loadgen.Metrics:
		want := r.points[seq%r.tmpls][j]
		wantLabels := map[string]string{"__name__": want.name, "job": want.service, "http_route": want.route, "sieve_test_id": id}
		if r.slots {
			wantLabels = map[string]string{"__name__": want.name, "job": want.service, "sieve_test_slot": fmt.Sprintf("%02d", j)}
		}
		switch {
		case it.Class != loadgen.ClassPlain:
			return fmt.Errorf("%s: class %s, sent as plain", id, it.Class)
		case !maps.Equal(it.Labels, wantLabels):
			return fmt.Errorf("%s: series %v, want %v", id, it.Labels, wantLabels)
		case it.Value != want.value:
			return fmt.Errorf("%s: value %v, want %v", id, it.Value, want.value)
		case it.Timestamp != r.baseNS/1e6+int64(it.N):
			return fmt.Errorf("%s: timestamp %d, want %d", id, it.Timestamp, r.baseNS/1e6+int64(it.N))
		}
	}
	return nil
}

// Load describes one load run.
type Load struct {
	Requests uint64
	Duration time.Duration
	// Concurrency is 1 wherever order is judged: the requests of two senders can reach Sieve's
	// batches in either order, which reorders streams before the exporter sees them.
	Concurrency int
	Rate        float64
	Protocol    string
}

// Send runs the load generator against Sieve's OTLP receiver and remembers what it sent.
func (r *Rig) Send(ctx context.Context, l Load) loadgen.Stats {
	r.t.Helper()
	ep, proto := r.Sieve.OTLPGRPC, "grpc"
	if l.Protocol == "http" {
		ep, proto = r.Sieve.OTLPHTTP, "http"
	}
	g, err := loadgen.New(loadgen.Config{
		Signal: r.Backend.Signal, Protocol: proto, Endpoint: ep, Rate: l.Rate, Concurrency: max(l.Concurrency, 1),
		Duration: l.Duration, MaxRequests: l.Requests, FirstSeq: r.next, Timeout: 30 * time.Second, Data: r.data,
	})
	require.NoError(r.t, err)
	defer g.Close()
	g.Run(ctx)
	st := g.Stats()
	r.ranges = append(r.ranges, sendRange{first: r.next, n: st.Requests, allAcked: st.FailedRequests == 0})
	r.next = (r.next + st.Requests + r.tmpls) / r.tmpls * r.tmpls
	return st
}

// Delivered is the counter of the backend's items.
func (r *Rig) Delivered() sinks.Counts {
	if r.Backend.Signal == loadgen.Logs {
		return r.Sink.Loki.Snapshot()
	}
	return r.Sink.RemoteWrite.IDs.Snapshot()
}

// Seen reports whether item n of class c reached the backend.
func (r *Rig) Seen(c loadgen.Class, n uint64) bool {
	if r.Backend.Signal == loadgen.Logs {
		return r.Sink.Loki.Seen(c, n)
	}
	return r.Sink.RemoteWrite.IDs.Seen(c, n)
}

// OutOfOrder counts items that arrived after a newer item of the same stream or series.
func (r *Rig) OutOfOrder() uint64 {
	if r.Backend.Signal == loadgen.Logs {
		return r.Sink.Loki.Snapshot().OutOfOrder
	}
	return r.Sink.RemoteWrite.Snapshot().OutOfOrder
}

// classOf is the class of item n, read from the template it was rendered from.
func (r *Rig) classOf(n uint64) loadgen.Class {
	if r.Backend.Signal == loadgen.Logs {
		return r.logs[(n/r.items)%r.tmpls][n%r.items].class
	}
	return loadgen.ClassPlain
}

// WaitDelivered polls until want distinct IDs arrived (with those the sink refused for good when
// refusedCount). It gives up once stall passes without a new arrival, or after four stalls in
// all: a throttled exporter may need longer than any fixed budget, but one that stopped
// delivering is caught after stall. It returns how long the wait took.
func (r *Rig) WaitDelivered(want uint64, refusedCount bool, stall time.Duration) time.Duration {
	start := time.Now()
	hardDeadline := start.Add(4 * stall)
	var last uint64
	lastChange := start
	for time.Now().Before(hardDeadline) && time.Since(lastChange) < stall && !r.Sieve.Exited() {
		got := r.Delivered().TotalUnique()
		if refusedCount {
			got = r.UnionCount()
		}
		if got >= want {
			break
		}
		if got != last {
			last, lastChange = got, time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

// UnionCount counts the IDs sent that arrived or were refused for good.
func (r *Rig) UnionCount() uint64 {
	var n uint64
	for _, sr := range r.ranges {
		for id := sr.first * r.items; id < (sr.first+sr.n)*r.items; id++ {
			c := r.classOf(id)
			if r.Seen(c, id) || r.Sink.Rejected.Seen(c, id) {
				n++
			}
		}
	}
	return n
}

// Missing lists (up to ten of) the IDs of fully acked runs that never arrived, excluding those
// the sink refused for good when allowRefused, and counts them.
func (r *Rig) Missing(allowRefused bool) (uint64, []string) {
	var n uint64
	var ids []string
	for _, sr := range r.ranges {
		if !sr.allAcked {
			continue
		}
		for id := sr.first * r.items; id < (sr.first+sr.n)*r.items; id++ {
			c := r.classOf(id)
			if r.Seen(c, id) || (allowRefused && r.Sink.Rejected.Seen(c, id)) {
				continue
			}
			n++
			if len(ids) < 10 {
				ids = append(ids, loadgen.FormatID(c, id))
			}
		}
	}
	return n, ids
}

// RequireIntact checks the common promises: content as sent, per-stream/per-series order, and
// nothing decoded wrongly.
func (r *Rig) RequireIntact() {
	r.t.Helper()
	bad, msgs := r.Sink.ContentErrors()
	require.Zero(r.t, bad, "items delivered with content other than what was sent: %v", msgs)
	require.Zero(r.t, r.OutOfOrder(), "items delivered after a newer item of the same stream/series")
	require.Empty(r.t, r.Sink.DecodeFailures())
}

// Attempts returns the sink's log of requests on the backend's path.
func (r *Rig) Attempts() []sinks.Attempt {
	var out []sinks.Attempt
	for _, a := range r.Sink.Attempts() {
		if a.Path == r.Backend.Path {
			out = append(out, a)
		}
	}
	return out
}

// Telemetry scrapes Sieve's own metrics.
func (r *Rig) Telemetry() harness.Metrics {
	r.t.Helper()
	return harness.ScrapeT(r.t, r.Sieve.TelemetryURL)
}

// RSSMiB reads Sieve's resident memory from its own telemetry.
func (r *Rig) RSSMiB() float64 {
	return r.Telemetry().Sum("otelcol_process_memory_rss") / (1 << 20)
}

// Figures formats the fields of a test's log line.
func Figures(kv ...any) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch v := kv[i+1].(type) {
		case float64:
			if v == math.Trunc(v) && math.Abs(v) < 1e15 {
				fmt.Fprintf(&b, "%s=%d", kv[i], int64(v))
			} else {
				fmt.Fprintf(&b, "%s=%.2f", kv[i], v)
			}
		default:
			fmt.Fprintf(&b, "%s=%v", kv[i], v)
		}
	}
	return b.String()
}
