// Package sinks holds the counting backends Sieve's benchmarks and correctness runs export to:
// an OTLP endpoint (gRPC and HTTP), a Loki push endpoint (protobuf+snappy, JSON, and Loki's
// OTLP logs path) and a Prometheus remote-write endpoint. They decode what arrives, count items
// by the ID the load generator put on them (duplicates separately) and can inject faults, so
// the collector, not a real backend, is what gets measured.
package sinks

import (
	"sync"

	"github.com/sieveobs/sieve/testbed/loadgen"
)

// Counts is a snapshot of one counter.
type Counts struct {
	// Unique counts distinct IDs per class, Duplicates the extra arrivals of an ID already seen.
	Unique     map[loadgen.Class]uint64
	Duplicates map[loadgen.Class]uint64
	// NoID counts items without a recognisable ID.
	NoID uint64
	// Items counts every item, with or without ID.
	Items uint64
	// Requests and Bytes count accepted requests and their body size as received (compressed).
	Requests, Bytes uint64
	// OutOfOrder counts Loki entries older than an entry of the same stream that arrived
	// before them; Streams counts the distinct streams seen.
	OutOfOrder uint64
	Streams    int
}

// TotalUnique sums Unique over classes.
func (c Counts) TotalUnique() uint64 {
	var n uint64
	for _, v := range c.Unique {
		n += v
	}
	return n
}

// TotalDuplicates sums Duplicates over classes.
func (c Counts) TotalDuplicates() uint64 {
	var n uint64
	for _, v := range c.Duplicates {
		n += v
	}
	return n
}

// Counter counts items by ID. IDs from the load generator are dense, so a bitset per class
// tracks what was seen in a few bits per item instead of a map entry.
type Counter struct {
	mu    sync.Mutex
	seen  [256][]uint64
	uniq  [256]uint64
	dups  [256]uint64
	noID  uint64
	items uint64
	reqs  uint64
	bytes uint64
	// last holds the newest timestamp seen per stream, for the order check.
	last       map[string]int64
	outOfOrder uint64
}

// batch collects one request's IDs so the counter's lock is taken once per request.
type batch struct {
	ids    []idEntry
	noID   uint64
	bytes  uint64
	orders []streamTS
}

type streamTS struct {
	stream string
	ts     int64
}

// order notes an entry of a stream, in arrival order, for the per-stream order check.
func (b *batch) order(stream string, ts int64) {
	b.orders = append(b.orders, streamTS{stream, ts})
}

type idEntry struct {
	class loadgen.Class
	n     uint64
}

func (b *batch) add(v string) {
	if c, n, ok := loadgen.ParseID(v); ok {
		b.ids = append(b.ids, idEntry{c, n})
		return
	}
	b.noID++
}

func (c *Counter) commit(b *batch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reqs++
	c.bytes += b.bytes
	c.noID += b.noID
	c.items += b.noID + uint64(len(b.ids))
	for _, o := range b.orders {
		if c.last == nil {
			c.last = map[string]int64{}
		}
		if last, ok := c.last[o.stream]; ok && o.ts < last {
			c.outOfOrder++
			continue
		}
		c.last[o.stream] = o.ts
	}
	for _, e := range b.ids {
		set, dup := MarkID(c.seen[e.class], e.n)
		c.seen[e.class] = set
		if dup {
			c.dups[e.class]++
			continue
		}
		c.uniq[e.class]++
	}
}

// MarkID sets bit n of an ID bitset, growing it as needed, and reports whether the bit was
// already set: a duplicate arrival.
func MarkID(set []uint64, n uint64) (marked []uint64, dup bool) {
	w := int(n / 64)
	if w >= len(set) {
		grown := make([]uint64, max(w+1, 2*len(set)))
		copy(grown, set)
		set = grown
	}
	bit := uint64(1) << (n % 64)
	if set[w]&bit != 0 {
		return set, true
	}
	set[w] |= bit
	return set, false
}

// Seen reports whether the ID arrived at least once.
func (c *Counter) Seen(class loadgen.Class, n uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	set := c.seen[class]
	w := int(n / 64)
	return w < len(set) && set[w]&(uint64(1)<<(n%64)) != 0
}

// Snapshot returns the counts so far.
func (c *Counter) Snapshot() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Counts{
		Unique:     map[loadgen.Class]uint64{},
		Duplicates: map[loadgen.Class]uint64{},
		NoID:       c.noID,
		Items:      c.items,
		Requests:   c.reqs,
		Bytes:      c.bytes,
		OutOfOrder: c.outOfOrder,
		Streams:    len(c.last),
	}
	for _, cl := range loadgen.Classes {
		if c.uniq[cl] > 0 {
			s.Unique[cl] = c.uniq[cl]
		}
		if c.dups[cl] > 0 {
			s.Duplicates[cl] = c.dups[cl]
		}
	}
	return s
}

// Reset forgets everything counted.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = [256][]uint64{}
	c.uniq, c.dups = [256]uint64{}, [256]uint64{}
	c.noID, c.items, c.reqs, c.bytes = 0, 0, 0, 0
	c.last, c.outOfOrder = nil, 0
}
