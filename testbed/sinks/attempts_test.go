package sinks

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/sieveobs/sieve/testbed/loadgen"
)

func lokiBody(t *testing.T, streams ...push.Stream) []byte {
	t.Helper()
	raw, err := (&push.PushRequest{Streams: streams}).Marshal()
	require.NoError(t, err)
	return snappy.Encode(nil, raw)
}

func lokiEntry(sec int64, class loadgen.Class, n uint64) push.Entry {
	return push.Entry{Timestamp: time.Unix(sec, 0), Line: "msg " + loadgen.FormatID(class, n)}
}

func rwBody(t *testing.T, series ...prompb.TimeSeries) []byte {
	t.Helper()
	raw, err := (&prompb.WriteRequest{Timeseries: series}).Marshal()
	require.NoError(t, err)
	return snappy.Encode(nil, raw)
}

func postBody(t *testing.T, url, ct string, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(url, ct, bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestLokiOrderPerStream(t *testing.T) {
	tests := []struct {
		name     string
		requests [][]push.Stream
		want     uint64
	}{
		{
			name: "in order across requests",
			requests: [][]push.Stream{
				{{Labels: `{a="1"}`, Entries: []push.Entry{lokiEntry(1, loadgen.ClassInfo, 1), lokiEntry(2, loadgen.ClassInfo, 2)}}},
				{{Labels: `{a="1"}`, Entries: []push.Entry{lokiEntry(2, loadgen.ClassInfo, 3), lokiEntry(3, loadgen.ClassInfo, 4)}}},
			},
		},
		{
			name: "older entry after a newer one of the same stream",
			requests: [][]push.Stream{
				{{Labels: `{a="1"}`, Entries: []push.Entry{lokiEntry(5, loadgen.ClassInfo, 1)}}},
				{{Labels: `{a="1"}`, Entries: []push.Entry{lokiEntry(4, loadgen.ClassInfo, 2), lokiEntry(6, loadgen.ClassInfo, 3)}}},
			},
			want: 1,
		},
		{
			name: "streams are judged separately",
			requests: [][]push.Stream{
				{{Labels: `{a="1"}`, Entries: []push.Entry{lokiEntry(5, loadgen.ClassInfo, 1)}}},
				{{Labels: `{a="2"}`, Entries: []push.Entry{lokiEntry(1, loadgen.ClassInfo, 2)}}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSink(t)
			for _, req := range tt.requests {
				code, _ := postBody(t, s.HTTPURL+"/loki/api/v1/push", "application/x-protobuf", lokiBody(t, req...))
				require.Equal(t, http.StatusNoContent, code)
			}
			require.Equal(t, tt.want, s.Loki.Snapshot().OutOfOrder)
		})
	}
}

func TestRemoteWriteOrderAndIDs(t *testing.T) {
	series := func(id string, ts ...int64) prompb.TimeSeries {
		l := []prompb.Label{{Name: "__name__", Value: "g"}}
		if id != "" {
			l = append(l, prompb.Label{Name: "sieve_test_id", Value: id})
		}
		ts2 := prompb.TimeSeries{Labels: l}
		for _, t := range ts {
			ts2.Samples = append(ts2.Samples, prompb.Sample{Value: 1, Timestamp: t})
		}
		return ts2
	}
	s := startSink(t)
	id := loadgen.FormatID(loadgen.ClassPlain, 7)
	for _, req := range [][]prompb.TimeSeries{
		{series(id, 10, 20)},
		{series(id, 20)},     // equal: a duplicate, not out of order
		{series(id, 15, 30)}, // 15 is out of order
		{series("", 5)},
	} {
		code, _ := postBody(t, s.HTTPURL+"/api/v1/write", "application/x-protobuf", rwBody(t, req...))
		require.Equal(t, http.StatusNoContent, code)
	}
	rw := s.RemoteWrite.Snapshot()
	require.EqualValues(t, 1, rw.OutOfOrder)
	ids := s.RemoteWrite.IDs.Snapshot()
	require.Equal(t, map[loadgen.Class]uint64{loadgen.ClassPlain: 1}, ids.Unique)
	require.Equal(t, map[loadgen.Class]uint64{loadgen.ClassPlain: 4}, ids.Duplicates)
	require.EqualValues(t, 1, ids.NoID)

	// An ID carried elsewhere is found through SetIDOf.
	s.RemoteWrite.SetIDOf(func(_ string, ts int64, _ float64) (loadgen.Class, uint64, bool) {
		return loadgen.ClassPlain, uint64(ts), true
	})
	code, _ := postBody(t, s.HTTPURL+"/api/v1/write", "application/x-protobuf", rwBody(t, series("", 100)))
	require.Equal(t, http.StatusNoContent, code)
	require.True(t, s.RemoteWrite.IDs.Seen(loadgen.ClassPlain, 100))
}

func TestAttemptLogAndRejected(t *testing.T) {
	s := startSink(t)
	s.KeepAttempts()
	body := lokiBody(t, push.Stream{Labels: `{a="1"}`, Entries: []push.Entry{lokiEntry(1, loadgen.ClassKeep, 1), lokiEntry(2, loadgen.ClassKeep, 2)}})

	s.SetFaults(Faults{StatusCode: http.StatusTooManyRequests, Ratio: 1, RetryAfter: 2 * time.Second})
	code, _ := postBody(t, s.HTTPURL+"/loki/api/v1/push", "application/x-protobuf", body)
	require.Equal(t, http.StatusTooManyRequests, code)
	s.SetFaults(Faults{})
	code, _ = postBody(t, s.HTTPURL+"/loki/api/v1/push", "application/x-protobuf", body)
	require.Equal(t, http.StatusNoContent, code)

	at := s.Attempts()
	require.Len(t, at, 2)
	require.Equal(t, http.StatusTooManyRequests, at[0].Status)
	require.Equal(t, http.StatusNoContent, at[1].Status)
	require.Equal(t, at[0].Body, at[1].Body, "the same body fingerprints the same")
	require.Equal(t, 2, at[0].Items)
	require.Equal(t, 2, at[1].Items)
	require.False(t, at[0].Answered.Before(at[0].At))
	require.True(t, s.Rejected.Seen(loadgen.ClassKeep, 1), "items of a refused request are remembered")
	require.EqualValues(t, 2, s.Loki.Snapshot().TotalUnique())
}

func TestLokiPartialRejection(t *testing.T) {
	s := startSink(t)
	s.KeepAttempts()
	s.SetFaults(Faults{StatusCode: http.StatusBadRequest, Ratio: 1, Partial: 0.25})
	var entries []push.Entry
	for i := range 8 {
		entries = append(entries, lokiEntry(int64(i), loadgen.ClassInfo, uint64(i)))
	}
	code, msg := postBody(t, s.HTTPURL+"/loki/api/v1/push", "application/x-protobuf", lokiBody(t, push.Stream{Labels: `{a="1"}`, Entries: entries}))
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, msg, "total ignored: 2 out of 8")
	require.EqualValues(t, 6, s.Loki.Snapshot().TotalUnique(), "Loki keeps the valid entries")
	require.EqualValues(t, 2, s.Rejected.Snapshot().TotalUnique())
	at := s.Attempts()
	require.Len(t, at, 1)
	require.Equal(t, 8, at[0].Items)
	require.Equal(t, 2, at[0].Ignored)
	for i := range uint64(8) {
		require.NotEqual(t, s.Loki.Seen(loadgen.ClassInfo, i), s.Rejected.Seen(loadgen.ClassInfo, i), "entry %d kept or ignored, not both", i)
	}
}

func TestContentCheck(t *testing.T) {
	s := startSink(t)
	s.SetContentCheck(func(it Item) error {
		if it.Labels["a"] != "1" || !strings.HasPrefix(it.Line, "msg ") || it.Timestamp != int64(it.N)*1e9 {
			return fmt.Errorf("%d: %v %q %d", it.N, it.Labels, it.Line, it.Timestamp)
		}
		return nil
	})
	body := lokiBody(t,
		push.Stream{Labels: `{a="1"}`, Entries: []push.Entry{lokiEntry(1, loadgen.ClassInfo, 1), lokiEntry(3, loadgen.ClassInfo, 2)}},
		push.Stream{Labels: `{a="2"}`, Entries: []push.Entry{lokiEntry(3, loadgen.ClassInfo, 3)}})
	code, _ := postBody(t, s.HTTPURL+"/loki/api/v1/push", "application/x-protobuf", body)
	require.Equal(t, http.StatusNoContent, code)
	bad, msgs := s.ContentErrors()
	require.EqualValues(t, 2, bad, "wrong timestamp of ID 2, wrong stream of ID 3: %v", msgs)
}

func TestParseLokiLabels(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]string
		err  bool
	}{
		{in: `{}`, want: map[string]string{}},
		{in: `{a="1", b="x \"y\", z"}`, want: map[string]string{"a": "1", "b": `x "y", z`}},
		{in: `{a="1",b="2"}`, want: map[string]string{"a": "1", "b": "2"}},
		{in: `a="1"`, err: true},
		{in: `{a=1}`, err: true},
		{in: `{a="1"`, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseLokiLabels(tt.in)
			if tt.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// A staleness marker on an ID's series is the exporter ending the series, not a second arrival of
// the ID.
func TestRemoteWriteStaleMarkers(t *testing.T) {
	s := startSink(t)
	labels := []prompb.Label{{Name: "__name__", Value: "g"}, {Name: "sieve_test_id", Value: loadgen.FormatID(loadgen.ClassPlain, 3)}}
	for _, v := range []float64{1, math.Float64frombits(value.StaleNaN)} {
		code, _ := postBody(t, s.HTTPURL+"/api/v1/write", "application/x-protobuf",
			rwBody(t, prompb.TimeSeries{Labels: labels, Samples: []prompb.Sample{{Value: v, Timestamp: 10}}}))
		require.Equal(t, http.StatusNoContent, code)
	}
	require.EqualValues(t, 1, s.RemoteWrite.Snapshot().StaleMarkers)
	ids := s.RemoteWrite.IDs.Snapshot()
	require.Equal(t, map[loadgen.Class]uint64{loadgen.ClassPlain: 1}, ids.Unique)
	require.Empty(t, ids.Duplicates)
	require.EqualValues(t, 1, ids.Items)
}
