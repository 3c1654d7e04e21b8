package prometheusremotewrite

import (
	"fmt"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// BenchmarkStalenessMemory tracks 100,000 series shaped like the load generator's (a route, a
// region, a service and a unique ID per series) and reports the heap the tracker keeps per
// series once the translated batches are gone.
func BenchmarkStalenessMemory(b *testing.B) {
	const series, perBatch = 100_000, 1000
	for range b.N {
		tr8 := newTranslator(createDefaultConfig().(*Config))
		tr := newStalenessTracker(StalenessConfig{StaleAfter: time.Hour, MaxSeries: series}, func(string) {})
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range series / perBatch {
			md := pmetric.NewMetrics()
			sm := newResource(md, "checkout", "")
			for j := range perBatch {
				addGauge(sm, "sieve.loadgen.queue_depth", 1, tsAt(1), "http.route", "/api/orders/{id}",
					"region", "eu-west-1", "sieve_test_id", fmt.Sprintf("p%015d", i*perBatch+j))
			}
			bt := newBatch()
			tr8.translate(md, bt)
			bt.finish()
			tr.observe(bt, time.Unix(0, 0))
		}
		tr8 = nil
		runtime.GC()
		runtime.ReadMemStats(&after)
		if tr.count != series {
			b.Fatalf("%d series tracked, want %d", tr.count, series)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/series, "B/series")
		if sz := unsafe.Sizeof(staleSlot{}); sz != 40 {
			b.Fatalf("a slot takes %d bytes, want 40", sz)
		}
		runtime.KeepAlive(tr)
	}
}
