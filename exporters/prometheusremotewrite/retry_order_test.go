package prometheusremotewrite

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// A retry must not resend what the endpoint already accepted. When target_info's shard fails,
// the retried data points include every point of the resource, and a histogram point feeds
// series in several shards; resending the older samples of a series whose shard succeeded
// would be an out-of-order write (Prometheus answers 400 and the whole retry is lost).
func TestRetryNeverResendsDeliveredSamples(t *testing.T) {
	tests := []struct {
		name string
		fail func(r *received) bool // which requests fail on the first push
	}{
		{name: "target_info shard fails", fail: func(r *received) bool { return hasSeries(r, targetInfo) }},
		{name: "a histogram bucket shard fails", fail: func(r *received) bool {
			return hasSeries(r, "lat_seconds_bucket") && !hasSeries(r, "lat_seconds_count")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := newFakeReceiver(t)
			cfg := testConfig(rcv.url())
			cfg.Shards = 4
			e := startRaw(t, cfg, time.Now)

			md := pmetric.NewMetrics()
			rm := md.ResourceMetrics().AppendEmpty()
			rm.Resource().Attributes().PutStr("service.name", "svc")
			rm.Resource().Attributes().PutStr("region", "eu") // makes target_info carry a label
			sm := rm.ScopeMetrics().AppendEmpty()
			for s := range 20 {
				m := sm.Metrics().AppendEmpty()
				m.SetName("g")
				g := m.SetEmptyGauge()
				for ts := 1; ts <= 3; ts++ {
					dp := g.DataPoints().AppendEmpty()
					dp.SetDoubleValue(float64(ts))
					dp.SetTimestamp(tsAt(ts))
					dp.Attributes().PutStr("s", strconv.Itoa(s))
				}
			}
			h := sm.Metrics().AppendEmpty()
			h.SetName("lat")
			h.SetUnit("s")
			hh := h.SetEmptyHistogram()
			hh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for ts := 1; ts <= 3; ts++ {
				dp := hh.DataPoints().AppendEmpty()
				dp.SetTimestamp(tsAt(ts))
				dp.ExplicitBounds().FromRaw([]float64{0.1, 1, 10})
				dp.BucketCounts().FromRaw([]uint64{uint64(ts), 1, 1, 0})
				dp.SetCount(uint64(ts) + 2)
				dp.SetSum(float64(ts))
			}

			var failing atomic.Bool
			failing.Store(true)
			var failedOnce atomic.Bool
			rcv.setRespond(func(r *received) (int, http.Header) {
				if failing.Load() && tt.fail(r) {
					failedOnce.Store(true)
					return http.StatusServiceUnavailable, nil
				}
				return http.StatusNoContent, http.Header{headerSamplesWritten: []string{"1"}}
			})
			err := e.pushMetrics(context.Background(), md)
			require.True(t, failedOnce.Load(), "the scripted failure never happened")
			require.Error(t, err)
			var me consumererror.Metrics
			require.ErrorAs(t, err, &me)
			failing.Store(false)
			require.NoError(t, e.pushMetrics(context.Background(), me.Data()))

			perSeries := map[string][]int64{}
			for _, r := range rcv.accepted() {
				for _, s := range r.series {
					k := labelString(s.Labels)
					for _, smp := range s.Samples {
						perSeries[k] = append(perSeries[k], smp.Timestamp)
					}
				}
			}
			require.NotEmpty(t, perSeries)
			for k, tss := range perSeries {
				want := []int64{toMillis(tsAt(1)), toMillis(tsAt(2)), toMillis(tsAt(3))}
				if k[:len(targetInfo)] == targetInfo {
					want = want[2:]
				}
				require.Equal(t, want, tss, "series %s: every sample once, in order", k)
			}
			require.Empty(t, e.delivered, "a completed batch leaves nothing behind")
		})
	}
}

func hasSeries(r *received, name string) bool {
	for _, s := range r.series {
		for _, l := range s.Labels {
			if l.Name == nameLabel && l.Value == name {
				return true
			}
		}
	}
	return false
}
