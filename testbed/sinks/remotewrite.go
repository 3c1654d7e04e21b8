package sinks

import (
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
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
}

// RemoteWriteCounter counts remote-write (1.0 and 2.0) samples. Aggregated metrics carry no
// per-item ID, so completeness is judged by the histograms' latest counts instead.
type RemoteWriteCounter struct {
	mu         sync.Mutex
	reqs       uint64
	bytes      uint64
	samples    uint64
	histograms uint64
	series     map[string]struct{}
	latest     map[string]point
}

type point struct {
	ts int64
	v  float64
}

// Snapshot returns the counts so far.
func (r *RemoteWriteCounter) Snapshot() RemoteWriteCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := RemoteWriteCounts{Requests: r.reqs, Bytes: r.bytes, Samples: r.samples, Histograms: r.histograms, Series: len(r.series)}
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
}

func (r *RemoteWriteCounter) addBytes(n uint64) {
	r.mu.Lock()
	r.bytes += n
	r.mu.Unlock()
}

// observe records one series' samples; key is the series identity, name its metric name.
func (r *RemoteWriteCounter) observe(key, name string, samples []prompb.Sample, hists []histCount) {
	if r.series == nil {
		r.series = map[string]struct{}{}
		r.latest = map[string]point{}
	}
	r.series[key] = struct{}{}
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
		defer func() { rw2Written(h, nSamples, nHists) }()
		for _, ts := range req.Timeseries {
			nSamples += len(ts.Samples)
			nHists += len(ts.Histograms)
			var key strings.Builder
			name := ""
			for i := 0; i+1 < len(ts.LabelsRefs); i += 2 {
				n, v := req.Symbols[ts.LabelsRefs[i]], req.Symbols[ts.LabelsRefs[i+1]]
				if n == "__name__" {
					name = v
				}
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
	for _, ts := range req.Timeseries {
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
	}
	return nil
}

// rw2Written sets the headers a remote-write 2.0 receiver answers with.
func rw2Written(h http.Header, samples, histograms int) {
	h.Set("X-Prometheus-Remote-Write-Samples-Written", fmt.Sprint(samples))
	h.Set("X-Prometheus-Remote-Write-Histograms-Written", fmt.Sprint(histograms))
	h.Set("X-Prometheus-Remote-Write-Exemplars-Written", "0")
}
