package prometheusremotewrite // import "github.com/sieveobs/sieve/exporters/prometheusremotewrite"

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

func isStaleNaN(v float64) bool { return math.Float64bits(v) == math.Float64bits(staleNaN) }

// encoder marshals and snappy-compresses requests. Each shard owns one, so
// buffers are reused across pushes without locking.
type encoder struct {
	v2ts    []writev2.TimeSeries
	symbols writev2.SymbolsTable
	refs    []uint32
	samples []writev2.Sample
	raw     []byte
	out     []byte
}

func newEncoder() *encoder { return &encoder{symbols: writev2.NewSymbolTable()} }

// seriesSize is the encoded size of s in a remote-write 1.0 request, used to split requests.
func seriesSize(s *series) int {
	n := timeSeriesSize(s)
	return 1 + sizeVarint(uint64(n)) + n
}

// Remote-write 1.0 requests are written directly from the series, field by field, instead of
// through prompb's generated code: that needs a prompb.TimeSeries per series (128 bytes each,
// for a whole batch) and computes every nested size once more for each level it is nested in.
// The output is byte for byte what prompb writes (TestEncodeV1MatchesPrompb).

func sizeVarint(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// stringField is the size of a proto3 string field, omitted when empty.
func stringField(s string) int {
	if s == "" {
		return 0
	}
	return 1 + sizeVarint(uint64(len(s))) + len(s)
}

func labelSize(l label) int { return stringField(l.Name) + stringField(l.Value) }

func sampleSize(smp sample) int {
	n := 0
	if smp.Value != 0 {
		n += 1 + 8
	}
	if smp.Timestamp != 0 {
		n += 1 + sizeVarint(uint64(smp.Timestamp))
	}
	return n
}

func embedded(n int) int { return 1 + sizeVarint(uint64(n)) + n }

// timeSeriesSize is the size of s as a prometheus.TimeSeries message body.
func timeSeriesSize(s *series) int {
	n := 0
	for _, l := range s.labels {
		n += embedded(labelSize(l))
	}
	for _, smp := range s.samples {
		n += embedded(sampleSize(smp))
	}
	for i := range s.exemplars {
		n += embedded(s.exemplars[i].Size())
	}
	for i := range s.histograms {
		n += embedded(s.histograms[i].Size())
	}
	return n
}

func appendString(b []byte, tag byte, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, tag)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendMessage appends a message field written by prompb (exemplars, histograms: rare).
func appendMessage(b []byte, tag byte, size int, marshal func([]byte) (int, error)) ([]byte, error) {
	b = append(b, tag)
	b = binary.AppendUvarint(b, uint64(size))
	start := len(b)
	b = append(b, make([]byte, size)...)
	_, err := marshal(b[start:])
	return b, err
}

// appendTimeSeriesV1 appends s as field 1 (timeseries) of a prometheus.WriteRequest.
func appendTimeSeriesV1(b []byte, s *series) ([]byte, error) {
	b = append(b, 0x0a)
	b = binary.AppendUvarint(b, uint64(timeSeriesSize(s)))
	for _, l := range s.labels {
		b = append(b, 0x0a)
		b = binary.AppendUvarint(b, uint64(labelSize(l)))
		b = appendString(b, 0x0a, l.Name)
		b = appendString(b, 0x12, l.Value)
	}
	for _, smp := range s.samples {
		b = append(b, 0x12)
		b = binary.AppendUvarint(b, uint64(sampleSize(smp)))
		if smp.Value != 0 {
			b = append(b, 0x09)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(smp.Value))
		}
		if smp.Timestamp != 0 {
			b = append(b, 0x10)
			b = binary.AppendUvarint(b, uint64(smp.Timestamp))
		}
	}
	var err error
	for i := range s.exemplars {
		if b, err = appendMessage(b, 0x1a, s.exemplars[i].Size(), s.exemplars[i].MarshalToSizedBuffer); err != nil {
			return nil, err
		}
	}
	for i := range s.histograms {
		if b, err = appendMessage(b, 0x22, s.histograms[i].Size(), s.histograms[i].MarshalToSizedBuffer); err != nil {
			return nil, err
		}
	}
	return b, nil
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
	size := 0
	for _, s := range ss {
		size += seriesSize(s)
	}
	// Grown to the exact size once, rather than by doubling as it fills, which would keep up to
	// twice the largest request in memory for the life of the exporter.
	raw := slices.Grow(e.raw[:0], size)
	var err error
	for _, s := range ss {
		if raw, err = appendTimeSeriesV1(raw, s); err != nil {
			return nil, err
		}
	}
	e.raw = raw
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
