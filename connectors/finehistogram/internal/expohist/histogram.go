package expohist // import "github.com/sieveobs/sieve/connectors/finehistogram/internal/expohist"

import (
	"math"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Layout is how a histogram spends its bucket budget.
type Layout uint8

const (
	// Dense keeps one contiguous range of at most maxSize buckets per sign, empty ones included,
	// as the OpenTelemetry SDKs do: two modes far apart force a coarse scale.
	Dense Layout = iota
	// Sparse keeps at most maxSize populated buckets per sign; empty buckets between them cost
	// no memory, so the scale only falls when the populated count would exceed the budget, or
	// when the range would exceed 8·maxSize buckets (the emitted OTLP array is dense).
	Sparse
)

// Histogram is a base-2 exponential histogram of float64 values. It starts at MaxScale and
// lowers its scale only as much as the budget requires. The zero value is not usable: call Init.
// It is not safe for concurrent use.
type Histogram struct {
	count     uint64
	zeroCount uint64
	// Counts are 32-bit while the total fits, half the memory of 64-bit ones; past 2^32-1
	// observations the buckets move to wide, for good until Clear. No bucket exceeds the
	// total, so no 32-bit count can overflow, in a downscale either.
	narrow hist[uint32]
	wide   *hist[uint64]
}

type count interface{ uint32 | uint64 }

// hist is the bucket state at one count width.
type hist[C count] struct {
	layout  Layout
	maxSize int32
	m       mapper

	pos, neg buckets[C]
}

// buckets of one sign, in one of two representations. As a window (always in the dense layout):
// counts[k] is bucket start+k and both ends are non-zero. As pairs (sparse layout, populated
// buckets spread over more than 2·maxSize): counts[k] is bucket idx[k], idx ascending, every
// count non-zero. The sparse layout uses the window while its range allows, as fast as dense,
// and counts its populated buckets.
type buckets[C count] struct {
	start  int32
	counts []C
	idx    []int32
	// pos, as pairs, is the position+1 of bucket idx[0]+j at j, 0 when empty: the lookup of
	// the hot path is then one load, as with a window (2 bytes per bucket of the range, which
	// is at most 8·maxSize).
	pos       []uint16
	pairs     bool
	populated int32 // sparse layout only
}

// Init prepares h for use, empty, with the given layout and a budget of maxSize (≥ 2) buckets
// per sign.
func (h *Histogram) Init(layout Layout, maxSize int32) {
	*h = Histogram{narrow: hist[uint32]{layout: layout, maxSize: maxSize, m: mapperFor(MaxScale)}}
}

// Layout returns the layout h was initialised with.
func (h *Histogram) Layout() Layout { return h.narrow.layout }

// Count is the number of values recorded, zeros included.
func (h *Histogram) Count() uint64 { return h.count }

// ZeroCount is the number of zeros recorded.
func (h *Histogram) ZeroCount() uint64 { return h.zeroCount }

// Scale is the current scale, 0 while no non-zero value was recorded (as in the OpenTelemetry
// SDKs, a point of zeros only has scale 0).
func (h *Histogram) Scale() int32 {
	if h.wide != nil {
		return h.wide.scale()
	}
	return h.narrow.scale()
}

func (h *hist[C]) scale() int32 {
	if h.pos.empty() && h.neg.empty() {
		return 0
	}
	return h.m.scale
}

// Populated is the number of non-empty buckets of each sign.
func (h *Histogram) Populated() (positive, negative int) {
	if h.wide != nil {
		return h.wide.pos.countPopulated(), h.wide.neg.countPopulated()
	}
	return h.narrow.pos.countPopulated(), h.narrow.neg.countPopulated()
}

func (b *buckets[C]) empty() bool { return len(b.counts) == 0 }

func (b *buckets[C]) countPopulated() int {
	n := 0
	for _, c := range b.counts {
		if c != 0 {
			n++
		}
	}
	return n
}

// each calls fn for every non-empty bucket in ascending index order.
func (b *buckets[C]) each(fn func(idx int32, n uint64)) {
	for k, c := range b.counts {
		if c == 0 {
			continue
		}
		if b.pairs {
			fn(b.idx[k], uint64(c))
		} else {
			fn(b.start+int32(k), uint64(c))
		}
	}
}

// Clear empties h and returns it to MaxScale and 32-bit counts, keeping the memory of the
// latter.
func (h *Histogram) Clear() {
	h.count, h.zeroCount = 0, 0
	h.wide = nil
	h.narrow.pos.clear()
	h.narrow.neg.clear()
	h.narrow.m = mapperFor(MaxScale)
}

func (b *buckets[C]) clear() {
	b.start = 0
	b.counts = b.counts[:0]
	b.idx = b.idx[:0]
	b.pos = b.pos[:0]
	b.pairs = false
	b.populated = 0
}

// reserve moves the buckets to 64-bit counts before the total passes 2^32-1.
func (h *Histogram) reserve(n uint64) {
	if h.wide != nil || n <= math.MaxUint32-h.count {
		return
	}
	w := &hist[uint64]{layout: h.narrow.layout, maxSize: h.narrow.maxSize, m: h.narrow.m}
	w.pos, w.neg = widen(&h.narrow.pos), widen(&h.narrow.neg)
	h.wide = w
	h.narrow.pos, h.narrow.neg = buckets[uint32]{}, buckets[uint32]{}
}

func widen(b *buckets[uint32]) buckets[uint64] {
	w := buckets[uint64]{start: b.start, idx: b.idx, pos: b.pos, pairs: b.pairs, populated: b.populated}
	w.counts = make([]uint64, len(b.counts), cap(b.counts))
	for k, c := range b.counts {
		w.counts[k] = uint64(c)
	}
	return w
}

// Update records one value.
func (h *Histogram) Update(value float64) { h.UpdateByIncr(value, 1) }

// UpdateByIncr records value incr times. value must be finite (not NaN nor ±Inf).
func (h *Histogram) UpdateByIncr(value float64, incr uint64) {
	if incr == 0 {
		return
	}
	h.reserve(incr)
	h.count += incr
	if value == 0 {
		h.zeroCount += incr
		return
	}
	if h.wide != nil {
		h.wide.update(value, incr)
		return
	}
	h.narrow.update(value, incr)
}

func (h *hist[C]) update(value float64, incr uint64) {
	b := &h.pos
	if value < 0 {
		value = -value
		b = &h.neg
	}
	h.incrementIndex(b, h.m.index(value), incr)
}

// incrementIndex adds incr to bucket i at the current scale, lowering the scale if needed.
func (h *hist[C]) incrementIndex(b *buckets[C], i int32, incr uint64) {
	if !b.pairs {
		if k := uint32(i - b.start); k < uint32(len(b.counts)) {
			// In the sparse layout a bucket that was empty takes a place in the budget.
			if h.layout == Dense || b.counts[k] != 0 {
				b.counts[k] += C(incr)
				return
			}
		}
	} else if k, ok := b.find(i); ok {
		b.counts[k] += C(incr)
		return
	}
	if h.layout == Dense {
		h.denseInsert(b, i, incr)
		return
	}
	h.sparseInsert(b, i, incr)
}

// find returns the position of bucket i in a set of pairs.
func (b *buckets[C]) find(i int32) (int, bool) {
	if len(b.idx) == 0 {
		return 0, false
	}
	if j := uint32(i - b.idx[0]); j < uint32(len(b.pos)) {
		if p := b.pos[j]; p != 0 {
			return int(p - 1), true
		}
	}
	return 0, false
}

// indexPositions rebuilds pos after the pairs changed (an insertion or a downscale: rare).
func (b *buckets[C]) indexPositions(maxSize int32) {
	n := int(b.idx[len(b.idx)-1]-b.idx[0]) + 1
	b.pos = growTo(b.pos, n, sparseRangeFactor*maxSize)
	clear(b.pos)
	for k, i := range b.idx {
		b.pos[i-b.idx[0]] = uint16(k + 1)
	}
}

// search returns the position of the first bucket ≥ i. It is branch-free: where a value falls
// among the populated buckets is unpredictable, and mispredicted branches would cost more than
// the comparisons.
func (b *buckets[C]) search(i int32) int {
	n := len(b.idx)
	if n == 0 {
		return 0
	}
	base := 0
	for n > 1 {
		half := n >> 1
		// 1 when idx[base+half] < i (in 64 bits: two int32 indexes may differ by 2^31).
		less := int(uint64(int64(b.idx[base+half])-int64(i)) >> 63)
		base += half * less
		n -= half
	}
	return base + int(uint64(int64(b.idx[base])-int64(i))>>63)
}

func (h *hist[C]) denseInsert(b *buckets[C], i int32, incr uint64) {
	if len(b.counts) == 0 {
		b.start = i
		b.counts = growTo(b.counts, 1, h.maxSize)
		b.counts[0] = C(incr)
		return
	}
	lo, hi := b.start, b.start+int32(len(b.counts))-1
	if i < lo {
		lo = i
	} else {
		hi = i
	}
	if hi-lo >= h.maxSize {
		change := rangeChange(lo, hi, h.maxSize)
		h.downscale(change)
		// Buckets nest: the bucket of the value at the coarser scale is i shifted.
		h.incrementIndex(b, i>>change, incr)
		return
	}
	old := len(b.counts)
	if i < b.start {
		d := int(b.start - i)
		b.counts = growTo(b.counts, old+d, h.maxSize)
		copy(b.counts[d:], b.counts[:old])
		clear(b.counts[:d])
		b.start = i
	} else {
		b.counts = growTo(b.counts, int(i-b.start)+1, h.maxSize)
		clear(b.counts[old:])
	}
	b.counts[i-b.start] += C(incr)
}

// growTo returns s resliced to n elements, reallocated (by a quarter, at most limit) when its
// capacity is short. New elements are not cleared. A quarter rather than double: a series
// lives long and its range settles, so spare capacity would be kept for good.
func growTo[T any](s []T, n int, limit int32) []T {
	if n <= cap(s) {
		return s[:n]
	}
	c := max(n+n/4, 8)
	if c > int(limit) && n <= int(limit) {
		c = int(limit)
	}
	t := make([]T, n, c)
	copy(t, s)
	return t
}

// rangeChange is the smallest scale reduction that brings [lo, hi] within size buckets.
func rangeChange(lo, hi, size int32) int32 {
	var change int32
	for hi-lo >= size {
		hi >>= 1
		lo >>= 1
		change++
	}
	return change
}

// sparseInsert adds a bucket to a sparse set, lowering the scale first when the populated
// buckets would exceed the budget.
func (h *hist[C]) sparseInsert(b *buckets[C], i int32, incr uint64) {
	var change int32
	if lo, hi, ok := h.bounds(b); ok {
		if lo, hi = min(lo, i), max(hi, i); hi-lo >= h.maxRange() {
			change = rangeChange(lo, hi, h.maxRange())
		}
	}
	if b.populated >= h.maxSize {
		change = max(change, b.populatedChange(i, h.maxSize))
	}
	if change > 0 {
		h.downscale(change)
		h.incrementIndex(b, i>>change, incr)
		return
	}
	b.populated++
	if !b.pairs {
		if len(b.counts) == 0 {
			b.start = i
			b.counts = growTo(b.counts, 1, h.window())
			b.counts[0] = C(incr)
			return
		}
		lo, hi := min(b.start, i), max(b.start+int32(len(b.counts))-1, i)
		if hi-lo < h.window() {
			old := len(b.counts)
			if i < b.start {
				d := int(b.start - i)
				b.counts = growTo(b.counts, old+d, h.window())
				copy(b.counts[d:], b.counts[:old])
				clear(b.counts[:d])
				b.start = i
			} else if i >= b.start+int32(old) {
				b.counts = growTo(b.counts, int(i-b.start)+1, h.window())
				clear(b.counts[old:])
			}
			b.counts[i-b.start] += C(incr)
			return
		}
		b.toPairs(h.maxSize)
	}
	k := b.search(i)
	n := len(b.idx)
	b.idx = growTo(b.idx, n+1, h.maxSize)
	b.counts = growTo(b.counts, n+1, h.maxSize)
	copy(b.idx[k+1:], b.idx[k:n])
	copy(b.counts[k+1:], b.counts[k:n])
	b.idx[k] = i
	b.counts[k] = C(incr)
	b.indexPositions(h.maxSize)
}

// maxRange bounds the range of a sparse set: an OTLP point carries buckets as one dense array,
// empty ones included, so a range without bound (a value near 1e-300 and one near 1e300 at
// scale 20 are 2^31 buckets apart) could not be emitted. At 8·maxSize the emitted array stays
// within 8 times the dense layout's, and the remote-write exporter writes long runs of empty
// buckets as span gaps.
func (h *hist[C]) maxRange() int32 { return sparseRangeFactor * h.maxSize }

const sparseRangeFactor = 8

// window is the widest range the sparse layout keeps as a window: beyond it the empty buckets
// would cost more than the index of each populated one.
func (h *hist[C]) window() int32 { return 2 * h.maxSize }

func (b *buckets[C]) toPairs(maxSize int32) {
	idx := make([]int32, 0, maxSize)
	counts := make([]C, 0, maxSize)
	b.each(func(i int32, c uint64) {
		idx = append(idx, i)
		counts = append(counts, C(c))
	})
	b.idx, b.counts, b.pairs = idx, counts, true
	b.indexPositions(maxSize)
}

func (b *buckets[C]) toWindow() {
	lo, hi := b.idx[0], b.idx[len(b.idx)-1]
	n := int(hi-lo) + 1
	counts := make([]C, n, n+n/4)
	for k, i := range b.idx {
		counts[i-lo] = b.counts[k]
	}
	// The index is dropped: a series whose range came back within the window seldom leaves it
	// again, and the memory is better returned.
	b.start, b.counts, b.idx, b.pos, b.pairs = lo, counts, nil, nil, false
}

// populatedChange is the smallest scale reduction after which the populated buckets and bucket
// i number at most size.
func (b *buckets[C]) populatedChange(i int32, size int32) int32 {
	for change := int32(1); ; change++ {
		n, hasI, prev, first := int32(0), false, int32(0), true
		b.each(func(x int32, _ uint64) {
			x >>= change
			if first || x != prev {
				n++
				prev, first = x, false
			}
			if x == i>>change {
				hasI = true
			}
		})
		if !hasI {
			n++
		}
		if n <= size {
			return change
		}
	}
}

// downscale lowers the scale by change, merging each run of 2^change buckets into one.
func (h *hist[C]) downscale(change int32) {
	if change <= 0 {
		return
	}
	for _, b := range []*buckets[C]{&h.pos, &h.neg} {
		if !b.pairs {
			b.denseDownscale(change)
		} else {
			b.sparseDownscale(change)
			if lo, hi := b.idx[0], b.idx[len(b.idx)-1]; hi-lo < h.window() {
				b.toWindow()
			} else {
				b.indexPositions(h.maxSize)
			}
		}
		if h.layout == Sparse {
			b.populated = int32(b.countPopulated())
		}
	}
	h.m = mapperFor(h.m.scale - change)
}

func (b *buckets[C]) denseDownscale(change int32) {
	if len(b.counts) == 0 {
		return
	}
	newStart := b.start >> change
	// The target of position k is never after k, and every earlier position has been read
	// already, so the merge runs in place.
	for k, c := range b.counts {
		j := int(((b.start + int32(k)) >> change) - newStart)
		if j != k {
			b.counts[k] = 0
			b.counts[j] += c
		}
	}
	end := b.start + int32(len(b.counts)) - 1
	b.counts = b.counts[:(end>>change)-newStart+1]
	b.start = newStart
	if n := len(b.counts); cap(b.counts) > 2*n && cap(b.counts) > 16 {
		// A sparse window can be twice as wide as the range left after a downscale: give the
		// spare capacity back rather than keep it for the life of the series.
		b.counts = append(make([]C, 0, n+n/4), b.counts...)
	}
}

func (b *buckets[C]) sparseDownscale(change int32) {
	w := 0
	for r, x := range b.idx {
		x >>= change
		if w > 0 && b.idx[w-1] == x {
			b.counts[w-1] += b.counts[r]
			continue
		}
		b.idx[w] = x
		b.counts[w] = b.counts[r]
		w++
	}
	b.idx = b.idx[:w]
	b.counts = b.counts[:w]
}

// Merge adds o into h, at the finer of the two scales that the budget of h allows. Buckets nest
// across scales, so the merge is exact.
func (h *Histogram) Merge(o *Histogram) {
	h.reserve(o.count)
	h.count += o.count
	h.zeroCount += o.zeroCount
	if pos, neg := o.Populated(); pos+neg == 0 {
		return
	}
	scale := o.narrow.m.scale
	if o.wide != nil {
		scale = o.wide.m.scale
	}
	h.lowerTo(scale)
	o.ForEachPositive(func(idx int32, n uint64) { h.add(false, idx, scale, n) })
	o.ForEachNegative(func(idx int32, n uint64) { h.add(true, idx, scale, n) })
}

// MergePositive adds counts[k] to the positive bucket offset+k of the given scale (an OTLP
// point's buckets). A finer h is first brought down to that scale, so that every incoming bucket
// lands in exactly one bucket of h: the merge is exact.
func (h *Histogram) MergePositive(scale, offset int32, counts []uint64) {
	var total uint64
	for _, n := range counts {
		total += n
	}
	h.reserve(total)
	h.count += total
	h.lowerTo(scale)
	for k, n := range counts {
		if n != 0 {
			h.add(false, offset+int32(k), scale, n)
		}
	}
}

// lowerTo brings h down to scale when it is finer.
func (h *Histogram) lowerTo(scale int32) {
	if h.wide != nil {
		h.wide.downscale(h.wide.m.scale - scale)
		return
	}
	h.narrow.downscale(h.narrow.m.scale - scale)
}

// add adds n to bucket idx of a scale at least as fine as h's.
func (h *Histogram) add(negative bool, idx, scale int32, n uint64) {
	if h.wide != nil {
		h.wide.add(negative, idx, scale, n)
		return
	}
	h.narrow.add(negative, idx, scale, n)
}

func (h *hist[C]) add(negative bool, idx, scale int32, n uint64) {
	b := &h.pos
	if negative {
		b = &h.neg
	}
	// The scale of h may fall while adding; shift by the current difference.
	h.incrementIndex(b, idx>>(scale-h.m.scale), n)
}

// ForEachPositive calls fn for every non-empty positive bucket at the current scale, in
// ascending index order.
func (h *Histogram) ForEachPositive(fn func(idx int32, n uint64)) {
	if h.wide != nil {
		h.wide.pos.each(fn)
		return
	}
	h.narrow.pos.each(fn)
}

// ForEachNegative is ForEachPositive for the buckets of negative values (index of |value|).
func (h *Histogram) ForEachNegative(fn func(idx int32, n uint64)) {
	if h.wide != nil {
		h.wide.neg.each(fn)
		return
	}
	h.narrow.neg.each(fn)
}

// bounds returns the lowest and highest populated index of b.
func (h *hist[C]) bounds(b *buckets[C]) (lo, hi int32, ok bool) {
	if len(b.counts) == 0 {
		return 0, 0, false
	}
	if !b.pairs {
		return b.start, b.start + int32(len(b.counts)) - 1, true
	}
	return b.idx[0], b.idx[len(b.idx)-1], true
}

// CopyTo writes the scale, zero count and buckets of h into dp, downscaled to maxScale when h
// is finer (exact: every bucket lies within one coarser bucket). OTLP buckets are a dense array,
// so the gaps of a sparse layout are written as zeros; the Prometheus remote-write exporter
// turns runs of more than two zeros back into span gaps. Count, sum, min and max are the
// caller's.
func (h *Histogram) CopyTo(dp pmetric.ExponentialHistogramDataPoint, maxScale int32) {
	dp.SetZeroCount(h.zeroCount)
	if h.wide != nil {
		h.wide.copyTo(dp, maxScale)
		return
	}
	h.narrow.copyTo(dp, maxScale)
}

func (h *hist[C]) copyTo(dp pmetric.ExponentialHistogramDataPoint, maxScale int32) {
	scale := h.scale()
	shift := int32(0)
	if scale > maxScale {
		shift = scale - maxScale
		scale = maxScale
	}
	dp.SetScale(scale)
	h.copyBuckets(&h.pos, dp.Positive(), shift)
	h.copyBuckets(&h.neg, dp.Negative(), shift)
}

func (h *hist[C]) copyBuckets(b *buckets[C], out pmetric.ExponentialHistogramDataPointBuckets, shift int32) {
	lo, hi, ok := h.bounds(b)
	if !ok {
		return
	}
	offset := lo >> shift
	out.SetOffset(offset)
	n := int((hi>>shift)-offset) + 1
	counts := make([]uint64, n)
	b.each(func(idx int32, c uint64) {
		counts[(idx>>shift)-offset] += c
	})
	out.BucketCounts().FromRaw(counts)
}
