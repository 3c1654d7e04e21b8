package prometheusremotewrite

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func staleMarkers(rcv *fakeReceiver) map[string]int64 {
	out := map[string]int64{}
	for _, r := range rcv.accepted() {
		for _, s := range r.series {
			for _, smp := range s.Samples {
				if isStaleNaN(smp.Value) {
					out[labelString(s.Labels)] = smp.Timestamp
				}
			}
		}
	}
	return out
}

func TestStalenessMarkerForDisappearedSeries(t *testing.T) {
	rcv := newFakeReceiver(t)
	cfg := testConfig(rcv.url())
	cfg.Staleness.StaleAfter = time.Minute
	clock := newTestClock()
	e := startRaw(t, cfg, clock.now)

	both := pmetric.NewMetrics()
	sm := newResource(both, "svc", "i-1")
	addGauge(sm, "g", 1, tsAt(1), "k", "stays")
	addGauge(sm, "g", 1, tsAt(1), "k", "goes")
	require.NoError(t, e.pushMetrics(context.Background(), both))

	clock.advance(30 * time.Second)
	one := pmetric.NewMetrics()
	addGauge(newResource(one, "svc", "i-1"), "g", 2, tsAt(31), "k", "stays")
	require.NoError(t, e.pushMetrics(context.Background(), one))
	require.Empty(t, staleMarkers(rcv), "not stale before stale_after")

	clock.advance(31 * time.Second)
	again := pmetric.NewMetrics()
	addGauge(newResource(again, "svc", "i-1"), "g", 3, tsAt(61), "k", "stays")
	require.NoError(t, e.pushMetrics(context.Background(), again))
	require.Equal(t, map[string]int64{
		`g{instance="i-1",job="svc",k="goes"}`: clock.now().UnixMilli(),
	}, staleMarkers(rcv))

	// Once marked, a series is forgotten and not marked again.
	clock.advance(5 * time.Minute)
	require.NoError(t, e.pushMetrics(context.Background(), pmetric.NewMetrics()))
	require.Len(t, staleMarkers(rcv), 2, "only 'stays' is newly marked")
}

// When every series stops, no push comes to sweep them: the exporter's own
// sweep must still end them, and retry a marker whose request failed.
func TestStalenessMarkersSentWithoutTraffic(t *testing.T) {
	rcv := newFakeReceiver(t)
	cfg := testConfig(rcv.url())
	cfg.Staleness.StaleAfter = time.Minute
	clock := newTestClock()
	e, err := newExporter(cfg, exportertest.NewNopSettings(component.MustNewType(typeStr)), clock.now)
	require.NoError(t, err)
	e.sweepEvery = 5 * time.Millisecond
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, e.shutdown(context.Background())) })

	require.NoError(t, e.pushMetrics(context.Background(), oneGauge(1)))
	requests := len(rcv.accepted())
	require.Never(t, func() bool { return len(rcv.accepted()) != requests }, 50*time.Millisecond, 5*time.Millisecond,
		"nothing is due before stale_after")

	var refused atomic.Int32
	rcv.setRespond(func(*received) (int, http.Header) {
		refused.Add(1)
		return http.StatusServiceUnavailable, nil
	})
	clock.advance(2 * time.Minute)
	require.Eventually(t, func() bool { return refused.Load() > 0 }, 5*time.Second, 5*time.Millisecond)
	require.Empty(t, staleMarkers(rcv))

	rcv.setRespond(nil)
	require.Eventually(t, func() bool { return len(staleMarkers(rcv)) == 1 }, 5*time.Second, 5*time.Millisecond,
		"the marker refused once is sent by a later sweep")
	require.Equal(t, clock.now().UnixMilli(), staleMarkers(rcv)[`g{instance="i-1",job="svc"}`])
}

func TestStalenessMarkerRestoredWhenShardFails(t *testing.T) {
	rcv := newFakeReceiver(t)
	cfg := testConfig(rcv.url())
	cfg.Staleness.StaleAfter = time.Minute
	clock := newTestClock()
	e := startRaw(t, cfg, clock.now)
	require.NoError(t, e.pushMetrics(context.Background(), oneGauge(1)))

	clock.advance(2 * time.Minute)
	rcv.setRespond(func(*received) (int, http.Header) { return http.StatusServiceUnavailable, nil })
	require.Error(t, e.pushMetrics(context.Background(), pmetric.NewMetrics()))
	require.Empty(t, staleMarkers(rcv))

	rcv.setRespond(nil)
	require.NoError(t, e.pushMetrics(context.Background(), pmetric.NewMetrics()))
	require.Len(t, staleMarkers(rcv), 1, "the marker is sent once the endpoint recovers")
}

func TestStalenessTrackerIsBounded(t *testing.T) {
	ev := evictions{}
	tr := newStalenessTracker(StalenessConfig{StaleAfter: time.Minute, MaxSeries: 3}, ev.add)
	md := pmetric.NewMetrics()
	sm := newResource(md, "svc", "")
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		addGauge(sm, "g", 1, tsAt(1), "k", k)
	}
	b := newBatch()
	newTranslator(createDefaultConfig().(*Config)).translate(md, b)
	b.finish()
	tr.observe(b, time.Unix(0, 0))
	require.Equal(t, 3, tr.count)
	require.Equal(t, evictions{reasonCapacity: 2}, ev)
}

// A swept series' marker keeps its own labels even when its slot is reused by a new series
// before the marker is restored (its shard failed).
func TestStalenessMarkerLabelsSurviveSlotReuse(t *testing.T) {
	tr := newStalenessTracker(StalenessConfig{StaleAfter: time.Minute, MaxSeries: 10}, evictions{}.add)
	tr8 := newTranslator(createDefaultConfig().(*Config))
	batchOf := func(key string) *batch {
		md := pmetric.NewMetrics()
		addGauge(newResource(md, "svc", ""), "g", 1, tsAt(1), "k", key)
		b := newBatch()
		tr8.translate(md, b)
		b.finish()
		return b
	}
	tr.observe(batchOf("old"), time.Unix(0, 0))

	sweepBatch := newBatch()
	markers := tr.sweep(sweepBatch, time.Unix(120, 0))
	require.Len(t, markers, 1)
	want := labelString(promLabels(markers[0].labels))
	require.Contains(t, want, "old")

	tr.observe(batchOf("new"), time.Unix(121, 0))
	require.Equal(t, int32(1), tr.nslots, "the freed slot is reused")
	require.Equal(t, want, labelString(promLabels(markers[0].labels)))

	tr.restore(markers[0])
	require.Equal(t, 2, tr.count)
	again := tr.sweep(newBatch(), time.Unix(122, 0))
	require.Len(t, again, 1, "only the restored marker is due")
	require.Equal(t, want, labelString(promLabels(again[0].labels)))
}

// BenchmarkStalenessChurn tracks batches of series never seen before, as when a label carries
// a request ID: every observation inserts one series and, at capacity, evicts another.
func BenchmarkStalenessChurn(b *testing.B) {
	const perBatch = 1000
	tr8 := newTranslator(createDefaultConfig().(*Config))
	batches := make([]*batch, 8)
	for i := range batches {
		md := pmetric.NewMetrics()
		sm := newResource(md, "svc", "")
		for j := range perBatch {
			addGauge(sm, "g", 1, tsAt(1), "id", fmt.Sprintf("%d-%d", i, j))
		}
		batches[i] = newBatch()
		tr8.translate(md, batches[i])
		batches[i].finish()
	}
	tr := newStalenessTracker(StalenessConfig{StaleAfter: time.Hour, MaxSeries: 4 * perBatch}, func(string) {})
	now := time.Unix(0, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tr.observe(batches[i%len(batches)], now)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perBatch), "ns/series")
}
