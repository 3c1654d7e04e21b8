package prometheusremotewrite // import "github.com/sieveobs/sieve/exporters/prometheusremotewrite"

import (
	"slices"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// label and sample are prompb.Label and prompb.Sample without the generated code's bookkeeping
// fields, half and a third of their size: a batch holds one per label and sample of up to 16,384
// series, and the translator sorts and copies labels for every point.
type label struct{ Name, Value string }

type sample struct {
	Value     float64
	Timestamp int64
}

// series is one Prometheus series of a batch with everything it carries.
type series struct {
	labels     []label
	hash       uint64
	samples    []sample
	histograms []prompb.Histogram
	exemplars  []prompb.Exemplar
	mtype      writev2.Metadata_MetricType
	help       string
	unit       string
}

// batch accumulates the series of one push. It is reused across pushes so
// that steady-state translation allocates little.
type batch struct {
	// index finds a series by label hash; the rare hash collisions between
	// different label sets go to collide.
	index   map[uint64]int32
	collide map[uint64][]int32
	series  []series
	n       int
	scratch []label
	arena   []label
	dropped map[string]int64
	stale   int64
}

func newBatch() *batch {
	return &batch{index: make(map[uint64]int32), collide: make(map[uint64][]int32), dropped: make(map[string]int64)}
}

func (b *batch) reset() {
	clear(b.index)
	clear(b.collide)
	clear(b.dropped)
	for i := range b.n {
		s := &b.series[i]
		s.labels = nil
		s.samples = s.samples[:0]
		s.histograms = s.histograms[:0]
		s.exemplars = s.exemplars[:0]
	}
	b.n = 0
	b.arena = b.arena[:0]
	b.stale = 0
}

func (b *batch) drop(reason string, n int64) {
	if n > 0 {
		b.dropped[reason] += n
	}
}

func (b *batch) all() []series { return b.series[:b.n] }

func hashLabels(ls []label) uint64 {
	var d xxhash.Digest
	d.Reset()
	sep := []byte{0xff}
	for _, l := range ls {
		_, _ = d.WriteString(l.Name)
		_, _ = d.Write(sep)
		_, _ = d.WriteString(l.Value)
		_, _ = d.Write(sep)
	}
	return d.Sum64()
}

func labelsEqual(a, b []label) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Value != b[i].Value {
			return false
		}
	}
	return true
}

// get returns the series for the sorted label set ls, creating it (with its
// own copy of the labels) if it is new to the batch.
func (b *batch) get(ls []label, mtype writev2.Metadata_MetricType, help, unit string) *series {
	h := hashLabels(ls)
	first, found := b.index[h]
	if found {
		if labelsEqual(b.series[first].labels, ls) {
			return &b.series[first]
		}
		for _, i := range b.collide[h] {
			if labelsEqual(b.series[i].labels, ls) {
				return &b.series[i]
			}
		}
	}
	if b.n == len(b.series) {
		b.series = append(b.series, series{})
	}
	s := &b.series[b.n]
	start := len(b.arena)
	b.arena = append(b.arena, ls...)
	s.labels = b.arena[start:len(b.arena):len(b.arena)]
	s.hash = h
	s.mtype, s.help, s.unit = mtype, help, unit
	if found {
		b.collide[h] = append(b.collide[h], int32(b.n))
	} else {
		b.index[h] = int32(b.n)
	}
	b.n++
	return s
}

// finish puts the samples of every series in time order and removes
// duplicates, which a receiver would reject as conflicting.
func (b *batch) finish() {
	for i := range b.n {
		s := &b.series[i]
		if len(s.samples) > 1 && !slices.IsSortedFunc(s.samples, cmpSample) {
			slices.SortStableFunc(s.samples, cmpSample)
		}
		s.samples = dedupe(b, s.samples, func(x sample) int64 { return x.Timestamp })
		if len(s.histograms) > 1 && !slices.IsSortedFunc(s.histograms, cmpHist) {
			slices.SortStableFunc(s.histograms, cmpHist)
		}
		s.histograms = dedupe(b, s.histograms, func(x prompb.Histogram) int64 { return x.Timestamp })
	}
}

func cmpSample(a, b sample) int { return cmpInt(a.Timestamp, b.Timestamp) }

func cmpHist(a, b prompb.Histogram) int { return cmpInt(a.Timestamp, b.Timestamp) }

func cmpInt(a, b int64) int { return int(min(max(a-b, -1), 1)) }

// dedupe keeps the last of several samples with the same timestamp: it is
// the most recent value the pipeline produced for that instant.
func dedupe[T any](b *batch, xs []T, ts func(T) int64) []T {
	if len(xs) < 2 {
		return xs
	}
	out := xs[:1]
	for _, x := range xs[1:] {
		if ts(x) == ts(out[len(out)-1]) {
			out[len(out)-1] = x
			b.drop(reasonDuplicateTS, 1)
			continue
		}
		out = append(out, x)
	}
	return out
}
