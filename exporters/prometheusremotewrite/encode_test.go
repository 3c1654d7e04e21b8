package prometheusremotewrite

import (
	"math"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// The hand-written 1.0 encoding is byte for byte what prompb's generated code writes, zero
// values (omitted by proto3), exemplars and native histograms included.
func TestEncodeV1MatchesPrompb(t *testing.T) {
	ss, _ := translatedSeries(t)
	ss = append(ss,
		&series{labels: []label{{Name: nameLabel, Value: "zero"}, {Name: "empty", Value: ""}}, samples: []sample{{}, {Value: math.Copysign(0, -1), Timestamp: -5}}},
		&series{labels: []label{{Name: nameLabel, Value: "ex"}}, samples: []sample{{Value: normalNaN, Timestamp: 1}, {Value: staleNaN, Timestamp: 2}},
			exemplars: []prompb.Exemplar{{Labels: []prompb.Label{{Name: "trace_id", Value: "abc"}}, Value: 1.5, Timestamp: 3}}},
	)
	var want prompb.WriteRequest
	for _, s := range ss {
		want.Timeseries = append(want.Timeseries, prompb.TimeSeries{Labels: promLabels(s.labels), Samples: promSamples(s.samples), Exemplars: s.exemplars, Histograms: s.histograms})
	}
	wantRaw, err := want.Marshal()
	require.NoError(t, err)

	body, err := newEncoder().encodeV1(ss)
	require.NoError(t, err)
	raw, err := snappy.Decode(nil, body)
	require.NoError(t, err)
	require.Equal(t, wantRaw, raw)
	for i, s := range ss {
		require.Equal(t, want.Timeseries[i].Size()+1+sizeVarint(uint64(want.Timeseries[i].Size())), seriesSize(s))
	}
}

func translatedSeries(t testing.TB) ([]*series, int) {
	t.Helper()
	bt := newBatch()
	newTranslator(createDefaultConfig().(*Config)).translate(benchMetrics(3, 40), bt)
	bt.finish()
	var ptrs []*series
	samples := 0
	for i := range bt.all() {
		ptrs = append(ptrs, &bt.series[i])
		samples += len(bt.series[i].samples) + len(bt.series[i].histograms)
	}
	return ptrs, samples
}
