package prometheusremotewrite // import "github.com/sieveobs/sieve/exporters/prometheusremotewrite"

import (
	"math"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

func isStaleNaN(v float64) bool { return math.Float64bits(v) == math.Float64bits(staleNaN) }

// encoder marshals and snappy-compresses requests. Each shard owns one, so
// buffers are reused across pushes without locking.
type encoder struct {
	v1ts    []prompb.TimeSeries
	v2ts    []writev2.TimeSeries
	symbols writev2.SymbolsTable
	refs    []uint32
	samples []writev2.Sample
	raw     []byte
	out     []byte
}

func newEncoder() *encoder { return &encoder{symbols: writev2.NewSymbolTable()} }

// seriesSize estimates the encoded size of s, used to split requests.
func seriesSize(s *series) int {
	ts := prompb.TimeSeries{Labels: s.labels, Samples: s.samples, Exemplars: s.exemplars, Histograms: s.histograms}
	return ts.Size()
}

func (e *encoder) compress(raw []byte) []byte {
	n := s2.MaxEncodedLen(len(raw))
	if cap(e.out) < n {
		e.out = make([]byte, n)
	}
	return s2.EncodeSnappy(e.out[:n], raw)
}

func (e *encoder) marshal(size int, fn func([]byte) (int, error)) ([]byte, error) {
	if cap(e.raw) < size {
		e.raw = make([]byte, size)
	}
	n, err := fn(e.raw[:size])
	if err != nil {
		return nil, err
	}
	return e.raw[size-n : size], nil
}

// encodeV1 returns the snappy-compressed prometheus.WriteRequest for ss.
func (e *encoder) encodeV1(ss []*series) ([]byte, error) {
	e.v1ts = e.v1ts[:0]
	for _, s := range ss {
		e.v1ts = append(e.v1ts, prompb.TimeSeries{Labels: s.labels, Samples: s.samples, Exemplars: s.exemplars, Histograms: s.histograms})
	}
	req := prompb.WriteRequest{Timeseries: e.v1ts}
	raw, err := e.marshal(req.Size(), req.MarshalToSizedBuffer)
	if err != nil {
		return nil, err
	}
	return e.compress(raw), nil
}

// encodeV2 returns the snappy-compressed io.prometheus.write.v2.Request.
func (e *encoder) encodeV2(ss []*series) ([]byte, error) {
	e.symbols.Reset()
	e.v2ts = e.v2ts[:0]
	e.refs = e.refs[:0]
	e.samples = e.samples[:0]
	for _, s := range ss {
		start := len(e.refs)
		for _, l := range s.labels {
			e.refs = append(e.refs, e.symbols.Symbolize(l.Name), e.symbols.Symbolize(l.Value))
		}
		ts := writev2.TimeSeries{
			LabelsRefs: e.refs[start:len(e.refs):len(e.refs)],
			Metadata: writev2.Metadata{
				Type:    s.mtype,
				HelpRef: e.symbols.Symbolize(s.help),
				UnitRef: e.symbols.Symbolize(s.unit),
			},
		}
		if len(s.samples) > 0 {
			start := len(e.samples)
			for _, smp := range s.samples {
				e.samples = append(e.samples, writev2.Sample{Value: smp.Value, Timestamp: smp.Timestamp})
			}
			ts.Samples = e.samples[start:len(e.samples):len(e.samples)]
		}
		for _, h := range s.histograms {
			ts.Histograms = append(ts.Histograms, histogramV2(h))
		}
		for _, ex := range s.exemplars {
			var refs []uint32
			for _, l := range ex.Labels {
				refs = append(refs, e.symbols.Symbolize(l.Name), e.symbols.Symbolize(l.Value))
			}
			ts.Exemplars = append(ts.Exemplars, writev2.Exemplar{LabelsRefs: refs, Value: ex.Value, Timestamp: ex.Timestamp})
		}
		e.v2ts = append(e.v2ts, ts)
	}
	req := writev2.Request{Symbols: e.symbols.Symbols(), Timeseries: e.v2ts}
	raw, err := e.marshal(req.Size(), req.MarshalToSizedBuffer)
	if err != nil {
		return nil, err
	}
	return e.compress(raw), nil
}

func spansV2(in []prompb.BucketSpan) []writev2.BucketSpan {
	if len(in) == 0 {
		return nil
	}
	out := make([]writev2.BucketSpan, len(in))
	for i, s := range in {
		out[i] = writev2.BucketSpan{Offset: s.Offset, Length: s.Length}
	}
	return out
}

func histogramV2(h prompb.Histogram) writev2.Histogram {
	out := writev2.Histogram{
		Sum:            h.Sum,
		Schema:         h.Schema,
		ZeroThreshold:  h.ZeroThreshold,
		NegativeSpans:  spansV2(h.NegativeSpans),
		NegativeDeltas: h.NegativeDeltas,
		NegativeCounts: h.NegativeCounts,
		PositiveSpans:  spansV2(h.PositiveSpans),
		PositiveDeltas: h.PositiveDeltas,
		PositiveCounts: h.PositiveCounts,
		ResetHint:      writev2.Histogram_ResetHint(h.ResetHint),
		Timestamp:      h.Timestamp,
	}
	switch c := h.Count.(type) {
	case *prompb.Histogram_CountInt:
		out.Count = &writev2.Histogram_CountInt{CountInt: c.CountInt}
	case *prompb.Histogram_CountFloat:
		out.Count = &writev2.Histogram_CountFloat{CountFloat: c.CountFloat}
	}
	switch z := h.ZeroCount.(type) {
	case *prompb.Histogram_ZeroCountInt:
		out.ZeroCount = &writev2.Histogram_ZeroCountInt{ZeroCountInt: z.ZeroCountInt}
	case *prompb.Histogram_ZeroCountFloat:
		out.ZeroCount = &writev2.Histogram_ZeroCountFloat{ZeroCountFloat: z.ZeroCountFloat}
	}
	return out
}
