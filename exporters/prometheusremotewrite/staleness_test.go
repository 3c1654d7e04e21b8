package prometheusremotewrite

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
	require.Len(t, tr.entries, 3)
	require.Equal(t, evictions{reasonCapacity: 2}, ev)
}
