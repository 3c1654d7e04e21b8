package finehistogram

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// Bounds of the fuzzed connectors: small, so that a short input can reach the overflow series
// and the exemplar ring's wrap-around.
const (
	fuzzCardinality = 4
	fuzzExemplars   = 2
	logMetricName   = "request.duration"
)

func fuzzConnector(t *testing.T, weighted bool) *testConnector {
	return newTestConnector(t, func(c *Config) {
		c.Dimensions = []string{"http.route"}
		c.Logs = []LogMetricConfig{{MetricName: logMetricName, Attribute: "duration", Unit: "ms"}}
		c.CardinalityLimit = fuzzCardinality
		c.Exemplars = ExemplarsConfig{Enabled: true, MaxPerDataPoint: fuzzExemplars}
		c.WeightByAdjustedCount = weighted
	})
}

// checkHistograms asserts what Prometheus and every OTLP consumer rely on, and returns the total
// count per metric name.
func checkHistograms(t *testing.T, md pmetric.Metrics) map[string]uint64 {
	counts := map[string]uint64{}
	series := map[string]int{}
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				require.Equal(t, pmetric.MetricTypeHistogram, m.Type(), m.Name())
				dps := m.Histogram().DataPoints()
				series[m.Name()] += dps.Len()
				for d := 0; d < dps.Len(); d++ {
					dp := dps.At(d)
					require.Equal(t, dp.ExplicitBounds().Len()+1, dp.BucketCounts().Len())
					var total uint64
					for _, n := range dp.BucketCounts().AsRaw() {
						total += n
					}
					require.Equal(t, dp.Count(), total, "bucket counts disagree with count")
					// Absurd but finite latencies may add up to +Inf; a NaN or negative sum would
					// come from a bug.
					require.False(t, math.IsNaN(dp.Sum()), "sum %v", dp.Sum())
					require.GreaterOrEqual(t, dp.Sum(), 0.0)
					require.LessOrEqual(t, dp.Exemplars().Len(), fuzzExemplars)
					counts[m.Name()] += dp.Count()
				}
			}
		}
	}
	for name, n := range series {
		// Series are per resource (service) too, but the limit is per metric: the overflow
		// series is the only one allowed beyond it.
		require.LessOrEqual(t, n, fuzzCardinality+1, "series of %s beyond the cardinality limit", name)
	}
	return counts
}

// requireCount checks that accepted observations were neither lost nor invented: exactly one
// each unweighted, between 1 and maxWeight each when weighted by adjusted count.
func requireCount(t *testing.T, weighted bool, accepted, got uint64) {
	if !weighted {
		require.Equal(t, accepted, got)
		return
	}
	require.GreaterOrEqual(t, got, accepted)
	require.LessOrEqual(t, float64(got), float64(accepted)*maxWeight+1)
}

// FuzzConsumeOTLPTraces decodes arbitrary bytes the way the OTLP receivers do (protobuf and JSON)
// and feeds what decodes to the connector: no panic, valid histograms, series bounded by the
// cardinality limit, and every span with a non-negative duration counted.
func FuzzConsumeOTLPTraces(f *testing.F) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i, route := range []string{"/a", "/b", "/c", "/d", "/e", "/f"} {
		sp := spans.AppendEmpty()
		sp.SetName("GET " + route)
		start := pcommon.NewTimestampFromTime(epoch.Add(-time.Minute))
		sp.SetStartTimestamp(start)
		sp.SetEndTimestamp(start + pcommon.Timestamp(time.Duration(i+1)*time.Millisecond))
		sp.SetTraceID(pcommon.TraceID{0xaa, byte(i)})
		sp.Attributes().PutStr("http.route", route)
		sp.TraceState().FromRaw([]string{"", "ot=th:8", "ot=th:fffffffffffff", "ot=th:zz", "a=b", "ot=th:0"}[i])
	}
	bad := spans.AppendEmpty()
	bad.SetStartTimestamp(10)
	bad.SetEndTimestamp(5)
	req := ptraceotlp.NewExportRequestFromTraces(td)
	pb, err := req.MarshalProto()
	require.NoError(f, err)
	js, err := req.MarshalJSON()
	require.NoError(f, err)
	for _, weighted := range []bool{false, true} {
		f.Add(pb, weighted)
		f.Add(js, weighted)
	}
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"0","endTimeUnixNano":"18446744073709551615"}]}]}]}`), true)

	f.Fuzz(func(t *testing.T, data []byte, weighted bool) {
		for _, decode := range []func(ptraceotlp.ExportRequest) error{
			func(r ptraceotlp.ExportRequest) error { return r.UnmarshalProto(data) },
			func(r ptraceotlp.ExportRequest) error { return r.UnmarshalJSON(data) },
		} {
			req := ptraceotlp.NewExportRequest()
			if decode(req) != nil {
				continue
			}
			var accepted uint64
			rss := req.Traces().ResourceSpans()
			for i := 0; i < rss.Len(); i++ {
				for j := 0; j < rss.At(i).ScopeSpans().Len(); j++ {
					sp := rss.At(i).ScopeSpans().At(j).Spans()
					for k := 0; k < sp.Len(); k++ {
						if sp.At(k).EndTimestamp() >= sp.At(k).StartTimestamp() {
							accepted++
						}
					}
				}
			}
			tc := fuzzConnector(t, weighted)
			require.NoError(t, tc.ConsumeTraces(context.Background(), req.Traces()))
			counts := checkHistograms(t, tc.flushNow(t))
			requireCount(t, weighted, accepted, counts["span.duration"])
		}
	})
}

// FuzzConsumeOTLPLogs does the same for the logs→metrics path, where the observed value comes
// from an attribute of any type.
func FuzzConsumeOTLPLogs(f *testing.F) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i, v := range []any{12, 3.5, "250", "NaN", "-1", "1e400", []any{1}, "+Inf", 0} {
		lr := lrs.AppendEmpty()
		require.NoError(f, lr.Attributes().FromRaw(map[string]any{"duration": v, "http.route": []string{"/a", "/b", "/c", "/d", "/e"}[i%5]}))
		lr.SetTraceID(pcommon.TraceID{byte(i)})
		if i%2 == 1 {
			lr.Attributes().PutStr(thresholdAttr, []string{"8", "zz", "fffffffffffff", ""}[i%4])
		}
	}
	req := plogotlp.NewExportRequestFromLogs(ld)
	pb, err := req.MarshalProto()
	require.NoError(f, err)
	js, err := req.MarshalJSON()
	require.NoError(f, err)
	for _, weighted := range []bool{false, true} {
		f.Add(pb, weighted)
		f.Add(js, weighted)
	}

	f.Fuzz(func(t *testing.T, data []byte, weighted bool) {
		for _, decode := range []func(plogotlp.ExportRequest) error{
			func(r plogotlp.ExportRequest) error { return r.UnmarshalProto(data) },
			func(r plogotlp.ExportRequest) error { return r.UnmarshalJSON(data) },
		} {
			req := plogotlp.NewExportRequest()
			if decode(req) != nil {
				continue
			}
			var accepted uint64
			rls := req.Logs().ResourceLogs()
			for i := 0; i < rls.Len(); i++ {
				for j := 0; j < rls.At(i).ScopeLogs().Len(); j++ {
					recs := rls.At(i).ScopeLogs().At(j).LogRecords()
					for k := 0; k < recs.Len(); k++ {
						raw, ok := recs.At(k).Attributes().Get("duration")
						if !ok {
							continue
						}
						if v, ok := numericValue(raw); ok && validDuration(v*1e-3) {
							accepted++
						}
					}
				}
			}
			tc := fuzzConnector(t, weighted)
			require.NoError(t, tc.ConsumeLogs(context.Background(), req.Logs()))
			counts := checkHistograms(t, tc.flushNow(t))
			requireCount(t, weighted, accepted, counts[logMetricName])
		}
	})
}
