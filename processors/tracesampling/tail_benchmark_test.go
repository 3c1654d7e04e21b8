//go:build unix

package tracesampling

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"golang.org/x/sys/unix"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/tailsamplingprocessor"

	"github.com/sieveobs/sieve/internal/policy/engine"
	"github.com/sieveobs/sieve/processors/tracesampling/internal/metadata"
)

// The tail benchmarks compare trace_sampling's tail mode with contrib's tail_sampling under
// equivalent policies: keep traces with an error, keep traces slower than 500ms, keep 10% of the
// rest. Run them on one core, the throughput one with a fixed count so that contrib's one-second
// ticker turns over several times (about ten), the memory one once:
//
//	go test -run '^$' -bench '^BenchmarkTail$' -benchmem -cpu 1 -benchtime 2000x ./processors/tracesampling/
//	go test -run '^$' -bench '^BenchmarkTailBufferedBytes$' -cpu 1 -benchtime 1x ./processors/tracesampling/

const (
	// tracesPerBatch traces of 5 spans make requests of 510 spans.
	tracesPerBatch = 102
	spansPerTrace  = 5
	spansPerBatch  = tracesPerBatch * spansPerTrace
	// heldTraces is the working set both hold: Sieve steadily, by the pace of its manual clock;
	// contrib at most, by num_traces with block_on_overflow.
	heldTraces = 20_000
)

// tailBenchPolicy is the Sieve side of the comparison; errors are kept implicitly in tail mode.
const tailBenchPolicy = "default_rate: 0.1\nlatency_threshold: 500ms\n"

// contribTailPolicies is the contrib side: its policies are ORed, any match keeps the trace.
var contribTailPolicies = []any{
	map[string]any{"name": "errors", "type": "status_code", "status_code": map[string]any{"status_codes": []any{"ERROR"}}},
	map[string]any{"name": "slow", "type": "latency", "latency": map[string]any{"threshold_ms": 500}},
	map[string]any{"name": "rate", "type": "probabilistic", "probabilistic": map[string]any{"sampling_percentage": 10}},
}

type streamOp struct {
	name string
	kind ptrace.SpanKind
	dur  time.Duration
	db   bool
}

// Three services; each trace has two spans in frontend, two in checkout and one in payments.
var streamServices = []struct {
	name string
	ops  []streamOp
}{
	{"frontend", []streamOp{{"GET /checkout", ptrace.SpanKindServer, 120 * time.Millisecond, false}, {"POST checkout", ptrace.SpanKindClient, 90 * time.Millisecond, false}}},
	{"checkout", []streamOp{{"POST /checkout", ptrace.SpanKindServer, 85 * time.Millisecond, false}, {"SELECT orders", ptrace.SpanKindClient, 20 * time.Millisecond, true}}},
	{"payments", []streamOp{{"POST /pay", ptrace.SpanKindServer, 40 * time.Millisecond, false}}},
}

// Positions in each window of tracesPerBatch traces: two error traces (2%) and one slow one (1%).
func streamErr(j int) bool  { return j == 7 || j == 60 }
func streamSlow(j int) bool { return j == 33 }

// tailStream produces requests as a collector receives them from several services: each request
// carries every service's spans, but of different traces, since a trace's services export at
// different moments. Request n holds frontend's spans of window n+2, checkout's of window n+1 and
// payments' of window n, so the spans of one trace arrive in three consecutive requests.
//
// Requests are decoded from their OTLP encoding, as a receiver does: every string of every span
// is its own allocation, which is what a sampler that holds pdata holds. (Copying pdata instead
// would share the strings between spans and understate that.)
type tailStream struct {
	wire []byte  // the encoded request, trace IDs to be set
	pos  [][]int // per service, per span: the span's trace position in its window
	n    uint64  // requests produced
	salt uint64
	um   ptrace.ProtoUnmarshaler
}

func newTailStream(salt uint64) *tailStream {
	s := &tailStream{salt: salt}
	tmpl := ptrace.NewTraces()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for si, svc := range streamServices {
		rs := tmpl.ResourceSpans().AppendEmpty()
		ra := rs.Resource().Attributes()
		ra.PutStr("service.name", svc.name)
		ra.PutStr("service.namespace", "shop")
		ra.PutStr("service.version", "1.42.0")
		ra.PutStr("service.instance.id", svc.name+"-7d9f8b6c5-x2x4z")
		ra.PutStr("host.name", "node-"+svc.name)
		ra.PutStr("k8s.namespace.name", "production")
		ra.PutStr("k8s.pod.name", svc.name+"-7d9f8b6c5-x2x4z")
		ra.PutStr("telemetry.sdk.language", "go")
		ra.PutStr("telemetry.sdk.name", "opentelemetry")
		ra.PutStr("telemetry.sdk.version", "1.38.0")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
		ss.Scope().SetVersion("0.63.0")
		var pos []int
		for j := range tracesPerBatch {
			for k, op := range svc.ops {
				pos = append(pos, j)
				sp := ss.Spans().AppendEmpty()
				sp.SetName(op.name)
				sp.SetKind(op.kind)
				sp.SetSpanID(pcommon.SpanID{byte(si + 1), byte(k + 1), byte(j), 0xab, 0xcd, 0xef, 1, 2})
				if si != 0 || k != 0 {
					sp.SetParentSpanID(pcommon.SpanID{1, 1, byte(j), 0xab, 0xcd, 0xef, 1, 2})
				}
				dur := op.dur
				if streamSlow(j) && si == 0 {
					dur += 700 * time.Millisecond
				}
				start := base + int64(j)*int64(time.Millisecond) + int64(si)*int64(5*time.Millisecond)
				sp.SetStartTimestamp(pcommon.Timestamp(start))
				sp.SetEndTimestamp(pcommon.Timestamp(start + int64(dur)))
				status := int64(200)
				if streamErr(j) && si == 2 {
					status = 500
					sp.Status().SetCode(ptrace.StatusCodeError)
					sp.Status().SetMessage("card declined by issuer")
				}
				a := sp.Attributes()
				if op.db {
					a.PutStr("db.system.name", "postgresql")
					a.PutStr("db.namespace", "orders")
					a.PutStr("db.operation.name", "SELECT")
					a.PutStr("db.collection.name", "orders")
					a.PutStr("db.query.text", "SELECT id, total, status FROM orders WHERE customer_id = $1 LIMIT 20")
					a.PutStr("server.address", "orders-db.production.svc")
					a.PutInt("server.port", 5432)
					a.PutStr("network.peer.address", "10.12.4.17")
					a.PutInt("network.peer.port", 5432)
					a.PutInt("db.response.returned_rows", 3)
					continue
				}
				a.PutStr("http.request.method", "POST")
				a.PutStr("http.route", op.name)
				a.PutStr("url.path", "/checkout/cart/8841")
				a.PutStr("url.scheme", "https")
				a.PutStr("server.address", svc.name+".production.svc")
				a.PutInt("server.port", 8080)
				a.PutInt("http.response.status_code", status)
				a.PutStr("network.protocol.version", "1.1")
				a.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36")
				a.PutStr("client.address", "10.12.7.201")
			}
		}
		s.pos = append(s.pos, pos)
	}
	var err error
	s.wire, err = (&ptrace.ProtoMarshaler{}).MarshalTraces(tmpl)
	if err != nil {
		panic(err)
	}
	return s
}

func (s *tailStream) next() ptrace.Traces {
	td, err := s.um.UnmarshalTraces(s.wire)
	if err != nil {
		panic(err)
	}
	rss := td.ResourceSpans()
	for si := 0; si < rss.Len(); si++ {
		w := s.n + uint64(len(streamServices)-1-si)
		spans := rss.At(si).ScopeSpans().At(0).Spans()
		for k := 0; k < spans.Len(); k++ {
			spans.At(k).SetTraceID(streamTraceID(s.salt, w*tracesPerBatch+uint64(s.pos[si][k])))
		}
	}
	s.n++
	return td
}

// distinctTraces is how many traces the first n requests touch: windows 0 to n+1.
func distinctTraces(n int) int { return (n + len(streamServices) - 1) * tracesPerBatch }

// errorSpansPerBatch is the payments spans with status ERROR in each request.
const errorSpansPerBatch = 2

func streamTraceID(salt, seq uint64) pcommon.TraceID {
	return traceID((seq + 1 + salt<<40) * 0x9e3779b97f4a7c15)
}

// keptCounter is the next consumer: it counts what the sampler passes on, and the error spans.
type keptCounter struct{ spans, errSpans atomic.Int64 }

func (*keptCounter) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (c *keptCounter) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	c.spans.Add(int64(td.SpanCount()))
	var errs int64
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				if sp.Status().Code() == ptrace.StatusCodeError {
					errs++
				}
			}
		}
	}
	c.errSpans.Add(errs)
	return nil
}

// cpuTime is the CPU time of the whole process, so that work done on other goroutines and by the
// garbage collector counts, and contrib's idle wait for its ticker does not.
func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	require.NoError(b, unix.Getrusage(unix.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func newSieveTail(b *testing.B, next consumer.Traces, clock *manualClock) *traceSampler {
	cfg := createDefaultConfig().(*Config)
	cfg.Policy = policyID
	cfg.Tail.Enabled = true
	cfg.Tail.DecisionWait = time.Second
	require.NoError(b, cfg.Validate())
	p, err := newTraceSampler(processortest.NewNopSettings(metadata.Type), cfg, next, clock.now)
	require.NoError(b, err)
	eng := engine.New(compile(b, tailBenchPolicy))
	// start, not startTail: the benchmark drives the sweep itself.
	require.NoError(b, p.start(context.Background(), host{Host: componenttest.NewNopHost(), ext: map[component.ID]component.Component{policyID: fakeProvider{eng}}}))
	return p
}

func newContribTail(b *testing.B, set processor.Settings, next consumer.Traces, conf map[string]any) processor.Traces {
	f := tailsamplingprocessor.NewFactory()
	cfg := f.CreateDefaultConfig()
	m := map[string]any{
		"decision_wait":  time.Second,
		"decision_cache": map[string]any{"sampled_cache_size": 1 << 17, "non_sampled_cache_size": 1 << 17},
		"policies":       contribTailPolicies,
	}
	for k, v := range conf {
		m[k] = v
	}
	require.NoError(b, confmap.NewFromStringMap(m).Unmarshal(cfg))
	p, err := f.CreateTraces(context.Background(), set, cfg, next)
	require.NoError(b, err)
	require.NoError(b, p.Start(context.Background(), componenttest.NewNopHost()))
	return p
}

// BenchmarkTail measures the whole tail path per span: splitting requests by trace, holding the
// spans, deciding each trace and passing the kept ones on. Every trace is decided within the
// measurement: shutdown, which decides what is still held, is timed too.
//
// Sieve's manual clock advances as if 100,000 spans arrived per second, so with a decision_wait
// of 1s it holds about heldTraces traces throughout. Contrib's ticker cannot be driven from
// outside its package; it runs on real time with num_traces set to heldTraces and
// block_on_overflow, so it holds at most as many, fills up, waits idle for its tick and decides
// them all. Its wall time therefore includes idle waits: compare cpu-ns/span, which counts the
// CPU time of the whole process, not ns/span. "input" is the cost of producing the requests,
// included in both.
func BenchmarkTail(b *testing.B) {
	ctx := context.Background()
	report := func(b *testing.B, cpu time.Duration) {
		spans := float64(b.N * spansPerBatch)
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/spans, "ns/span")
		b.ReportMetric(float64(cpu.Nanoseconds())/spans, "cpu-ns/span")
		b.ReportMetric(spans/cpu.Seconds(), "spans/cpu-s")
	}
	check := func(b *testing.B, kept *keptCounter, minErrShare float64) {
		sent := float64(b.N * spansPerBatch)
		if b.N*spansPerBatch >= 50*heldTraces {
			// Only a long run decides enough traces for the share to settle near 10% of the
			// rest plus the 3% kept by error or latency.
			require.InDelta(b, 0.127, float64(kept.spans.Load())/sent, 0.03)
		}
		require.GreaterOrEqual(b, float64(kept.errSpans.Load()), minErrShare*float64(b.N*errorSpansPerBatch))
	}

	b.Run("input", func(b *testing.B) {
		s := newTailStream(1)
		runtime.GC()
		b.ReportAllocs()
		b.ResetTimer()
		start := cpuTime(b)
		for i := 0; i < b.N; i++ {
			runtime.KeepAlive(s.next())
		}
		b.StopTimer()
		report(b, cpuTime(b)-start)
	})

	b.Run("sieve", func(b *testing.B) {
		kept := new(keptCounter)
		clock := &manualClock{t: time.Unix(1000, 0)}
		p := newSieveTail(b, kept, clock)
		step := time.Second * spansPerBatch / 100_000
		tick := p.tail.tick()
		s := newTailStream(2)
		runtime.GC()
		b.ReportAllocs()
		b.ResetTimer()
		start := cpuTime(b)
		var sinceSweep time.Duration
		for i := 0; i < b.N; i++ {
			out, err := p.processTraces(ctx, s.next())
			if err == nil {
				_ = kept.ConsumeTraces(ctx, out)
			}
			clock.advance(step)
			if sinceSweep += step; sinceSweep >= tick {
				p.tail.sweep(ctx, clock.now())
				sinceSweep = 0
			}
		}
		require.NoError(b, p.shutdown(ctx))
		b.StopTimer()
		report(b, cpuTime(b)-start)
		// An error span marks its trace whatever it arrives with: every one is kept.
		check(b, kept, 1)
	})

	b.Run("contrib", func(b *testing.B) {
		kept := new(keptCounter)
		p := newContribTail(b, processortest.NewNopSettings(component.MustNewType("tail_sampling")), kept,
			map[string]any{"num_traces": heldTraces, "block_on_overflow": true})
		s := newTailStream(3)
		runtime.GC()
		b.ReportAllocs()
		b.ResetTimer()
		start := cpuTime(b)
		for i := 0; i < b.N; i++ {
			require.NoError(b, p.ConsumeTraces(ctx, s.next()))
		}
		require.NoError(b, p.Shutdown(ctx))
		b.StopTimer()
		report(b, cpuTime(b)-start)
		// Contrib decides on its tick whatever arrived; the traces whose payments span had not
		// arrived yet are decided without it and lose it.
		check(b, kept, 0.9)
	})
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkTailBufferedBytes measures the heap each held span costs: the growth of the live heap
// while about 20,000 traces of 5 spans are held undecided, divided by their spans. It includes
// everything kept per trace (maps, lists, batchers), not only the spans.
func BenchmarkTailBufferedBytes(b *testing.B) {
	ctx := context.Background()
	batches := heldTraces / tracesPerBatch
	traces := distinctTraces(batches)
	spans := batches * spansPerBatch

	b.Run("sieve", func(b *testing.B) {
		var perSpan, accounted float64
		for i := 0; i < b.N; i++ {
			clock := &manualClock{t: time.Unix(1000, 0)}
			p := newSieveTail(b, new(keptCounter), clock)
			s := newTailStream(uint64(10 + i))
			before := heapInUse()
			for range batches {
				_, err := p.processTraces(ctx, s.next())
				require.ErrorIs(b, err, errSkip, "nothing is decided while the clock stands still")
			}
			after := heapInUse()
			n, held, bytes := p.tail.observe()
			require.EqualValues(b, traces, n)
			require.EqualValues(b, spans, held)
			perSpan = float64(after-before) / float64(spans)
			accounted = float64(bytes) / float64(spans)
			runtime.KeepAlive(s)
			require.NoError(b, p.shutdown(ctx))
		}
		b.ReportMetric(perSpan, "B/span")
		// What max_bytes is checked against, for comparison with the heap it stands for.
		b.ReportMetric(accounted, "accounted-B/span")
	})

	b.Run("contrib", func(b *testing.B) {
		var perSpan float64
		for i := 0; i < b.N; i++ {
			tel := componenttest.NewTelemetry()
			set := processortest.NewNopSettings(component.MustNewType("tail_sampling"))
			set.TelemetrySettings = tel.NewTelemetrySettings()
			// A decision_wait of a minute: nothing is decided during the measurement.
			p := newContribTail(b, set, new(keptCounter), map[string]any{
				"decision_wait": time.Minute, "num_traces": 4 * heldTraces, "drop_pending_traces_on_shutdown": true,
			})
			s := newTailStream(uint64(100 + i))
			before := heapInUse()
			for range batches {
				require.NoError(b, p.ConsumeTraces(ctx, s.next()))
			}
			// Contrib consumes on its own goroutine, in order: once a last trace is counted as
			// received, everything sent before it is held.
			sentinel := ptrace.NewTraces()
			sentinel.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetTraceID(traceID(1))
			require.NoError(b, p.ConsumeTraces(ctx, sentinel))
			require.Eventually(b, func() bool {
				m, err := tel.GetMetric("otelcol_processor_tail_sampling_new_trace_id_received")
				if err != nil {
					return false
				}
				var n int64
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					n += dp.Value
				}
				return n == int64(traces+1)
			}, 30*time.Second, time.Millisecond)
			after := heapInUse()
			perSpan = float64(after-before) / float64(spans)
			runtime.KeepAlive(s)
			require.NoError(b, p.Shutdown(ctx))
			require.NoError(b, tel.Shutdown(ctx))
		}
		b.ReportMetric(perSpan, "B/span")
	})
}
