package loki

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// benchLogs is a corpus shaped like the logs of a busy Go service: logfmt
// lines of ~200 bytes, a few services and levels, high-cardinality user and
// trace IDs that belong in structured metadata.
func benchLogs(n int) plog.Logs {
	r := rand.New(rand.NewPCG(1, 2))
	ld := plog.NewLogs()
	base := time.Now().Add(-time.Minute)
	levels := []string{"INFO", "INFO", "INFO", "WARN", "ERROR", "DEBUG"}
	paths := []string{"/api/v1/users", "/api/v1/orders", "/healthz", "/api/v1/cart", "/api/v2/search"}
	for s := 0; s < 4; s++ {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", s))
		rl.Resource().Attributes().PutStr("k8s.pod.name", fmt.Sprintf("svc-%d-7f9c-%05d", s, r.IntN(99999)))
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for i := 0; i < n/4; i++ {
			lr := lrs.AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i) * time.Microsecond)))
			lvl := levels[r.IntN(len(levels))]
			lr.SetSeverityText(lvl)
			status := []string{"200", "200", "200", "404", "500"}[r.IntN(5)]
			lr.Attributes().PutStr("http.status_code", status)
			lr.Attributes().PutStr("user.id", fmt.Sprintf("u-%08d", r.IntN(1_000_000)))
			var tid pcommon.TraceID
			for j := range tid {
				tid[j] = byte(r.Uint32())
			}
			lr.SetTraceID(tid)
			lr.Body().SetStr(fmt.Sprintf(`level=%s msg="request served" method=GET path=%s/%d status=%s duration_ms=%.3f bytes=%d remote=10.%d.%d.%d user_agent="Go-http-client/1.1" request_id=%016x`,
				lvl, paths[r.IntN(len(paths))], r.IntN(100000), status, r.Float64()*250, r.IntN(65536), r.IntN(256), r.IntN(256), r.IntN(256), r.Uint64()))
		}
	}
	return ld
}

// cpuSeconds is the CPU time of the process (all threads, GC included).
// On a shared machine wall-clock MB/s depends on the neighbours; MB per
// CPU-second is the per-core figure.
func cpuSeconds(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func reportPerCPU(b *testing.B, startCPU float64, bytesPerOp, entriesPerOp int) {
	cpu := cpuSeconds(b) - startCPU
	if cpu <= 0 {
		return
	}
	b.ReportMetric(float64(bytesPerOp)*float64(b.N)/cpu/1e6, "MB/cpu-s")
	b.ReportMetric(float64(entriesPerOp)*float64(b.N)/cpu, "entries/cpu-s")
}

// pipelineLogs is shaped like what the bench's "Loki export" row feeds the exporter: the load
// generator's requests (5 resources of 20 records, 7 attributes of mixed types, trace context)
// merged by the batch processor, with the default label layout.
func pipelineLogs(n int) plog.Logs {
	r := rand.New(rand.NewPCG(3, 4))
	ld := plog.NewLogs()
	base := time.Now().Add(-time.Minute)
	methods := []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	messages := []string{"request completed", "cache miss", "user session refreshed", "payment authorised", "upstream call finished", "query executed"}
	for item := 0; item < n; {
		rl := ld.ResourceLogs().AppendEmpty()
		ra := rl.Resource().Attributes()
		ra.PutStr("service.name", fmt.Sprintf("svc-%02d", r.IntN(8)))
		ra.PutStr("region", []string{"eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1"}[r.IntN(5)])
		ra.PutStr("uid", fmt.Sprintf("u-%06d", r.IntN(1_000_000)))
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("go.uber.org/zap")
		// Each request starts its timestamps over: merged requests interleave within a stream.
		for j := 0; j < 20 && item < n; j++ {
			lr := sl.LogRecords().AppendEmpty()
			ts := pcommon.NewTimestampFromTime(base.Add(time.Duration(j) * time.Millisecond))
			lr.SetTimestamp(ts)
			lr.SetObservedTimestamp(ts)
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
			lr.SetSeverityText("info")
			lr.Body().SetStr(messages[r.IntN(len(messages))])
			a := lr.Attributes()
			a.PutStr("logger", "http")
			a.PutStr("caller", fmt.Sprintf("server/handler.go:%d", 40+r.IntN(200)))
			a.PutStr("http.method", methods[r.IntN(len(methods))])
			a.PutStr("http.route", fmt.Sprintf("/api/v1/op%02d", r.IntN(12)))
			a.PutInt("http.status_code", 200)
			a.PutDouble("duration_ms", float64(r.IntN(100000))/1000)
			a.PutStr("sieve.test.id", fmt.Sprintf("sid-i-%016d", item))
			var tid pcommon.TraceID
			var sid pcommon.SpanID
			for k := range tid {
				tid[k] = byte(r.Uint32())
			}
			for k := range sid {
				sid[k] = byte(r.Uint32())
			}
			lr.SetTraceID(tid)
			lr.SetSpanID(sid)
			item++
		}
	}
	return ld
}

// BenchmarkPipelineShape is the whole pdata -> compressed body path on pipelineLogs with the
// default configuration, per batch of the exporter's default size.
func BenchmarkPipelineShape(b *testing.B) {
	const entries = 10_000
	ld := pipelineLogs(entries)
	c := newConverter(testConfig(), time.Now)
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuSeconds(b)
	for b.Loop() {
		var st convertStats
		tb := c.convert(ld, &st)[0]
		enc, err := encode(tb, FormatProtobuf)
		if err != nil {
			b.Fatal(err)
		}
		enc.release()
		tb.release()
	}
	b.ReportMetric(float64(entries)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	reportPerCPU(b, start, 0, entries)
}

func benchConfig() *Config {
	cfg := testConfig()
	cfg.Labels = LabelsConfig{Severity: "level", ResourceAttributes: []string{"service.name"}, LogAttributes: []string{"http.status_code"}}
	return cfg
}

// BenchmarkEncodeCompress measures protobuf marshalling plus snappy block
// compression of a ready request; bytes are uncompressed protobuf bytes.
func BenchmarkEncodeCompress(b *testing.B) {
	const entries = 10_000
	c := newConverter(benchConfig(), time.Now)
	var st convertStats
	tb := c.convert(benchLogs(entries), &st)[0]
	raw := len(tb.appendProto(nil))
	b.SetBytes(int64(raw))
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuSeconds(b)
	var comp int
	for b.Loop() {
		enc, err := encode(tb, FormatProtobuf)
		if err != nil {
			b.Fatal(err)
		}
		comp = len(enc.body)
		enc.release()
	}
	b.ReportMetric(float64(entries)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	b.ReportMetric(float64(raw)/float64(comp), "ratio")
	reportPerCPU(b, start, raw, entries)
}

// BenchmarkConvertEncodeCompress measures the whole pdata -> request body
// path, labels and guard included; bytes are uncompressed protobuf bytes.
func BenchmarkConvertEncodeCompress(b *testing.B) {
	const entries = 10_000
	ld := benchLogs(entries)
	c := newConverter(benchConfig(), time.Now)
	var st convertStats
	raw := len(c.convert(ld, &st)[0].appendProto(nil))
	b.SetBytes(int64(raw))
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuSeconds(b)
	for b.Loop() {
		var st convertStats
		tb := c.convert(ld, &st)[0]
		enc, err := encode(tb, FormatProtobuf)
		if err != nil {
			b.Fatal(err)
		}
		enc.release()
		tb.release()
	}
	b.ReportMetric(float64(entries)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	reportPerCPU(b, start, raw, entries)
}

// BenchmarkEncodeJSON measures the JSON wire format for comparison.
func BenchmarkEncodeJSON(b *testing.B) {
	const entries = 10_000
	c := newConverter(benchConfig(), time.Now)
	var st convertStats
	tb := c.convert(benchLogs(entries), &st)[0]
	enc, err := encode(tb, FormatJSON)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc.body)))
	enc.release()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		enc, err := encode(tb, FormatJSON)
		if err != nil {
			b.Fatal(err)
		}
		enc.release()
	}
	b.ReportMetric(float64(entries)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkAppendLabelName is the structured metadata name of every attribute of every record.
func BenchmarkAppendLabelName(b *testing.B) {
	keys := []string{"logger", "caller", "http.method", "http.route", "http.status_code", "duration_ms", "sieve.test.id"}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		for _, k := range keys {
			buf = appendLabelName(buf[:0], k)
		}
	}
}
