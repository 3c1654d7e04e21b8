package crash

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/loadgen"
	"github.com/sieveobs/sieve/testbed/sinks"
)

// pressureTrace follows Sieve's telemetry while the heap fills.
type pressureTrace struct {
	mu sync.Mutex
	// firstShed[k] is when the shed level first reached k.
	firstShed   map[int]time.Time
	maxLevel    int
	minRate     map[string]float64
	firstRefuse time.Time
	maxHeapMiB  float64
}

func (p *pressureTrace) poll(url string, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		text, err := harness.Scrape(context.Background(), nil, url)
		if err != nil {
			continue
		}
		now := time.Now()
		level := int(text.Sum("otelcol_processor_tiered_sampling_shed_level"))
		p.mu.Lock()
		for k := 1; k <= level; k++ {
			if _, ok := p.firstShed[k]; !ok {
				p.firstShed[k] = now
			}
		}
		p.maxLevel = max(p.maxLevel, level)
		for _, tier := range []string{"errors", "warn", "default"} {
			r := text.Sum("otelcol_processor_tiered_sampling_effective_rate", "tier", tier)
			if old, ok := p.minRate[tier]; !ok || r < old {
				p.minRate[tier] = r
			}
		}
		if p.firstRefuse.IsZero() && text.Sum("otelcol_receiver_refused_log_records") > 0 {
			p.firstRefuse = now
		}
		p.maxHeapMiB = max(p.maxHeapMiB, text.Sum("otelcol_process_runtime_heap_alloc_bytes")/(1<<20))
		p.mu.Unlock()
	}
}

// With the backend down and the queue in memory, the heap grows until Sieve defends itself:
// first the lowest tiers are shed (info, then warn) while errors keep 100%, then memory_limiter
// refuses data with a retryable error. Once the backend is back, every acknowledged error and
// every record the sampler kept arrives.
func TestMemoryPressureShedsLowTiersFirstThenRefuses(t *testing.T) {
	r := NewRig(t, "memory.yaml", true, map[string]string{
		"SIEVE_TEST_SHED_MIB":    "96",
		"SIEVE_TEST_LIMITER_MIB": "150",
	})
	r.Start()
	base, err := harness.Scrape(context.Background(), nil, r.Proc.TelemetryURL)
	require.NoError(t, err)
	idleHeap := base.Sum("otelcol_process_runtime_heap_alloc_bytes") / (1 << 20)
	require.Less(t, idleHeap, 48.0, "idle heap already at the shedding start; the limits do not fit this binary")

	trace := &pressureTrace{firstShed: map[int]time.Time{}, minRate: map[string]float64{}}
	stop, done := make(chan struct{}), make(chan struct{})
	go trace.poll(r.Proc.TelemetryURL, stop, done)

	logs := NewStream(loadgen.Logs, "grpc", harness.Pick(15000.0, 20000.0))
	// More errors and warnings than the default mix, so that each tier still fills the heap
	// once the tiers below it are shed.
	mix := loadgen.DataConfig{BatchSize: 100, Templates: 8, ErrorRatio: 0.1, WarnRatio: 0.2}
	l := StartLoadWith(t, r.Proc, mix, logs)
	began := l.began
	deadline := time.Now().Add(harness.Pick(90*time.Second, 180*time.Second))
	for {
		trace.mu.Lock()
		refused := !trace.firstRefuse.IsZero()
		trace.mu.Unlock()
		_, _, fails := logs.Counts()
		if refused && fails > 0 {
			break
		}
		if time.Now().After(deadline) || r.Proc.Exited() {
			l.Stop()
			close(stop)
			<-done
			t.Fatalf("memory_limiter never refused: shed levels %v, max heap %.0f MiB, exited=%v", trace.firstShed, trace.maxHeapMiB, r.Proc.Exited())
		}
		Pause(200 * time.Millisecond)
	}
	Pause(harness.Pick(2*time.Second, 10*time.Second))
	l.Stop()
	lastErr := logs.LastError()
	require.True(t, retryable(lastErr), "memory_limiter must refuse retryably, senders got %v", lastErr)
	underPressure, err := harness.Scrape(context.Background(), nil, r.Proc.TelemetryURL)
	require.NoError(t, err)

	// The backend returns and the queue drains: everything owed arrives.
	r.Sink.SetFaults(sinks.Faults{})
	r.waitKeptDelivered(logs, harness.Pick(90*time.Second, 4*time.Minute))

	// With traffic flowing again the heap is re-read and every tier is kept in full again.
	logs.rate = 1000
	l = StartLoadWith(t, r.Proc, mix, logs)
	// The heap only falls once the garbage of the drained queue is collected, and collections
	// at this rate are sparse, so the level may come back for a moment: what must happen within
	// a minute is a 2 s window in which info is kept in full.
	var infoIn, infoKept, windows, flapped float64
	recovered := false
	for end := time.Now().Add(60 * time.Second); !recovered && time.Now().Before(end); {
		before, err := harness.Scrape(context.Background(), nil, r.Proc.TelemetryURL)
		require.NoError(t, err)
		Pause(2 * time.Second)
		after, err := harness.Scrape(context.Background(), nil, r.Proc.TelemetryURL)
		require.NoError(t, err)
		delta := func(name string) float64 {
			return after.Sum(name, "tier", "default") - before.Sum(name, "tier", "default")
		}
		infoIn, infoKept = delta("otelcol_processor_tiered_sampling_records_in"), delta("otelcol_processor_tiered_sampling_records_kept")
		windows++
		recovered = infoIn > 0 && infoIn == infoKept && after.Sum("otelcol_processor_tiered_sampling_shed_level") == 0
		if !recovered && infoIn > 0 {
			flapped++
		}
	}
	l.Stop()
	close(stop)
	<-done
	v := r.waitKeptDelivered(logs, 60*time.Second)

	final, err := harness.Scrape(context.Background(), nil, r.Proc.TelemetryURL)
	require.NoError(t, err)
	frac := func(tier string) float64 {
		in := final.Sum("otelcol_processor_tiered_sampling_records_in", "tier", tier)
		return final.Sum("otelcol_processor_tiered_sampling_records_kept", "tier", tier) / in
	}
	shed := final.Sum("otelcol_processor_tiered_sampling_records_dropped", "reason", "shed")
	trace.mu.Lock()
	defer trace.mu.Unlock()
	sent, acked, fails := logs.Counts()
	t.Logf("memory pressure: logs: sent=%d acked=%d delivered_errors=%d of %d duplicates=%d; restarts=%d refused_requests=%d receiver_refused=%.0f "+
		"shed_records=%.0f kept_fraction errors=%.3f warn=%.3f info=%.3f shed_level1_at=%s shed_level2_at=%s refuse_at=%s "+
		"idle_heap=%.0fMiB max_heap=%.0fMiB after_drain: info_kept=%.0f/%.0f in the first clean 2s window, windows=%.0f (with shedding: %.0f)",
		sent, acked, v.Delivered, v.Acked, r.rec.stats().LokiDuplicates, r.Restarts, fails, underPressure.Sum("otelcol_receiver_refused_log_records"),
		shed, frac("errors"), frac("warn"), frac("default"), since(trace.firstShed[1], began), since(trace.firstShed[2], began),
		since(trace.firstRefuse, began), idleHeap, trace.maxHeapMiB, infoKept, infoIn, windows, flapped)

	require.Equal(t, 2, trace.maxLevel, "both sheddable tiers (default, warn) must have been shed")
	require.False(t, trace.firstShed[1].After(trace.firstShed[2]), "warn was shed before info")
	require.False(t, trace.firstShed[2].After(trace.firstRefuse), "memory_limiter refused before the sheddable tiers were shed")
	require.Equal(t, 100.0, trace.minRate["errors"], "the errors tier must keep 100%% throughout")
	require.Zero(t, trace.minRate["default"])
	require.Zero(t, trace.minRate["warn"])
	require.Equal(t, 1.0, frac("errors"), "errors must stay 100%")
	require.Less(t, frac("default"), 1.0)
	require.Less(t, frac("warn"), 1.0)
	require.Less(t, frac("default"), frac("warn"), "info must lose more than warn")
	require.Positive(t, shed)
	require.True(t, recovered, "info was not kept in full in any 2 s window within a minute of the queue draining")
}

func since(t, ref time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return fmt.Sprintf("%.1fs", t.Sub(ref).Seconds())
}

// waitKeptDelivered waits until every acknowledged error arrived with its content, and every
// record the sampler kept (records_kept, all tiers) arrived: under shedding, only acknowledged
// errors are owed item by item, the other tiers are owed what was kept.
func (r *Rig) waitKeptDelivered(s *Stream, timeout time.Duration) Verdict {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, err := r.VerifyClass(s, loadgen.ClassKeep)
		require.NoError(r.t, err)
		require.Zero(r.t, v.Mismatched, "acknowledged errors arrived with other content, e.g. %s", v.MismatchExample)
		text, err := harness.Scrape(context.Background(), nil, r.Proc.TelemetryURL)
		require.NoError(r.t, err)
		kept := text.Sum("otelcol_processor_tiered_sampling_records_kept")
		got := float64(r.Sink.Loki.Snapshot().TotalUnique())
		if v.Missing == 0 && got >= kept {
			require.Equal(r.t, kept, got, "the backend got records the sampler did not keep")
			return v
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("within %v: %d of %d acknowledged errors missing (e.g. %s); %.0f of %.0f kept records arrived",
				timeout, v.Missing, v.Acked, v.MissingExample, got, kept)
		}
		Pause(500 * time.Millisecond)
	}
}
