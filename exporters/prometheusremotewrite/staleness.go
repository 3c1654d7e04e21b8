package prometheusremotewrite // import "github.com/sieveobs/sieve/exporters/prometheusremotewrite"

import (
	"time"

	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// staleEntry is a series whose staleness marker is being sent: it owns its labels, so that the
// marker can be handed back (restore) after the slot it came from was reused.
type staleEntry struct {
	hash   uint64
	lastTS int64 // milliseconds
	seen   int64 // Unix nanoseconds
	labels []label
	mtype  writev2.Metadata_MetricType
}

// staleSlot is one tracked series and its place in the least-recently-seen order, 40 bytes. It
// holds no Go pointer (see stalestore.go): its labels are in the arena at ref. A free slot is
// linked into the free list through next.
type staleSlot struct {
	hash       uint64
	lastTS     int64 // milliseconds
	seen       int64 // Unix nanoseconds
	ref        arenaRef
	prev, next int32
	mtype      uint8 // a writev2.Metadata_MetricType
}

const (
	noSlot = -1
	// Slots are allocated in chunks, so that growing never copies the slots already in use nor
	// holds two copies of them at once.
	chunkBits = 10
	chunkSize = 1 << chunkBits
)

// stalenessTracker remembers when each series last had a sample so that a
// staleness marker can end it promptly once it stops reporting, instead of
// it lingering for the query lookback window. It is bounded: the series
// seen least recently is forgotten first. It is only used under the
// exporter's push lock.
type stalenessTracker struct {
	staleAfter time.Duration
	maxSeries  int
	onEvict    func(string)

	chunks [][]staleSlot
	nslots int32 // slots ever handed out
	free   int32 // first free slot, linked through next
	count  int   // series tracked

	// table finds a slot by series hash: open addressing with linear probing, each cell the
	// slot number plus one, 0 for an empty cell. Its size is a power of two.
	table []uint32

	symbols symbolTable
	arena   labelArena
	scratch []byte

	// head is the series seen least recently, tail the one seen last.
	head, tail int32
}

func newStalenessTracker(cfg StalenessConfig, onEvict func(string)) *stalenessTracker {
	return &stalenessTracker{
		staleAfter: cfg.StaleAfter,
		maxSeries:  cfg.MaxSeries,
		onEvict:    onEvict,
		free:       noSlot,
		table:      make([]uint32, 1024),
		symbols:    newSymbolTable(),
		arena:      newLabelArena(),
		head:       noSlot,
		tail:       noSlot,
	}
}

func (t *stalenessTracker) enabled() bool { return t.staleAfter > 0 }

func (t *stalenessTracker) slot(i int32) *staleSlot {
	return &t.chunks[i>>chunkBits][i&(chunkSize-1)]
}

// find returns the table cell holding the series with hash h, or the empty cell where it would go.
func (t *stalenessTracker) find(h uint64) (cell int, at int32, found bool) {
	mask := len(t.table) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		v := t.table[i]
		if v == 0 {
			return i, noSlot, false
		}
		if t.slot(int32(v-1)).hash == h {
			return i, int32(v - 1), true
		}
	}
}

// deleteCell empties a cell, moving later cells of the same probe run back so that every
// series stays reachable from its home cell (backward-shift deletion).
func (t *stalenessTracker) deleteCell(i int) {
	mask := len(t.table) - 1
	for j := (i + 1) & mask; t.table[j] != 0; j = (j + 1) & mask {
		home := int(t.slot(int32(t.table[j]-1)).hash) & mask
		// The entry at j can fill i unless its home lies cyclically in (i, j].
		if (i <= j && i < home && home <= j) || (i > j && (i < home || home <= j)) {
			continue
		}
		t.table[i] = t.table[j]
		i = j
	}
	t.table[i] = 0
}

// grow doubles the table once it is three quarters full, keeping probe runs short.
func (t *stalenessTracker) grow() {
	if 4*(t.count+1) <= 3*len(t.table) {
		return
	}
	old := t.table
	t.table = make([]uint32, 2*len(old))
	mask := len(t.table) - 1
	for _, v := range old {
		if v == 0 {
			continue
		}
		i := int(t.slot(int32(v-1)).hash) & mask
		for t.table[i] != 0 {
			i = (i + 1) & mask
		}
		t.table[i] = v
	}
}

func (t *stalenessTracker) unlink(i int32) {
	sl := t.slot(i)
	if sl.prev != noSlot {
		t.slot(sl.prev).next = sl.next
	} else {
		t.head = sl.next
	}
	if sl.next != noSlot {
		t.slot(sl.next).prev = sl.prev
	} else {
		t.tail = sl.prev
	}
	sl.prev, sl.next = noSlot, noSlot
}

func (t *stalenessTracker) pushBack(i int32) {
	sl := t.slot(i)
	sl.prev, sl.next = t.tail, noSlot
	if t.tail != noSlot {
		t.slot(t.tail).next = i
	} else {
		t.head = i
	}
	t.tail = i
}

func (t *stalenessTracker) pushFront(i int32) {
	sl := t.slot(i)
	sl.prev, sl.next = noSlot, t.head
	if t.head != noSlot {
		t.slot(t.head).prev = i
	} else {
		t.tail = i
	}
	t.head = i
}

// insert tracks a new series (not in the table) at the back or the front of the order and
// reports whether it could be stored.
func (t *stalenessTracker) insert(hash uint64, ls []label, mtype writev2.Metadata_MetricType, lastTS, seen int64, front bool) bool {
	t.scratch = t.symbols.encode(t.scratch[:0], ls)
	ref, ok := t.arena.add(t.scratch)
	if !ok {
		return false
	}
	var at int32
	if t.free != noSlot {
		at = t.free
		t.free = t.slot(at).next
	} else {
		if int(t.nslots)>>chunkBits == len(t.chunks) {
			t.chunks = append(t.chunks, make([]staleSlot, chunkSize))
		}
		at = t.nslots
		t.nslots++
	}
	*t.slot(at) = staleSlot{hash: hash, lastTS: lastTS, seen: seen, ref: ref, mtype: uint8(mtype)}
	t.grow()
	cell, _, _ := t.find(hash)
	t.table[cell] = uint32(at) + 1
	t.count++
	if front {
		t.pushFront(at)
	} else {
		t.pushBack(at)
	}
	return true
}

// forget removes the series in slot at, found in table cell cell.
func (t *stalenessTracker) forget(cell int, at int32) {
	t.unlink(at)
	t.deleteCell(cell)
	sl := t.slot(at)
	t.arena.remove(sl.ref)
	*sl = staleSlot{next: t.free, prev: noSlot}
	t.free = at
	t.count--
}

// forgetSlot removes the series in slot at.
func (t *stalenessTracker) forgetSlot(at int32) {
	cell, _, _ := t.find(t.slot(at).hash)
	t.forget(cell, at)
}

// compact moves the label sets out of pages that long-lived series left mostly empty, once the
// arena holds more than twice what is in use. Every byte moved was in a page at least half
// empty, so the work is paid for by the bytes freed since the last compaction.
func (t *stalenessTracker) compact() {
	if !t.arena.fragmented() {
		return
	}
	sparse := make([]bool, len(t.arena.pages))
	for p := range sparse {
		sparse[p] = t.arena.sparse(p)
	}
	for at := t.head; at != noSlot; at = t.slot(at).next {
		sl := t.slot(at)
		if p := int(sl.ref >> pageBits); !sparse[p] {
			continue
		}
		// Copied out first: adding may release the page the bytes are in.
		t.scratch = append(t.scratch[:0], t.arena.get(sl.ref)...)
		t.arena.remove(sl.ref)
		ref, ok := t.arena.add(t.scratch)
		if !ok {
			// Cannot happen: the page just released is free again.
			panic("prometheusremotewrite: staleness arena full while compacting")
		}
		sl.ref = ref
	}
}

// observe records the series of a batch that is about to be sent.
func (t *stalenessTracker) observe(b *batch, now time.Time) {
	if !t.enabled() {
		return
	}
	nowNano := now.UnixNano()
	for i := range b.n {
		s := &b.series[i]
		last, ok := lastTimestamp(s)
		if !ok {
			continue
		}
		if cell, at, found := t.find(s.hash); found {
			sl := t.slot(at)
			if t.symbols.equal(t.arena.get(sl.ref), s.labels) {
				if lastValueStale(s) {
					// The data already ended the series.
					t.forget(cell, at)
					continue
				}
				sl.lastTS = max(sl.lastTS, last)
				sl.seen = nowNano
				t.unlink(at)
				t.pushBack(at)
				continue
			}
			// A different series with the same hash: the newer one is tracked.
			t.forget(cell, at)
		}
		if lastValueStale(s) {
			continue
		}
		if t.count >= t.maxSeries && t.head != noSlot {
			t.forgetSlot(t.head)
			t.onEvict(reasonCapacity)
		}
		if !t.insert(s.hash, s.labels, s.mtype, last, nowNano, false) {
			t.onEvict(reasonCapacity)
		}
	}
	t.symbols.forget()
	t.compact()
}

// due reports whether a sweep at now would end a series.
func (t *stalenessTracker) due(now time.Time) bool {
	return t.enabled() && t.head != noSlot && now.UnixNano()-t.slot(t.head).seen >= int64(t.staleAfter)
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
		sl := t.slot(at)
		if now.UnixNano()-sl.seen < int64(t.staleAfter) {
			break
		}
		se := staleEntry{hash: sl.hash, lastTS: sl.lastTS, seen: sl.seen, mtype: writev2.Metadata_MetricType(sl.mtype)}
		inBatch := false
		if _, ok := b.index[se.hash]; ok {
			// The series has samples in this very batch; it is not stale.
			inBatch = true
		} else {
			se.labels = t.symbols.decode(t.arena.get(sl.ref))
		}
		t.forgetSlot(at)
		if inBatch {
			continue
		}
		ts := max(se.lastTS+1, now.UnixMilli())
		s := b.get(se.labels, se.mtype, "", "")
		s.samples = append(s.samples, sample{Value: staleNaN, Timestamp: ts})
		b.stale++
		out = append(out, se)
	}
	return out
}

// restore puts back a marker that could not be delivered so that the next
// sweep emits it again.
func (t *stalenessTracker) restore(se staleEntry) {
	if _, _, found := t.find(se.hash); found {
		return
	}
	if !t.insert(se.hash, se.labels, se.mtype, se.lastTS, se.seen, true) {
		t.onEvict(reasonCapacity)
	}
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
