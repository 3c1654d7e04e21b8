package sinks

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sieveobs/sieve/testbed/loadgen"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startSink(t *testing.T) *Sink {
	t.Helper()
	s, err := Start()
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// The generator talking straight to the sink must be counted item for item, for every signal
// and both protocols.
func TestGeneratorToSinkCountsEveryItem(t *testing.T) {
	s := startSink(t)
	for _, proto := range []string{"grpc", "http"} {
		for _, sig := range []loadgen.Signal{loadgen.Logs, loadgen.Traces, loadgen.Metrics} {
			t.Run(proto+"/"+string(sig), func(t *testing.T) {
				s.Reset()
				ep := s.GRPCAddr
				if proto == "http" {
					ep = s.HTTPAddr
				}
				g, err := loadgen.New(loadgen.Config{Signal: sig, Protocol: proto, Endpoint: ep, MaxRequests: 300, Concurrency: 4,
					Data: loadgen.DataConfig{Templates: 16}})
				require.NoError(t, err)
				defer g.Close()
				g.Run(context.Background())
				st := g.Stats()
				require.Zero(t, st.FailedRequests, st.LastError)
				require.EqualValues(t, 300*100, st.Acked())

				c := map[loadgen.Signal]*Counter{loadgen.Logs: &s.Logs, loadgen.Traces: &s.Traces, loadgen.Metrics: &s.Metrics}[sig].Snapshot()
				require.Zero(t, c.TotalDuplicates())
				require.Zero(t, c.NoID)
				require.EqualValues(t, 300, c.Requests)
				require.GreaterOrEqual(t, c.Bytes, st.SentBytes, "every request body is counted (gRPC adds framing)")
				for cl, n := range st.AckedItems {
					require.Equal(t, n, c.Unique[cl], "class %s", cl)
				}
				if sig == loadgen.Logs {
					require.NotZero(t, st.AckedItems[loadgen.ClassKeep])
					require.NotZero(t, st.AckedItems[loadgen.ClassWarn])
					require.Greater(t, st.AckedItems[loadgen.ClassInfo], st.AckedItems[loadgen.ClassWarn])
				}
			})
		}
	}
}

func TestLokiPushProtobufAndJSON(t *testing.T) {
	s := startSink(t)
	req := push.PushRequest{Streams: []push.Stream{{
		Labels: `{service_name="svc-01"}`,
		Entries: []push.Entry{
			{Timestamp: time.Unix(1, 0), Line: `level=error msg="boom" sieve_test_id=` + loadgen.FormatID(loadgen.ClassKeep, 7)},
			{Timestamp: time.Unix(2, 0), Line: "no id here", StructuredMetadata: push.LabelsAdapter{{Name: "sieve_test_id", Value: loadgen.FormatID(loadgen.ClassInfo, 8)}}},
			{Timestamp: time.Unix(3, 0), Line: `dup ` + loadgen.FormatID(loadgen.ClassKeep, 7)},
			{Timestamp: time.Unix(4, 0), Line: "nothing"},
		},
	}}}
	raw, err := req.Marshal()
	require.NoError(t, err)
	post(t, s.HTTPURL+"/loki/api/v1/push", "application/x-protobuf", snappy.Encode(nil, raw), http.StatusNoContent)

	js, err := json.Marshal(map[string]any{"streams": []any{map[string]any{
		"stream": map[string]string{"service_name": "svc-02"},
		"values": [][]any{{"5", "{\"msg\":\"x\",\"sieve.test.id\":\"" + loadgen.FormatID(loadgen.ClassWarn, 9) + "\"}"}},
	}}})
	require.NoError(t, err)
	post(t, s.HTTPURL+"/loki/api/v1/push", "application/json", js, http.StatusNoContent)

	c := s.Loki.Snapshot()
	require.Equal(t, map[loadgen.Class]uint64{loadgen.ClassKeep: 1, loadgen.ClassInfo: 1, loadgen.ClassWarn: 1}, c.Unique)
	require.Equal(t, map[loadgen.Class]uint64{loadgen.ClassKeep: 1}, c.Duplicates)
	require.EqualValues(t, 1, c.NoID)
	require.EqualValues(t, 5, c.Items)
	require.True(t, s.Loki.Seen(loadgen.ClassKeep, 7))
	require.False(t, s.Loki.Seen(loadgen.ClassKeep, 8))
}

func TestRemoteWriteKeepsLatestHistogramCount(t *testing.T) {
	s := startSink(t)
	series := func(name, le string, ts int64, v float64) prompb.TimeSeries {
		l := []prompb.Label{{Name: "__name__", Value: name}, {Name: "service", Value: "a"}}
		if le != "" {
			l = append(l, prompb.Label{Name: "le", Value: le})
		}
		return prompb.TimeSeries{Labels: l, Samples: []prompb.Sample{{Value: v, Timestamp: ts}}}
	}
	for _, req := range []prompb.WriteRequest{
		{Timeseries: []prompb.TimeSeries{series("lat_count", "", 1000, 10), series("lat_bucket", "+Inf", 1000, 10)}},
		{Timeseries: []prompb.TimeSeries{series("lat_count", "", 2000, 25), series("lat_bucket", "+Inf", 2000, 25)}},
		// An older sample arriving late must not lower the count.
		{Timeseries: []prompb.TimeSeries{series("lat_count", "", 1500, 15)}},
	} {
		raw, err := req.Marshal()
		require.NoError(t, err)
		post(t, s.HTTPURL+"/api/v1/write", "application/x-protobuf", snappy.Encode(nil, raw), http.StatusNoContent)
	}
	c := s.RemoteWrite.Snapshot()
	require.EqualValues(t, 3, c.Requests)
	require.EqualValues(t, 5, c.Samples)
	require.Equal(t, 2, c.Series)
	require.InDelta(t, 25, c.HistogramObservations, 0)
}

func TestFaults(t *testing.T) {
	s := startSink(t)
	s.SetFaults(Faults{StatusCode: http.StatusTooManyRequests, Ratio: 1, RetryAfter: 3 * time.Second})
	resp := post(t, s.HTTPURL+"/v1/logs", "application/x-protobuf", nil, http.StatusTooManyRequests)
	require.Equal(t, "3", resp.Header.Get("Retry-After"))

	g, err := loadgen.New(loadgen.Config{Signal: loadgen.Logs, Protocol: "grpc", Endpoint: s.GRPCAddr, MaxRequests: 5, Concurrency: 1})
	require.NoError(t, err)
	defer g.Close()
	g.Run(context.Background())
	require.EqualValues(t, 5, g.Stats().FailedRequests)
	require.Contains(t, g.Stats().LastError, "ResourceExhausted")
	require.EqualValues(t, 6, s.Refused())
	require.Zero(t, s.Logs.Snapshot().Items)

	s.SetFaults(Faults{Down: true})
	_, err = http.Post(s.HTTPURL+"/v1/logs", "application/x-protobuf", nil)
	require.Error(t, err)

	s.SetFaults(Faults{Latency: 50 * time.Millisecond})
	start := time.Now()
	post(t, s.HTTPURL+"/v1/logs", "application/x-protobuf", nil, http.StatusOK)
	require.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
}

func post(t *testing.T, url, ct string, body []byte, want int) *http.Response {
	t.Helper()
	resp, err := http.Post(url, ct, bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, want, resp.StatusCode)
	return resp
}

func TestRemoteWrite2(t *testing.T) {
	s := startSink(t)
	req := writev2.Request{
		Symbols: []string{"", "__name__", "lat_count", "service", "a"},
		Timeseries: []writev2.TimeSeries{
			{LabelsRefs: []uint32{1, 2, 3, 4}, Samples: []writev2.Sample{{Value: 7, Timestamp: 1000}, {Value: 9, Timestamp: 2000}}},
		},
	}
	raw, err := req.Marshal()
	require.NoError(t, err)
	resp := post(t, s.HTTPURL+"/api/v1/write", "application/x-protobuf;proto=io.prometheus.write.v2.Request", snappy.Encode(nil, raw), http.StatusNoContent)
	require.Equal(t, "2", resp.Header.Get("X-Prometheus-Remote-Write-Samples-Written"))
	c := s.RemoteWrite.Snapshot()
	require.EqualValues(t, 2, c.Samples)
	require.Equal(t, 1, c.Series)
	require.InDelta(t, 9, c.HistogramObservations, 0)
}
