package tieredsampling

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sieveobs/sieve/internal/policy"
	"github.com/sieveobs/sieve/internal/policy/engine"
	"github.com/sieveobs/sieve/internal/policy/policyfile"
	"github.com/sieveobs/sieve/processors/tieredsampling/internal/metadatatest"
)

// engineExt is the engine the sampling_policy extension serves, as an extension.
type engineExt struct {
	component.StartFunc
	component.ShutdownFunc
	*engine.Engine
}

// midRandomness passes the traces' 1% rate and fails the info tier's 0.1%.
const midRandomness = (uint64(1) << 56) / 1000 * 995

type holdRig struct {
	p    *tieredProcessor
	eng  *engine.Engine
	clk  *fakeClock
	sink *consumertest.LogsSink
	tel  *componenttest.Telemetry
}

// newHoldRig runs the processor against a real policy engine with tail decisions enabled, at a
// 1% rate for every service.
func newHoldRig(t testing.TB, mod func(*Config), next consumer.Logs) *holdRig {
	rate := 0.01
	eng := engine.New(engine.Compile(&policyfile.Document{Policy: policyfile.Policy{Version: "t", DefaultRate: &rate}}, "test", time.Unix(0, 0)))
	eng.EnableTail(1 << 10)
	cfg := defaultCfg()
	id := component.MustNewID("sampling_policy")
	cfg.FollowTraces.Enabled = true
	cfg.FollowTraces.Decider = id
	cfg.FollowTraces.Wait = 10 * time.Second
	if mod != nil {
		mod(cfg)
	}
	require.NoError(t, cfg.Validate())
	r := &holdRig{eng: eng, clk: newFakeClock(), sink: new(consumertest.LogsSink), tel: componenttest.NewTelemetry()}
	if next == nil {
		next = r.sink
	}
	p, err := newTieredProcessor(metadatatest.NewSettings(r.tel), cfg, next, r.clk.Now, (&fakeMemory{}).Read)
	require.NoError(t, err)
	r.p = p
	require.NoError(t, p.start(context.Background(), hostWith(map[component.ID]component.Component{id: engineExt{Engine: eng}})))
	t.Cleanup(func() {
		require.NoError(t, p.shutdown(context.Background()))
		require.NoError(t, r.tel.Shutdown(context.Background()))
	})
	return r
}

func (r *holdRig) process(t testing.TB, ld plog.Logs) []plog.LogRecord {
	out, err := r.p.processLogs(context.Background(), ld)
	if err != nil {
		return nil
	}
	return allRecords(out)
}

func (r *holdRig) released(t *testing.T, n int) []plog.LogRecord {
	require.Eventually(t, func() bool { return r.sink.LogRecordCount() >= n }, 5*time.Second, time.Millisecond)
	require.Equal(t, n, r.sink.LogRecordCount())
	var out []plog.LogRecord
	for _, ld := range r.sink.AllLogs() {
		out = append(out, allRecords(ld)...)
	}
	return out
}

func (r *holdRig) counter(t *testing.T, name string, attrs ...attribute.KeyValue) int64 {
	m, err := r.tel.GetMetric(name)
	if err != nil {
		return 0
	}
	want := attribute.NewSet(attrs...)
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		match := true
		for _, kv := range want.ToSlice() {
			if v, ok := dp.Attributes.Value(kv.Key); !ok || v != kv.Value {
				match = false
			}
		}
		if match {
			n += dp.Value
		}
	}
	return n
}

func (r *holdRig) gauge(t *testing.T, name string) int64 {
	m, err := r.tel.GetMetric(name)
	require.NoError(t, err)
	return m.Data.(metricdata.Gauge[int64]).DataPoints[0].Value
}

// Records of a trace wait for its tail decision; when the trace is kept every one of them is
// kept whatever its tier, marked as followed and without a threshold.
func TestHoldKeptTraceKeepsEveryRecord(t *testing.T) {
	r := newHoldRig(t, nil, nil)
	tid := traceIDWithRandomness(0) // below every threshold: never sampled by a tier's draw
	got := r.process(t, buildLogs("checkout",
		rec{sev: plog.SeverityNumberInfo, traceID: tid, body: "info"},
		rec{sev: plog.SeverityNumberWarn, traceID: tid, body: "warn"},
		rec{sev: plog.SeverityNumberError, traceID: tid, body: "error"},
		rec{sev: plog.SeverityNumberInfo, body: "no trace"},
	))
	require.Len(t, got, 1, "the error passes its tier at once; the info without a trace is decided at once")
	require.Equal(t, "error", got[0].Body().Str())
	require.EqualValues(t, 2, r.gauge(t, "otelcol_processor_tiered_sampling_held_records"))
	require.Positive(t, r.gauge(t, "otelcol_processor_tiered_sampling_held_bytes"))

	r.eng.PublishDecisions([]policy.Decision{{TraceID: tid, Kept: true}})
	rel := r.released(t, 2)
	bodies := map[string]bool{}
	for _, lr := range rel {
		bodies[lr.Body().Str()] = true
		require.Equal(t, map[string]any{followedAttr: true}, lr.Attributes().AsRaw())
	}
	require.Equal(t, map[string]bool{"info": true, "warn": true}, bodies)
	require.EqualValues(t, 2, r.counter(t, "otelcol_processor_tiered_sampling_held_decisions", attribute.String("outcome", "trace_kept")))
	require.EqualValues(t, 0, r.gauge(t, "otelcol_processor_tiered_sampling_held_records"))
	require.EqualValues(t, 0, r.gauge(t, "otelcol_processor_tiered_sampling_held_bytes"))
	// kept = error at once + the two released.
	require.EqualValues(t, 3, r.counter(t, "otelcol_processor_tiered_sampling_records_kept"))
}

// Records of a dropped trace follow their tiers: those that failed are dropped and counted.
func TestHoldDroppedTraceDropsHeld(t *testing.T) {
	r := newHoldRig(t, nil, nil)
	tid := traceIDWithRandomness(0)
	require.Empty(t, r.process(t, buildLogs("checkout", rec{sev: plog.SeverityNumberInfo, traceID: tid, body: "info"})))
	r.eng.PublishDecisions([]policy.Decision{{TraceID: tid, Kept: false}})
	require.Eventually(t, func() bool {
		return r.counter(t, "otelcol_processor_tiered_sampling_held_decisions", attribute.String("outcome", "trace_dropped")) == 1
	}, 5*time.Second, time.Millisecond)
	require.EqualValues(t, 1, r.counter(t, "otelcol_processor_tiered_sampling_records_dropped", attribute.String("reason", "sampled_out")))
	require.Zero(t, r.sink.LogRecordCount())
}

// A record whose trace is already decided is not held.
func TestHoldDecisionKnownAtArrival(t *testing.T) {
	r := newHoldRig(t, nil, nil)
	kept, dropped := traceIDWithRandomness(1), traceIDWithRandomness(2)
	r.eng.PublishDecisions([]policy.Decision{{TraceID: kept, Kept: true}, {TraceID: dropped, Kept: false}})
	got := r.process(t, buildLogs("checkout",
		rec{sev: plog.SeverityNumberInfo, traceID: kept, body: "kept"},
		rec{sev: plog.SeverityNumberInfo, traceID: dropped, body: "dropped"},
	))
	require.Len(t, got, 1)
	require.Equal(t, "kept", got[0].Body().Str())
	require.EqualValues(t, 0, r.gauge(t, "otelcol_processor_tiered_sampling_held_records"))
}

// A trace never decided (its spans went elsewhere) releases its records after wait on the
// trace's consistent rate.
func TestHoldTimeoutFallsBackToRate(t *testing.T) {
	r := newHoldRig(t, nil, nil)
	low, high := traceIDWithRandomness(0), traceIDWithRandomness(midRandomness) // 1% rate: dropped, kept
	require.Empty(t, r.process(t, buildLogs("checkout",
		rec{sev: plog.SeverityNumberInfo, traceID: low, body: "low"},
		rec{sev: plog.SeverityNumberInfo, traceID: high, body: "high"},
	)))
	r.clk.Advance(9 * time.Second)
	r.p.holder.expire(r.clk.Now())
	require.EqualValues(t, 2, r.gauge(t, "otelcol_processor_tiered_sampling_held_records"))
	r.clk.Advance(time.Second)
	r.p.holder.expire(r.clk.Now())
	rel := r.released(t, 1)
	require.Equal(t, "high", rel[0].Body().Str())
	require.EqualValues(t, 1, r.counter(t, "otelcol_processor_tiered_sampling_held_decisions", attribute.String("outcome", "timeout_kept")))
	require.EqualValues(t, 1, r.counter(t, "otelcol_processor_tiered_sampling_held_decisions", attribute.String("outcome", "timeout_dropped")))
}

// Beyond max_records the oldest traces are decided at once on their rate; the bound holds.
func TestHoldOverflow(t *testing.T) {
	r := newHoldRig(t, func(c *Config) { c.FollowTraces.MaxRecords = 5 }, nil)
	for i := range 20 {
		r.process(t, buildLogs("checkout", rec{sev: plog.SeverityNumberInfo, traceID: traceIDWithRandomness(uint64(i)), body: "x"}))
		require.LessOrEqual(t, r.gauge(t, "otelcol_processor_tiered_sampling_held_records"), int64(5))
	}
	require.Eventually(t, func() bool {
		return r.counter(t, "otelcol_processor_tiered_sampling_held_decisions", attribute.String("outcome", "overflow_dropped")) == 15
	}, 5*time.Second, time.Millisecond)
}

// Without a tail sampler publishing decisions nothing waits: records follow the trace's rate.
func TestHoldInactiveWithoutTail(t *testing.T) {
	rate := 0.01
	eng := engine.New(engine.Compile(&policyfile.Document{Policy: policyfile.Policy{Version: "t", DefaultRate: &rate}}, "test", time.Unix(0, 0)))
	cfg := defaultCfg()
	id := component.MustNewID("sampling_policy")
	cfg.FollowTraces = FollowTracesConfig{Enabled: true, Decider: id, Wait: time.Second, MaxRecords: 10, MaxBytes: 1 << 20}
	p := newTestProcessor(t, cfg, nil, nil)
	require.NoError(t, p.start(context.Background(), hostWith(map[component.ID]component.Component{id: engineExt{Engine: eng}})))
	out, err := p.processLogs(context.Background(), buildLogs("checkout",
		rec{sev: plog.SeverityNumberInfo, traceID: traceIDWithRandomness(midRandomness), body: "kept by rate"},
		rec{sev: plog.SeverityNumberInfo, traceID: traceIDWithRandomness(0), body: "dropped by rate"},
	))
	require.NoError(t, err)
	got := allRecords(out)
	require.Len(t, got, 1)
	require.Equal(t, "kept by rate", got[0].Body().Str())
}

// Shutdown decides what is held and passes the kept records on before returning.
func TestHoldShutdownReleases(t *testing.T) {
	r := newHoldRig(t, nil, nil)
	tid := traceIDWithRandomness(midRandomness)
	require.Empty(t, r.process(t, buildLogs("checkout", rec{sev: plog.SeverityNumberInfo, traceID: tid, body: "x"})))
	require.NoError(t, r.p.shutdown(context.Background()))
	require.Equal(t, 1, r.sink.LogRecordCount())
	require.EqualValues(t, 1, r.counter(t, "otelcol_processor_tiered_sampling_held_decisions", attribute.String("outcome", "shutdown_kept")))
}

// refusingLogs refuses every request with err while err is set, then passes them to the sink.
type refusingLogs struct {
	consumertest.LogsSink
	mu  sync.Mutex
	err error
}

func (r *refusingLogs) set(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

func (r *refusingLogs) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	r.mu.Lock()
	err := r.err
	r.mu.Unlock()
	if err != nil {
		return err
	}
	return r.LogsSink.ConsumeLogs(ctx, ld)
}

// A release the next consumer refuses with a retryable error is kept and sent again: the records
// were acknowledged when they arrived. Meanwhile new records are refused (retryably), and the
// released ones count as kept only once they are passed on.
func TestHoldRefusedReleaseSentAgain(t *testing.T) {
	next := &refusingLogs{err: errors.New("queue full")}
	r := newHoldRig(t, nil, next)
	tid := traceIDWithRandomness(0)
	require.Empty(t, r.process(t, buildLogs("checkout", rec{sev: plog.SeverityNumberInfo, traceID: tid, body: "x"})))
	r.eng.PublishDecisions([]policy.Decision{{TraceID: tid, Kept: true}})
	require.Eventually(t, func() bool { return r.p.holder.unsent.Waiting() }, 5*time.Second, time.Millisecond)
	records, bytes := r.p.holder.observe()
	require.EqualValues(t, 1, records, "waiting records count as held")
	require.Positive(t, bytes)
	_, err := r.p.processLogs(context.Background(), buildLogs("checkout", rec{sev: plog.SeverityNumberError, body: "new"}))
	require.ErrorIs(t, err, errNextRefusing)
	require.False(t, consumererror.IsPermanent(err), "the sender must retry")
	require.Zero(t, r.counter(t, "otelcol_processor_tiered_sampling_records_kept"))

	next.set(nil)
	require.Eventually(t, func() bool { return next.LogRecordCount() == 1 }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return !r.p.holder.unsent.Waiting() }, 5*time.Second, time.Millisecond)
	require.EqualValues(t, 1, r.counter(t, "otelcol_processor_tiered_sampling_records_kept"))
	require.Zero(t, r.counter(t, "otelcol_processor_tiered_sampling_records_dropped", attribute.String("reason", "release_failed")))
	out, err := r.p.processLogs(context.Background(), buildLogs("checkout", rec{sev: plog.SeverityNumberError, body: "new"}))
	require.NoError(t, err)
	require.Equal(t, 1, out.LogRecordCount())
}

// What cannot wait is lost and counted, not counted as kept: a permanent refusal, and what is
// still refused at shutdown.
func TestHoldFailedReleaseCounted(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
	}{
		{"permanent", consumererror.NewPermanent(errors.New("bad data"))},
		{"shutdown", errors.New("queue full")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newHoldRig(t, nil, consumertest.NewErr(tt.err))
			tid := traceIDWithRandomness(0)
			require.Empty(t, r.process(t, buildLogs("checkout", rec{sev: plog.SeverityNumberInfo, traceID: tid, body: "x"})))
			r.eng.PublishDecisions([]policy.Decision{{TraceID: tid, Kept: true}})
			failed := func() int64 {
				return r.counter(t, "otelcol_processor_tiered_sampling_records_dropped", attribute.String("reason", "release_failed"))
			}
			if !consumererror.IsPermanent(tt.err) {
				require.Eventually(t, func() bool { return r.p.holder.unsent.Waiting() }, 5*time.Second, time.Millisecond)
				require.Zero(t, failed())
				require.NoError(t, r.p.shutdown(context.Background()))
			}
			require.Eventually(t, func() bool { return failed() == 1 }, 5*time.Second, time.Millisecond)
			require.EqualValues(t, 0, r.counter(t, "otelcol_processor_tiered_sampling_records_kept"))
		})
	}
}

// Every record of many traces is accounted for across decisions, under the race detector too:
// records arrive while decisions are published from another goroutine.
func TestHoldConcurrentDecisions(t *testing.T) {
	r := newHoldRig(t, nil, nil)
	const n = 200
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			r.eng.PublishDecisions([]policy.Decision{{TraceID: traceIDWithRandomness(uint64(i)), Kept: i%2 == 0}})
		}
	}()
	for i := range n {
		r.process(t, buildLogs("checkout", rec{sev: plog.SeverityNumberInfo, traceID: traceIDWithRandomness(uint64(i)), body: "x"}))
	}
	<-done
	require.Eventually(t, func() bool {
		return r.counter(t, "otelcol_processor_tiered_sampling_records_kept")+
			r.counter(t, "otelcol_processor_tiered_sampling_records_dropped") == n
	}, 5*time.Second, time.Millisecond)
	require.EqualValues(t, n/2, r.counter(t, "otelcol_processor_tiered_sampling_records_kept"))
	require.EqualValues(t, 0, r.gauge(t, "otelcol_processor_tiered_sampling_held_records"))
}
