package prometheusremotewrite // import "github.com/sieveobs/sieve/exporters/prometheusremotewrite"

import (
	"container/list"
	"time"

	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

type staleEntry struct {
	hash   uint64
	labels []prompb.Label
	mtype  writev2.Metadata_MetricType
	lastTS int64
	seen   time.Time
}

// stalenessTracker remembers when each series last had a sample so that a
// staleness marker can end it promptly once it stops reporting, instead of
// it lingering for the query lookback window. It is bounded: the series
// seen least recently is forgotten first. It is only used under the
// exporter's push lock.
type stalenessTracker struct {
	staleAfter time.Duration
	maxSeries  int
	onEvict    func(string)
	entries    map[uint64]*list.Element
	lru        *list.List
}

func newStalenessTracker(cfg StalenessConfig, onEvict func(string)) *stalenessTracker {
	return &stalenessTracker{
		staleAfter: cfg.StaleAfter,
		maxSeries:  cfg.MaxSeries,
		onEvict:    onEvict,
		entries:    make(map[uint64]*list.Element),
		lru:        list.New(),
	}
}

func (t *stalenessTracker) enabled() bool { return t.staleAfter > 0 }

// observe records the series of a batch that is about to be sent.
func (t *stalenessTracker) observe(b *batch, now time.Time) {
	if !t.enabled() {
		return
	}
	for i := range b.n {
		s := &b.series[i]
		last, ok := lastTimestamp(s)
		if !ok {
			continue
		}
		if e, found := t.entries[s.hash]; found {
			se := e.Value.(*staleEntry)
			if labelsEqual(se.labels, s.labels) {
				if lastValueStale(s) {
					// The data already ended the series.
					t.lru.Remove(e)
					delete(t.entries, s.hash)
					continue
				}
				se.lastTS = max(se.lastTS, last)
				se.seen = now
				t.lru.MoveToBack(e)
				continue
			}
		}
		if lastValueStale(s) {
			continue
		}
		if len(t.entries) >= t.maxSeries {
			front := t.lru.Front()
			t.lru.Remove(front)
			delete(t.entries, front.Value.(*staleEntry).hash)
			t.onEvict(reasonCapacity)
		}
		t.entries[s.hash] = t.lru.PushBack(&staleEntry{
			hash:   s.hash,
			labels: append([]prompb.Label(nil), s.labels...),
			mtype:  s.mtype,
			lastTS: last,
			seen:   now,
		})
	}
}

// sweep appends a staleness marker to b for every series not seen for
// staleAfter and forgets it. The markers are returned so that those whose
// shard failed can be handed back with restore.
func (t *stalenessTracker) sweep(b *batch, now time.Time) []*staleEntry {
	if !t.enabled() {
		return nil
	}
	var out []*staleEntry
	for e := t.lru.Front(); e != nil; e = t.lru.Front() {
		se := e.Value.(*staleEntry)
		if now.Sub(se.seen) < t.staleAfter {
			break
		}
		t.lru.Remove(e)
		delete(t.entries, se.hash)
		if _, ok := b.index[se.hash]; ok {
			// The series has samples in this very batch; it is not stale.
			continue
		}
		ts := max(se.lastTS+1, now.UnixMilli())
		s := b.get(se.labels, se.mtype, "", "")
		s.samples = append(s.samples, prompb.Sample{Value: staleNaN, Timestamp: ts})
		b.stale++
		out = append(out, se)
	}
	return out
}

// restore puts back a marker that could not be delivered so that the next
// sweep emits it again.
func (t *stalenessTracker) restore(se *staleEntry) {
	if _, ok := t.entries[se.hash]; ok {
		return
	}
	t.entries[se.hash] = t.lru.PushFront(se)
}

func lastTimestamp(s *series) (int64, bool) {
	var ts int64
	ok := false
	if n := len(s.samples); n > 0 {
		ts, ok = s.samples[n-1].Timestamp, true
	}
	if n := len(s.histograms); n > 0 && s.histograms[n-1].Timestamp > ts {
		ts, ok = s.histograms[n-1].Timestamp, true
	}
	return ts, ok
}

func lastValueStale(s *series) bool {
	n := len(s.samples)
	if n == 0 {
		return false
	}
	if len(s.histograms) > 0 && s.histograms[len(s.histograms)-1].Timestamp > s.samples[n-1].Timestamp {
		return false
	}
	return isStaleNaN(s.samples[n-1].Value)
}
