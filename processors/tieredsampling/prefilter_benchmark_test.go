package tieredsampling

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

// benchRequest is shaped like the benchmarks' load: 5 resources with a uid, 20 records each, 94%
// info, 5% warn, 1% error, each with a trace ID and six attributes.
func benchRequest(tb testing.TB, seq int) []byte {
	ld := plog.NewLogs()
	item := 0
	for r := range 5 {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "checkout")
		rl.Resource().Attributes().PutStr("uid", fmt.Sprint("u-", r))
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("go.uber.org/zap")
		for range 20 {
			lr := sl.LogRecords().AppendEmpty()
			sev := plog.SeverityNumberInfo
			switch item % 100 {
			case 0:
				sev = plog.SeverityNumberError
			case 1, 2, 3, 4, 5:
				sev = plog.SeverityNumberWarn
			}
			lr.SetSeverityNumber(sev)
			lr.SetSeverityText(sev.String())
			lr.SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + item))
			lr.SetObservedTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + item))
			lr.Body().SetStr("request served")
			a := lr.Attributes()
			a.PutStr("logger", "http")
			a.PutStr("caller", "server/handler.go:42")
			a.PutStr("http.method", "GET")
			a.PutStr("http.route", "/api/v1/cart")
			a.PutInt("http.status_code", 200)
			a.PutDouble("duration_ms", 12.5)
			a.PutStr("sieve.test.id", fmt.Sprintf("sid-info-%016d", seq*100+item))
			lr.SetTraceID(traceIDWithRandomness(uint64(seq*100+item) * 0x9e3779b97f4a7c15))
			lr.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
			item++
		}
	}
	b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkDecodeAndSample compares what a request costs from bytes to kept records: the
// normal decode then the processor, and the prefilter, then the decode and the processor on
// what it keeps. ns/record is per record received.
func BenchmarkDecodeAndSample(b *testing.B) {
	cfg := defaultCfg()
	cfg.RequiredAttributes = []string{"uid"}
	reqs := make([][]byte, 64)
	for i := range reqs {
		reqs[i] = benchRequest(b, i)
	}
	run := func(b *testing.B, pre bool) {
		p := newTestProcessor(b, cfg, nil, nil)
		f := newPrefilter(p)
		b.ReportAllocs()
		records, kept := 0, 0
		i := 0
		for b.Loop() {
			body := reqs[i%len(reqs)]
			i++
			if pre {
				out, res, err := f.FilterLogs(nil, body)
				if err != nil {
					b.Fatal(err)
				}
				body = out
				if res.Dropped == res.Records {
					records += res.Records
					continue
				}
			}
			req := plogotlp.NewExportRequest()
			if err := req.UnmarshalProto(body); err != nil {
				b.Fatal(err)
			}
			n := req.Logs().LogRecordCount()
			if !pre {
				records += n
			} else {
				records += 100
			}
			ld, _ := p.processLogs(context.Background(), req.Logs())
			kept += ld.LogRecordCount()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records), "ns/record")
		b.ReportMetric(float64(kept)/float64(records), "kept/record")
	}
	b.Run("decode_then_sample", func(b *testing.B) { run(b, false) })
	b.Run("prefilter_decode_kept_sample", func(b *testing.B) { run(b, true) })
}
