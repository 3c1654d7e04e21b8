package prometheusremotewrite // import "github.com/sieveobs/sieve/exporters/prometheusremotewrite"

import (
	"encoding/binary"
	"time"

	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// staleEntry is one tracked series, kept compact because up to max_series of them live for
// staleness' sake alone: its labels are one byte string (each name and value preceded by its
// uvarint length) instead of a slice of label structs pointing at strings that would keep the
// translated batch's memory alive, and times are Unix integers.
type staleEntry struct {
	hash   uint64
	lastTS int64 // milliseconds
	seen   int64 // Unix nanoseconds
	labels []byte
	mtype  writev2.Metadata_MetricType
}

// encodeLabels appends the compact form of ls to dst.
func encodeLabels(dst []byte, ls []prompb.Label) []byte {
	for _, l := range ls {
		dst = binary.AppendUvarint(dst, uint64(len(l.Name)))
		dst = append(dst, l.Name...)
		dst = binary.AppendUvarint(dst, uint64(len(l.Value)))
		dst = append(dst, l.Value...)
	}
	return dst
}

// decodeLabels is encodeLabels' inverse; it allocates, and runs only for markers.
func decodeLabels(enc []byte) []prompb.Label {
	var out []prompb.Label
	for len(enc) > 0 {
		var l prompb.Label
		l.Name, enc = nextString(enc)
		l.Value, enc = nextString(enc)
		out = append(out, l)
	}
	return out
}

func nextString(enc []byte) (string, []byte) {
	n, k := binary.Uvarint(enc)
	if k <= 0 || uint64(len(enc)-k) < n {
		return "", nil
	}
	return string(enc[k : k+int(n)]), enc[k+int(n):]
}

// labelsEncodedEqual reports whether enc is the compact form of ls, without allocating.
func labelsEncodedEqual(enc []byte, ls []prompb.Label) bool {
	for _, l := range ls {
		for _, part := range [2]string{l.Name, l.Value} {
			n, k := binary.Uvarint(enc)
			if k <= 0 || n != uint64(len(part)) || uint64(len(enc)-k) < n || string(enc[k:k+int(n)]) != part {
				return false
			}
			enc = enc[k+int(n):]
		}
	}
	return len(enc) == 0
}

// staleSlot is a tracked series and its place in the least-recently-seen
// order, linked by slot index so that tracking a series allocates nothing
// once the slots have grown: under series churn every push inserts and
// evicts thousands of entries.
type staleSlot struct {
	staleEntry
	prev, next int32
}

const noSlot = -1

// stalenessTracker remembers when each series last had a sample so that a
// staleness marker can end it promptly once it stops reporting, instead of
// it lingering for the query lookback window. It is bounded: the series
// seen least recently is forgotten first. It is only used under the
// exporter's push lock.
type stalenessTracker struct {
	staleAfter time.Duration
	maxSeries  int
	onEvict    func(string)
	entries    map[uint64]int32
	slots      []staleSlot
	free       []int32
	// head is the series seen least recently, tail the one seen last.
	head, tail int32
}

func newStalenessTracker(cfg StalenessConfig, onEvict func(string)) *stalenessTracker {
	return &stalenessTracker{
		staleAfter: cfg.StaleAfter,
		maxSeries:  cfg.MaxSeries,
		onEvict:    onEvict,
		entries:    make(map[uint64]int32),
		head:       noSlot,
		tail:       noSlot,
	}
}

func (t *stalenessTracker) enabled() bool { return t.staleAfter > 0 }

func (t *stalenessTracker) unlink(i int32) {
	sl := &t.slots[i]
	if sl.prev != noSlot {
		t.slots[sl.prev].next = sl.next
	} else {
		t.head = sl.next
	}
	if sl.next != noSlot {
		t.slots[sl.next].prev = sl.prev
	} else {
		t.tail = sl.prev
	}
	sl.prev, sl.next = noSlot, noSlot
}

func (t *stalenessTracker) pushBack(i int32) {
	sl := &t.slots[i]
	sl.prev, sl.next = t.tail, noSlot
	if t.tail != noSlot {
		t.slots[t.tail].next = i
	} else {
		t.head = i
	}
	t.tail = i
}

func (t *stalenessTracker) pushFront(i int32) {
	sl := &t.slots[i]
	sl.prev, sl.next = noSlot, t.head
	if t.head != noSlot {
		t.slots[t.head].prev = i
	} else {
		t.tail = i
	}
	t.head = i
}

// alloc returns a free slot; its labels keep their capacity for reuse.
func (t *stalenessTracker) alloc() int32 {
	if n := len(t.free); n > 0 {
		i := t.free[n-1]
		t.free = t.free[:n-1]
		return i
	}
	t.slots = append(t.slots, staleSlot{prev: noSlot, next: noSlot})
	return int32(len(t.slots) - 1)
}

// forget removes slot i from the order and the index.
func (t *stalenessTracker) forget(i int32) {
	t.unlink(i)
	delete(t.entries, t.slots[i].hash)
	t.free = append(t.free, i)
}

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
		if at, found := t.entries[s.hash]; found {
			sl := &t.slots[at]
			if labelsEncodedEqual(sl.labels, s.labels) {
				if lastValueStale(s) {
					// The data already ended the series.
					t.forget(at)
					continue
				}
				sl.lastTS = max(sl.lastTS, last)
				sl.seen = now.UnixNano()
				t.unlink(at)
				t.pushBack(at)
				continue
			}
			// A different series with the same hash: the newer one is tracked.
			t.forget(at)
		}
		if lastValueStale(s) {
			continue
		}
		if len(t.entries) >= t.maxSeries && t.head != noSlot {
			t.forget(t.head)
			t.onEvict(reasonCapacity)
		}
		at := t.alloc()
		sl := &t.slots[at]
		sl.hash = s.hash
		sl.labels = encodeLabels(sl.labels[:0], s.labels)
		sl.mtype, sl.lastTS, sl.seen = s.mtype, last, now.UnixNano()
		t.entries[s.hash] = at
		t.pushBack(at)
	}
}

// due reports whether a sweep at now would end a series.
func (t *stalenessTracker) due(now time.Time) bool {
	return t.enabled() && t.head != noSlot && now.UnixNano()-t.slots[t.head].seen >= int64(t.staleAfter)
}

// sweep appends a staleness marker to b for every series not seen for
// staleAfter and forgets it. The markers are returned so that those whose
// shard failed can be handed back with restore.
func (t *stalenessTracker) sweep(b *batch, now time.Time) []staleEntry {
	if !t.enabled() {
		return nil
	}
	var out []staleEntry
	for t.head != noSlot {
		at := t.head
		sl := &t.slots[at]
		if now.UnixNano()-sl.seen < int64(t.staleAfter) {
			break
		}
		se := sl.staleEntry
		t.forget(at)
		if _, ok := b.index[se.hash]; ok {
			// The series has samples in this very batch; it is not stale.
			continue
		}
		// The marker keeps the labels: the slot must not reuse them.
		t.slots[at].labels = nil
		ts := max(se.lastTS+1, now.UnixMilli())
		s := b.get(decodeLabels(se.labels), se.mtype, "", "")
		s.samples = append(s.samples, prompb.Sample{Value: staleNaN, Timestamp: ts})
		b.stale++
		out = append(out, se)
	}
	return out
}

// restore puts back a marker that could not be delivered so that the next
// sweep emits it again.
func (t *stalenessTracker) restore(se staleEntry) {
	if _, ok := t.entries[se.hash]; ok {
		return
	}
	at := t.alloc()
	t.slots[at].staleEntry = se
	t.entries[se.hash] = at
	t.pushFront(at)
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
