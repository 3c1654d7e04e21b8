package tieredsampling

import (
	"fmt"
	"runtime"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/sieveobs/sieve/internal/policy"
)

// zapBatch is 100 info records as otelzap writes them for ten traces: a message, the caller, and
// the request's fields.
func zapBatch(seq int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	rl.Resource().Attributes().PutStr("service.instance.id", "checkout-7d9f8-x2k4p")
	rl.Resource().Attributes().PutStr("deployment.environment.name", "prod")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("shop/checkout")
	for i := range 100 {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("info")
		lr.SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + 1000*uint64(seq*100+i)))
		// Randomness 0: every info record fails its tier and waits for its trace.
		lr.SetTraceID(traceIDWithRandomness(0))
		tid := lr.TraceID()
		tid[0], tid[1], tid[2], tid[3] = byte(seq), byte(seq>>8), byte(i/10), 1
		lr.SetTraceID(tid)
		lr.SetSpanID([8]byte{1, byte(i)})
		lr.Body().SetStr("order created")
		a := lr.Attributes()
		a.PutStr("uid", fmt.Sprintf("u-%06d", seq*100+i))
		a.PutStr("http.route", "/api/orders")
		a.PutInt("http.status_code", 200)
		a.PutStr("region", "eu-west-1")
		a.PutDouble("latency_ms", 12.5)
		a.PutStr("code.filepath", "checkout/orders.go")
		a.PutInt("code.lineno", 142)
		a.PutStr("code.function", "checkout.(*Server).CreateOrder")
	}
	return ld
}

// batchDecisions decides the traces of a batch: the first of every ten kept.
func batchDecisions(ld plog.Logs) []policy.Decision {
	seen := map[pcommon.TraceID]bool{}
	var out []policy.Decision
	lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	for i := 0; i < lrs.Len(); i++ {
		id := lrs.At(i).TraceID()
		if !seen[id] {
			seen[id] = true
			out = append(out, policy.Decision{TraceID: id, Kept: len(out)%10 == 0})
		}
	}
	return out
}

// BenchmarkHoldRecords holds info records of undecided traces (100 per operation, ten traces)
// and reports ns per record, then, on a fresh processor holding 20,000 records, the bytes counted
// against follow_traces.max_bytes per record and the heap they take per record.
func BenchmarkHoldRecords(b *testing.B) {
	unbounded := func(c *Config) {
		c.FollowTraces.MaxRecords = 1 << 30
		c.FollowTraces.MaxBytes = 1 << 40
	}
	r := newHoldRig(b, unbounded, nil)
	batches := make([]plog.Logs, b.N)
	ids := make([][]policy.Decision, b.N)
	for i := range batches {
		batches[i] = zapBatch(i)
		ids[i] = batchDecisions(batches[i])
	}
	b.ResetTimer()
	for i := range b.N {
		r.process(b, batches[i])
		// Steady state: the traces of 50 batches ago are decided, one in ten kept, as a tail
		// sampler keeping errors and a 10% rate would.
		if i >= 50 {
			r.eng.PublishDecisions(ids[i-50])
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/record")

	const n = 200
	m := newHoldRig(b, unbounded, nil)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range n {
		// Garbage once processed: the heap that remains is what is held.
		m.process(b, zapBatch(i))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	records, bytes := m.p.holder.observe()
	if records != n*100 {
		b.Fatalf("%d records held, want %d", records, n*100)
	}
	b.ReportMetric(float64(bytes)/float64(records), "held-B/record")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(records), "heap-B/record")
	runtime.KeepAlive(m)
}
