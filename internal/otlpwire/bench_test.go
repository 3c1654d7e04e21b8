package otlpwire

import (
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// benchLogs is a request shaped like the benchmarks' load: 5 resources of 20 records, each
// record with a trace ID, a body and six attributes.
func benchLogs(tb testing.TB) []byte {
	ld := plog.NewLogs()
	for r := range 5 {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "checkout")
		rl.Resource().Attributes().PutStr("uid", fmt.Sprint("user-", r))
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for i := range 20 {
			lr := lrs.AppendEmpty()
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
			lr.SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + i))
			lr.SetTraceID(pcommon.TraceID{byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, byte(r)})
			lr.Body().SetStr("GET /api/v1/cart served in 12ms")
			a := lr.Attributes()
			a.PutStr("sieve.test.id", fmt.Sprintf("sid-info-%016d", r*20+i))
			a.PutInt("http.status_code", 200)
			a.PutStr("http.method", "GET")
			a.PutStr("http.route", "/api/v1/cart")
			a.PutDouble("duration_ms", 12.5)
			a.PutBool("cache_hit", true)
		}
	}
	b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

type constDecider bool

func (d constDecider) DropLog(*Resource, *LogRecord) bool { return bool(d) }

// lookupDecider reads what the classic tiers read: severity, two status attributes, the
// randomness and threshold attributes and a resource attribute.
type lookupDecider struct{}

func (lookupDecider) DropLog(res *Resource, rec *LogRecord) bool {
	_ = res.Attr("uid")
	_ = rec.Attr("http.response.status_code")
	_ = rec.Attr("http.status_code")
	_ = rec.Attr("sampling.randomness")
	_ = rec.Attr("sampling.threshold")
	return rec.SeverityNumber < 13
}

// BenchmarkLogsFilter: ns and allocations per record, every record kept (nothing rewritten),
// every record dropped (an empty request written), and the lookups of the classic tiers.
func BenchmarkLogsFilter(b *testing.B) {
	req := benchLogs(b)
	for _, tc := range []struct {
		name string
		d    LogsDecider
	}{{"kept", constDecider(false)}, {"dropped", constDecider(true)}, {"classic_lookups_dropped", lookupDecider{}}} {
		b.Run(tc.name, func(b *testing.B) {
			var f LogsFilter
			dst := make([]byte, 0, len(req))
			b.ReportAllocs()
			b.SetBytes(int64(len(req)))
			records := 0
			for b.Loop() {
				_, res, err := f.Filter(dst[:0], req, tc.d)
				if err != nil {
					b.Fatal(err)
				}
				records += res.Records
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records), "ns/record")
		})
	}
	b.Run("pdata_decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(req)))
		records := 0
		for b.Loop() {
			r := plogotlp.NewExportRequest()
			if err := r.UnmarshalProto(req); err != nil {
				b.Fatal(err)
			}
			records += r.Logs().LogRecordCount()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records), "ns/record")
	})
}

type constSpanDecider bool

func (d constSpanDecider) DropSpan(*Resource, *Span) bool { return bool(d) }

// BenchmarkSpansFilter: ns and allocations per span, kept and dropped, against pdata's decode.
func BenchmarkSpansFilter(b *testing.B) {
	td := ptrace.NewTraces()
	for r := range 5 {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", fmt.Sprint("svc-", r))
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for i := range 20 {
			sp := spans.AppendEmpty()
			sp.SetTraceID(pcommon.TraceID{byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, byte(r)})
			sp.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(i)})
			sp.SetParentSpanID(pcommon.SpanID{9, 9, 9, 9, 9, 9, 9, byte(i)})
			sp.SetName("GET /api/v1/cart")
			sp.SetKind(ptrace.SpanKindServer)
			sp.SetStartTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + i))
			sp.SetEndTimestamp(pcommon.Timestamp(1_700_000_000_020_000_000 + i))
			a := sp.Attributes()
			a.PutStr("http.method", "GET")
			a.PutStr("http.route", "/api/v1/cart")
			a.PutInt("http.status_code", 200)
			a.PutStr("sieve.test.id", fmt.Sprintf("sid-span-%016d", r*20+i))
		}
	}
	req, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		d    SpansDecider
	}{{"kept", constSpanDecider(false)}, {"dropped", constSpanDecider(true)}} {
		b.Run(tc.name, func(b *testing.B) {
			var f SpansFilter
			dst := make([]byte, 0, len(req))
			b.ReportAllocs()
			spans := 0
			for b.Loop() {
				_, res, err := f.Filter(dst[:0], req, tc.d)
				if err != nil {
					b.Fatal(err)
				}
				spans += res.Records
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(spans), "ns/span")
		})
	}
	b.Run("pdata_decode", func(b *testing.B) {
		b.ReportAllocs()
		spans := 0
		for b.Loop() {
			r := ptraceotlp.NewExportRequest()
			if err := r.UnmarshalProto(req); err != nil {
				b.Fatal(err)
			}
			spans += r.Traces().SpanCount()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(spans), "ns/span")
	})
}
