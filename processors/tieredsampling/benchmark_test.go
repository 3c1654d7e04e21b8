package tieredsampling

import (
	"context"
	"math/rand/v2"
	"runtime"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
)

// benchBatch builds a batch with the severity mix of a busy service: mostly info and debug, a
// few warnings, rare errors, every record with a trace ID and a handful of attributes.
func benchBatch(n int) plog.Logs {
	rng := rand.New(rand.NewPCG(1, 2))
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	sl := rl.ScopeLogs().AppendEmpty()
	for i := range n {
		lr := sl.LogRecords().AppendEmpty()
		switch x := i % 100; {
		case x == 0:
			lr.SetSeverityNumber(plog.SeverityNumberError)
		case x < 5:
			lr.SetSeverityNumber(plog.SeverityNumberWarn)
		case x < 60:
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
		default:
			lr.SetSeverityNumber(plog.SeverityNumberDebug)
		}
		lr.SetTraceID(randomTraceID(rng))
		lr.Body().SetStr("request served")
		a := lr.Attributes()
		a.PutStr("uid", "u-1")
		a.PutInt("http.status_code", 200)
		a.PutStr("http.route", "/api/cart")
	}
	return ld
}

// BenchmarkProcessLogs reports ns/record and allocs/record for the classic policy. The input is
// copied outside the timer since the processor removes records in place.
func BenchmarkProcessLogs(b *testing.B) {
	const batch = 1000
	for _, tc := range []struct {
		name string
		cfg  func() *Config
	}{
		{"classic", defaultCfg},
		{"classic_required_attribute", func() *Config {
			c := defaultCfg()
			c.RequiredAttributes = []string{"uid"}
			return c
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := newTestProcessor(b, tc.cfg(), nil, nil)
			src := benchBatch(batch)
			copies := make([]plog.Logs, 64)
			ctx := context.Background()
			b.ReportAllocs()
			var ms runtime.MemStats
			var timed, start uint64 // mallocs while the timer ran, excluding the input copies
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%len(copies) == 0 {
					b.StopTimer()
					if i > 0 {
						runtime.ReadMemStats(&ms)
						timed += ms.Mallocs - start
					}
					for j := range copies {
						copies[j] = plog.NewLogs()
						src.CopyTo(copies[j])
					}
					runtime.ReadMemStats(&ms)
					start = ms.Mallocs
					b.StartTimer()
				}
				_, _ = p.processLogs(ctx, copies[i%len(copies)])
			}
			b.StopTimer()
			runtime.ReadMemStats(&ms)
			timed += ms.Mallocs - start
			reportPerRecord(b, timed, batch)
		})
	}
}

// BenchmarkDecideRecord measures one record through the decision with no batch overhead; the
// record is dropped (info at 0.1%), the common case.
func BenchmarkDecideRecord(b *testing.B) {
	p := newTestProcessor(b, defaultCfg(), nil, nil)
	ld := benchBatch(100)
	pol := p.policy.Load()
	bs := batchState{pol: pol, counts: newBatchCounts(len(pol.tiers)), needCtx: true}
	rl := ld.ResourceLogs().At(0)
	bs.rl, bs.sl, bs.resAttrs = rl, rl.ScopeLogs().At(0), rl.Resource().Attributes()
	lr := rl.ScopeLogs().At(0).LogRecords().At(10) // info
	lr.SetTraceID(traceIDWithRandomness(0))        // never passes 0.1%
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if p.keep(ctx, &bs, lr) {
			b.Fatal("record unexpectedly kept")
		}
	}
}

// reportPerRecord turns the per-batch figures into per-record ones.
func reportPerRecord(b *testing.B, mallocs uint64, batch int) {
	b.Helper()
	records := float64(b.N * batch)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/records, "ns/record")
	b.ReportMetric(float64(mallocs)/records, "allocs/record")
}
