package prometheusremotewrite

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// benchMetrics builds a batch shaped like a service's scrape: many gauge
// and counter series with a handful of attributes, plus some classic and
// native histograms.
func benchMetrics(services, seriesPerService int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for s := range services {
		sm := newResource(md, "svc-"+strconv.Itoa(s), "pod-"+strconv.Itoa(s))
		for i := range seriesPerService {
			m := sm.Metrics().AppendEmpty()
			switch i % 10 {
			case 8:
				m.SetName("rpc.duration")
				m.SetUnit("s")
				h := m.SetEmptyHistogram()
				h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
				dp := h.DataPoints().AppendEmpty()
				dp.SetTimestamp(tsAt(1))
				dp.ExplicitBounds().FromRaw([]float64{0.005, 0.01, 0.05, 0.1, 0.5, 1})
				dp.BucketCounts().FromRaw([]uint64{1, 2, 3, 4, 5, 6, 7})
				dp.SetCount(28)
				dp.SetSum(3.5)
				dp.Attributes().PutStr("route", "/r/"+strconv.Itoa(i))
			case 9:
				m.SetName("rpc.latency")
				m.SetUnit("s")
				h := m.SetEmptyExponentialHistogram()
				h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
				dp := h.DataPoints().AppendEmpty()
				dp.SetTimestamp(tsAt(1))
				dp.SetScale(3)
				dp.SetCount(55)
				dp.SetSum(12)
				dp.Positive().SetOffset(-10)
				dp.Positive().BucketCounts().FromRaw([]uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
				dp.Attributes().PutStr("route", "/r/"+strconv.Itoa(i))
			default:
				m.SetName("http.requests")
				s := m.SetEmptySum()
				s.SetIsMonotonic(true)
				s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
				dp := s.DataPoints().AppendEmpty()
				dp.SetTimestamp(tsAt(1))
				dp.SetIntValue(int64(i))
				dp.Attributes().PutStr("route", "/r/"+strconv.Itoa(i))
				dp.Attributes().PutStr("method", "GET")
				dp.Attributes().PutStr("status", "200")
			}
		}
	}
	return md
}

func translated(b *testing.B) ([]*series, int) {
	b.Helper()
	bt := newBatch()
	newTranslator(createDefaultConfig().(*Config)).translate(benchMetrics(20, 500), bt)
	bt.finish()
	var ptrs []*series
	samples := 0
	for i := range bt.all() {
		ptrs = append(ptrs, &bt.series[i])
		samples += len(bt.series[i].samples) + len(bt.series[i].histograms)
	}
	return ptrs, samples
}

// cpuTime is the process' user+system CPU time. On a shared machine the
// wall clock includes time spent descheduled; samples per CPU-second is the
// per-core figure that does not depend on what else runs.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEncodeCompress measures marshal + snappy, the per-sample work
// of sending, for both protocols on one goroutine.
func BenchmarkEncodeCompress(b *testing.B) {
	ss, samples := translated(b)
	for _, proto := range []string{protocolV1, protocolV2} {
		b.Run("rw"+proto, func(b *testing.B) {
			enc := newEncoder()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			var bytes int
			for b.Loop() {
				var body []byte
				var err error
				if proto == protocolV1 {
					body, err = enc.encodeV1(ss)
				} else {
					body, err = enc.encodeV2(ss)
				}
				if err != nil {
					b.Fatal(err)
				}
				bytes = len(body)
			}
			cpu := cpuTime() - cpu0
			b.ReportMetric(float64(samples)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
			b.ReportMetric(float64(samples)*float64(b.N)/cpu.Seconds(), "samples/cpu-s")
			b.ReportMetric(float64(bytes)/float64(samples), "bytes/sample")
		})
	}
}

// BenchmarkTranslate measures OTLP to series conversion alone.
func BenchmarkTranslate(b *testing.B) {
	md := benchMetrics(20, 500)
	_, samples := translated(b)
	tr := newTranslator(createDefaultConfig().(*Config))
	bt := newBatch()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		bt.reset()
		tr.translate(md, bt)
		bt.finish()
	}
	b.ReportMetric(float64(samples)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(samples)*float64(b.N)/(cpuTime()-cpu0).Seconds(), "samples/cpu-s")
}

// BenchmarkPush measures the whole push (translate, shard, encode,
// compress, HTTP to a discarding local server) with one shard, so the
// figure is per core of exporter work plus the loopback server.
func BenchmarkPush(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set(headerSamplesWritten, "1")
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	for _, proto := range []string{protocolV1, protocolV2} {
		b.Run("rw"+proto, func(b *testing.B) {
			cfg := testConfig(srv.URL)
			cfg.Protocol = proto
			cfg.Shards = 1
			cfg.Staleness.StaleAfter = 0
			e := startRaw(b, cfg, time.Now)
			md := benchMetrics(20, 500)
			_, samples := translated(b)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for b.Loop() {
				require.NoError(b, e.pushMetrics(context.Background(), md))
			}
			b.ReportMetric(float64(samples)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
			// Includes the in-process receiving server's CPU.
			b.ReportMetric(float64(samples)*float64(b.N)/(cpuTime()-cpu0).Seconds(), "samples/cpu-s")
		})
	}
}
