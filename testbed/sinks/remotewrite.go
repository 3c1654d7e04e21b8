package sinks

import (
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"

	"github.com/sieveobs/sieve/testbed/loadgen"
)

// RemoteWriteCounts is a snapshot of a RemoteWriteCounter.
type RemoteWriteCounts struct {
	Requests, Bytes uint64
	// Samples and Histograms count float samples and native histogram samples.
	Samples, Histograms uint64
	// Series counts distinct label sets.
	Series int
	// HistogramObservations sums, over histogram series, the latest count: with cumulative
	// histograms built from spans it is the number of spans the histograms account for.
	HistogramObservations float64
	// OutOfOrder counts samples and histograms older than one of the same series that arrived
	// before them: what a Prometheus without an out-of-order window refuses.
	OutOfOrder uint64
	// StaleMarkers counts staleness markers (an exporter ends series that stopped reporting):
	// they are not data points, so IDs leaves them out and a marker on an ID's series does not
	// count as its duplicate.
	StaleMarkers uint64
}

// RemoteWriteCounter counts remote-write (1.0 and 2.0) samples. Aggregated metrics carry no
// per-item ID, so completeness is judged by the histograms' latest counts instead.
type RemoteWriteCounter struct {
	mu         sync.Mutex
	reqs       uint64
	bytes      uint64
	samples    uint64
	histograms uint64
	// series maps each label set to its newest timestamp, for the order check.
	series     map[string]int64
	latest     map[string]point
	outOfOrder uint64
	stale      uint64
	idOf       func(series string, ts int64, v float64) (loadgen.Class, uint64, bool)

	// IDs counts the item IDs the samples carry, staleness markers left out: the value of a label holding an ID (the load
	// generator's sieve.test.id becomes the sieve_test_id label), else what SetIDOf extracts.
	IDs Counter
}

// SetIDOf gives the counter a way to find the ID of a sample whose series has no ID label, e.g.
// when a test moved the ID into the timestamp to keep series few; nil turns it off.
func (r *RemoteWriteCounter) SetIDOf(f func(series string, ts int64, v float64) (loadgen.Class, uint64, bool)) {
	r.mu.Lock()
	r.idOf = f
	r.mu.Unlock()
}

type point struct {
	ts int64
	v  float64
}

// Snapshot returns the counts so far.
func (r *RemoteWriteCounter) Snapshot() RemoteWriteCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := RemoteWriteCounts{Requests: r.reqs, Bytes: r.bytes, Samples: r.samples, Histograms: r.histograms, Series: len(r.series), OutOfOrder: r.outOfOrder, StaleMarkers: r.stale}
	for _, p := range r.latest {
		c.HistogramObservations += p.v
	}
	return c
}

// Reset forgets everything counted.
func (r *RemoteWriteCounter) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs, r.bytes, r.samples, r.histograms = 0, 0, 0, 0
	r.series, r.latest = nil, nil
	r.outOfOrder, r.stale = 0, 0
	r.IDs.Reset()
}

func (r *RemoteWriteCounter) addBytes(n uint64) {
	r.mu.Lock()
	r.bytes += n
	r.mu.Unlock()
}

// observe records one series' samples; key is the series identity, name its metric name.
func (r *RemoteWriteCounter) observe(key, name string, samples []prompb.Sample, hists []histCount) {
	if r.series == nil {
		r.series = map[string]int64{}
		r.latest = map[string]point{}
	}
	last, seen := r.series[key]
	for _, ts := range sampleTimes(samples, hists) {
		if seen && ts < last {
			r.outOfOrder++
			continue
		}
		last, seen = ts, true
	}
	r.series[key] = last
	r.samples += uint64(len(samples))
	r.histograms += uint64(len(hists))
	if strings.HasSuffix(name, "_count") {
		for _, s := range samples {
			if p, ok := r.latest[key]; !ok || s.Timestamp >= p.ts {
				r.latest[key] = point{s.Timestamp, s.Value}
			}
		}
	}
	for _, h := range hists {
		k := key + "\xffnative"
		if p, ok := r.latest[k]; !ok || h.ts >= p.ts {
			r.latest[k] = point{h.ts, h.count}
		}
	}
}

type histCount struct {
	ts    int64
	count float64
}

// sampleTimes lists the timestamps of a series' samples and histograms in the order a receiver
// appends them: floats first, then histograms, each as sent.
func sampleTimes(samples []prompb.Sample, hists []histCount) []int64 {
	out := make([]int64, 0, len(samples)+len(hists))
	for _, s := range samples {
		out = append(out, s.Timestamp)
	}
	for _, h := range hists {
		out = append(out, h.ts)
	}
	return out
}

// countIDs adds the IDs of one series' samples to b and runs the content check on them.
func (s *Sink) countIDs(b *batch, labels []prompb.Label, key string, samples []prompb.Sample, hists []histCount, check ContentCheck) {
	rw := &s.RemoteWrite
	var (
		cl    loadgen.Class
		n     uint64
		found bool
	)
	for _, l := range labels {
		if cl, n, found = loadgen.ParseID(l.Value); found {
			break
		}
	}
	var lm map[string]string
	if check != nil {
		lm = make(map[string]string, len(labels))
		for _, l := range labels {
			lm[l.Name] = l.Value
		}
	}
	one := func(ts int64, v float64) {
		c, id, ok := cl, n, found
		if !ok && rw.idOf != nil {
			c, id, ok = rw.idOf(key, ts, v)
		}
		if !ok {
			b.noID++
			return
		}
		b.ids = append(b.ids, idEntry{c, id})
		if check != nil {
			if err := check(Item{Class: c, N: id, Labels: lm, Timestamp: ts, Value: v}); err != nil {
				s.noteContent(err)
			}
		}
	}
	for _, smp := range samples {
		if value.IsStaleNaN(smp.Value) {
			rw.stale++
			continue
		}
		one(smp.Timestamp, smp.Value)
	}
	for _, h := range hists {
		one(h.ts, h.count)
	}
}

const rw2ContentType = "io.prometheus.write.v2.Request"

func (s *Sink) remoteWrite(h http.Header, body []byte, ct string) error {
	raw := body
	rw := &s.RemoteWrite
	if strings.Contains(ct, rw2ContentType) {
		var req writev2.Request
		if err := req.Unmarshal(raw); err != nil {
			return err
		}
		rw.mu.Lock()
		defer rw.mu.Unlock()
		rw.reqs++
		var nSamples, nHists int
		var ids batch
		check := s.contentCheck()
		defer func() {
			rw2Written(h, nSamples, nHists)
			setItems(h, nSamples+nHists)
			rw.IDs.commit(&ids)
		}()
		for _, ts := range req.Timeseries {
			nSamples += len(ts.Samples)
			nHists += len(ts.Histograms)
			var key strings.Builder
			name := ""
			labels := make([]prompb.Label, 0, len(ts.LabelsRefs)/2)
			for i := 0; i+1 < len(ts.LabelsRefs); i += 2 {
				n, v := req.Symbols[ts.LabelsRefs[i]], req.Symbols[ts.LabelsRefs[i+1]]
				if n == "__name__" {
					name = v
				}
				labels = append(labels, prompb.Label{Name: n, Value: v})
				key.WriteString(n + "\xfe" + v + "\xff")
			}
			samples := make([]prompb.Sample, len(ts.Samples))
			for i, smp := range ts.Samples {
				samples[i] = prompb.Sample{Value: smp.Value, Timestamp: smp.Timestamp}
			}
			hists := make([]histCount, len(ts.Histograms))
			for i, h := range ts.Histograms {
				c := float64(h.GetCountInt())
				if h.IsFloatHistogram() {
					c = h.GetCountFloat()
				}
				hists[i] = histCount{h.Timestamp, c}
			}
			rw.observe(key.String(), name, samples, hists)
			s.countIDs(&ids, labels, key.String(), samples, hists, check)
		}
		return nil
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(raw); err != nil {
		return err
	}
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.reqs++
	var ids batch
	check := s.contentCheck()
	items := 0
	defer func() {
		setItems(h, items)
		rw.IDs.commit(&ids)
	}()
	for _, ts := range req.Timeseries {
		items += len(ts.Samples) + len(ts.Histograms)
		var key strings.Builder
		name := ""
		for _, l := range ts.Labels {
			if l.Name == "__name__" {
				name = l.Value
			}
			key.WriteString(l.Name + "\xfe" + l.Value + "\xff")
		}
		hists := make([]histCount, len(ts.Histograms))
		for i, h := range ts.Histograms {
			c := float64(h.GetCountInt())
			if h.IsFloatHistogram() {
				c = h.GetCountFloat()
			}
			hists[i] = histCount{h.Timestamp, c}
		}
		rw.observe(key.String(), name, ts.Samples, hists)
		s.countIDs(&ids, ts.Labels, key.String(), ts.Samples, hists, check)
	}
	return nil
}

// rw2Written sets the headers a remote-write 2.0 receiver answers with.
func rw2Written(h http.Header, samples, histograms int) {
	h.Set("X-Prometheus-Remote-Write-Samples-Written", fmt.Sprint(samples))
	h.Set("X-Prometheus-Remote-Write-Histograms-Written", fmt.Sprint(histograms))
	h.Set("X-Prometheus-Remote-Write-Exemplars-Written", "0")
}
