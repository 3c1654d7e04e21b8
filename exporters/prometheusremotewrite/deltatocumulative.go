package prometheusremotewrite // import "github.com/sieveobs/sieve/exporters/prometheusremotewrite"

import (
	"container/list"
	"encoding/binary"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

const (
	reasonCapacity      = "capacity"
	reasonExpired       = "expired"
	reasonBoundsChanged = "bounds_changed"
	reasonTypeChanged   = "value_type_changed"

	// maxExpBuckets bounds each side of an accumulated exponential histogram;
	// beyond it the histogram is downscaled, like OpenTelemetry SDKs do.
	maxExpBuckets = 160
)

// expBuckets is one side of an exponential histogram in dense form.
type expBuckets struct {
	offset int32
	counts []uint64
}

type deltaEntry struct {
	key   uint64
	start pcommon.Timestamp
	last  pcommon.Timestamp
	seen  time.Time

	kind  pmetric.MetricType
	isInt bool
	i     int64
	f     float64

	count     uint64
	sum       float64
	bounds    []float64
	counts    []uint64
	scale     int32
	zeroCount uint64
	zeroThr   float64
	pos, neg  expBuckets
}

// deltaToCumulative turns delta points into the cumulative points Prometheus
// understands. It runs before the sending queue so that retries and the
// persistent queue only ever see cumulative data and a retried batch is
// never accumulated twice.
type deltaToCumulative struct {
	mu        sync.Mutex
	maxSeries int
	maxStale  time.Duration
	now       func() time.Time
	onEvict   func(reason string)
	entries   map[uint64]*list.Element
	lru       *list.List
	keyBuf    []byte
	attrKeys  []string
}

func newDeltaToCumulative(cfg DeltaToCumulativeConfig, now func() time.Time, onEvict func(string)) *deltaToCumulative {
	return &deltaToCumulative{
		maxSeries: cfg.MaxSeries,
		maxStale:  cfg.MaxStale,
		now:       now,
		onEvict:   onEvict,
		entries:   make(map[uint64]*list.Element),
		lru:       list.New(),
	}
}

func (d *deltaToCumulative) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.entries)
}

// hasDelta lets the common all-cumulative case skip locking and hashing.
func hasDelta(md pmetric.Metrics) bool {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				if isDelta(ms.At(k)) {
					return true
				}
			}
		}
	}
	return false
}

func isDelta(m pmetric.Metric) bool {
	switch m.Type() {
	case pmetric.MetricTypeSum:
		return m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityDelta
	case pmetric.MetricTypeHistogram:
		return m.Histogram().AggregationTemporality() == pmetric.AggregationTemporalityDelta
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().AggregationTemporality() == pmetric.AggregationTemporalityDelta
	}
	return false
}

// convert rewrites every delta metric of md in place. Points that arrive
// out of order are folded into the running total and removed, because
// emitting them would conflict with a later sample already sent; their
// contribution shows up in the next point of the series.
func (d *deltaToCumulative) convert(md pmetric.Metrics) {
	if !hasDelta(md) {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	d.expire(now)
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		resHash := d.hashMap(0, rm.Resource().Attributes())
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			sm := sms.At(j)
			scopeHash := d.hashStrings(resHash, sm.Scope().Name(), sm.Scope().Version())
			ms := sm.Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				if !isDelta(m) {
					continue
				}
				mono := "0"
				if m.Type() == pmetric.MetricTypeSum && m.Sum().IsMonotonic() {
					mono = "1"
				}
				mh := d.hashStrings(scopeHash, m.Name(), m.Unit(), m.Type().String(), mono)
				switch m.Type() {
				case pmetric.MetricTypeSum:
					m.Sum().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
					m.Sum().DataPoints().RemoveIf(func(dp pmetric.NumberDataPoint) bool {
						return !d.number(d.entry(d.hashMap(mh, dp.Attributes()), m.Type(), dp.StartTimestamp(), dp.Timestamp(), now), dp)
					})
				case pmetric.MetricTypeHistogram:
					m.Histogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
					m.Histogram().DataPoints().RemoveIf(func(dp pmetric.HistogramDataPoint) bool {
						return !d.histogram(d.entry(d.hashMap(mh, dp.Attributes()), m.Type(), dp.StartTimestamp(), dp.Timestamp(), now), dp)
					})
				case pmetric.MetricTypeExponentialHistogram:
					m.ExponentialHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
					m.ExponentialHistogram().DataPoints().RemoveIf(func(dp pmetric.ExponentialHistogramDataPoint) bool {
						return !d.expHistogram(d.entry(d.hashMap(mh, dp.Attributes()), m.Type(), dp.StartTimestamp(), dp.Timestamp(), now), dp)
					})
				}
			}
		}
	}
}

func (d *deltaToCumulative) expire(now time.Time) {
	for e := d.lru.Front(); e != nil; e = d.lru.Front() {
		de := e.Value.(*deltaEntry)
		if now.Sub(de.seen) <= d.maxStale {
			return
		}
		d.remove(e, reasonExpired)
	}
}

func (d *deltaToCumulative) remove(e *list.Element, reason string) {
	de := e.Value.(*deltaEntry)
	d.lru.Remove(e)
	delete(d.entries, de.key)
	d.onEvict(reason)
}

func (d *deltaToCumulative) entry(key uint64, kind pmetric.MetricType, start, ts pcommon.Timestamp, now time.Time) *deltaEntry {
	if e, ok := d.entries[key]; ok {
		de := e.Value.(*deltaEntry)
		if de.kind == kind {
			de.seen = now
			d.lru.MoveToBack(e)
			return de
		}
		d.remove(e, reasonTypeChanged)
	}
	if len(d.entries) >= d.maxSeries {
		d.remove(d.lru.Front(), reasonCapacity)
	}
	if start == 0 || start > ts {
		start = ts
	}
	de := &deltaEntry{key: key, kind: kind, start: start, seen: now}
	d.entries[key] = d.lru.PushBack(de)
	return de
}

// restart begins a new cumulative run for de with dp as its first point.
func (de *deltaEntry) restart(start, ts pcommon.Timestamp) {
	*de = deltaEntry{key: de.key, kind: de.kind, seen: de.seen, start: start}
	if de.start == 0 || de.start > ts {
		de.start = ts
	}
}

// advance records ts and reports whether the point is newer than the
// last one emitted for the series.
func (de *deltaEntry) advance(ts pcommon.Timestamp) bool {
	if de.last != 0 && ts <= de.last {
		return false
	}
	de.last = ts
	return true
}

func (d *deltaToCumulative) number(de *deltaEntry, dp pmetric.NumberDataPoint) bool {
	isInt := dp.ValueType() == pmetric.NumberDataPointValueTypeInt
	if de.last != 0 && de.isInt != isInt {
		d.onEvict(reasonTypeChanged)
		de.restart(dp.StartTimestamp(), dp.Timestamp())
	}
	de.isInt = isInt
	if isInt {
		de.i += dp.IntValue()
	} else {
		de.f += dp.DoubleValue()
	}
	if !de.advance(dp.Timestamp()) {
		return false
	}
	dp.SetStartTimestamp(de.start)
	if isInt {
		dp.SetIntValue(de.i)
	} else {
		dp.SetDoubleValue(de.f)
	}
	return true
}

func (d *deltaToCumulative) histogram(de *deltaEntry, dp pmetric.HistogramDataPoint) bool {
	bounds := dp.ExplicitBounds().AsRaw()
	if de.last != 0 && (!slices.Equal(bounds, de.bounds) || len(de.counts) != dp.BucketCounts().Len()) {
		d.onEvict(reasonBoundsChanged)
		de.restart(dp.StartTimestamp(), dp.Timestamp())
	}
	if de.counts == nil || len(de.counts) != dp.BucketCounts().Len() {
		de.bounds = slices.Clone(bounds)
		de.counts = make([]uint64, dp.BucketCounts().Len())
	}
	for i := range de.counts {
		de.counts[i] += dp.BucketCounts().At(i)
	}
	de.count += dp.Count()
	if dp.HasSum() {
		de.sum += dp.Sum()
	}
	if !de.advance(dp.Timestamp()) {
		return false
	}
	dp.SetStartTimestamp(de.start)
	dp.BucketCounts().FromRaw(de.counts)
	dp.SetCount(de.count)
	if dp.HasSum() {
		dp.SetSum(de.sum)
	}
	// Min and max of one interval are not the min and max of the run.
	dp.RemoveMin()
	dp.RemoveMax()
	return true
}

func (d *deltaToCumulative) expHistogram(de *deltaEntry, dp pmetric.ExponentialHistogramDataPoint) bool {
	if de.last == 0 && de.pos.counts == nil && de.neg.counts == nil && de.count == 0 {
		de.scale = dp.Scale()
	}
	target := min(de.scale, dp.Scale())
	pos := downscale(expBuckets{dp.Positive().Offset(), dp.Positive().BucketCounts().AsRaw()}, int64(dp.Scale())-int64(target))
	neg := downscale(expBuckets{dp.Negative().Offset(), dp.Negative().BucketCounts().AsRaw()}, int64(dp.Scale())-int64(target))
	de.pos = downscale(de.pos, int64(de.scale)-int64(target))
	de.neg = downscale(de.neg, int64(de.scale)-int64(target))
	de.scale = target
	// Lower the scale until the union of both runs fits, before allocating
	// it: far-apart indexes would otherwise need a huge dense slice.
	for unionLen(de.pos, pos) > maxExpBuckets || unionLen(de.neg, neg) > maxExpBuckets {
		de.pos, de.neg = downscale(de.pos, 1), downscale(de.neg, 1)
		pos, neg = downscale(pos, 1), downscale(neg, 1)
		de.scale--
	}
	de.pos = addBuckets(de.pos, pos)
	de.neg = addBuckets(de.neg, neg)
	de.zeroCount += dp.ZeroCount()
	de.zeroThr = math.Max(de.zeroThr, dp.ZeroThreshold())
	de.count += dp.Count()
	if dp.HasSum() {
		de.sum += dp.Sum()
	}
	if !de.advance(dp.Timestamp()) {
		return false
	}
	dp.SetStartTimestamp(de.start)
	dp.SetScale(de.scale)
	dp.SetCount(de.count)
	dp.SetZeroCount(de.zeroCount)
	dp.SetZeroThreshold(de.zeroThr)
	if dp.HasSum() {
		dp.SetSum(de.sum)
	}
	dp.Positive().SetOffset(de.pos.offset)
	dp.Positive().BucketCounts().FromRaw(de.pos.counts)
	dp.Negative().SetOffset(de.neg.offset)
	dp.Negative().BucketCounts().FromRaw(de.neg.counts)
	dp.RemoveMin()
	dp.RemoveMax()
	return true
}

// bounds returns the first and last index of b, computed in int64 so that
// offsets near the int32 limits cannot overflow.
func (b expBuckets) bounds() (first, last int64) {
	return int64(b.offset), int64(b.offset) + int64(len(b.counts)) - 1
}

func unionLen(a, b expBuckets) int64 {
	switch {
	case len(a.counts) == 0 && len(b.counts) == 0:
		return 0
	case len(a.counts) == 0:
		f, l := b.bounds()
		return l - f + 1
	case len(b.counts) == 0:
		f, l := a.bounds()
		return l - f + 1
	}
	af, al := a.bounds()
	bf, bl := b.bounds()
	return max(al, bl) - min(af, bf) + 1
}

// downscale merges buckets so that the histogram is expressed at a scale
// lower by `by`. It always returns a fresh slice so the result never
// aliases pdata-owned memory.
func downscale(b expBuckets, by int64) expBuckets {
	by = min(max(by, 0), 63)
	if len(b.counts) == 0 {
		return expBuckets{offset: int32(int64(b.offset) >> by)}
	}
	if by == 0 {
		return expBuckets{offset: b.offset, counts: slices.Clone(b.counts)}
	}
	first, last := b.bounds()
	first, last = first>>by, last>>by
	out := make([]uint64, last-first+1)
	for i, c := range b.counts {
		out[((int64(b.offset)+int64(i))>>by)-first] += c
	}
	return expBuckets{offset: int32(first), counts: out}
}

// addBuckets sums two runs whose union the caller has bounded.
func addBuckets(a, b expBuckets) expBuckets {
	switch {
	case len(b.counts) == 0:
		return a
	case len(a.counts) == 0:
		return b
	}
	af, al := a.bounds()
	bf, bl := b.bounds()
	first := min(af, bf)
	out := make([]uint64, max(al, bl)-first+1)
	for i, c := range a.counts {
		out[af-first+int64(i)] += c
	}
	for i, c := range b.counts {
		out[bf-first+int64(i)] += c
	}
	return expBuckets{offset: int32(first), counts: out}
}

func (d *deltaToCumulative) hashStrings(seed uint64, ss ...string) uint64 {
	buf := binary.LittleEndian.AppendUint64(d.keyBuf[:0], seed)
	for _, s := range ss {
		buf = append(buf, s...)
		buf = append(buf, 0xff)
	}
	d.keyBuf = buf
	return xxhash.Sum64(buf)
}

// hashMap hashes attributes independently of their order.
func (d *deltaToCumulative) hashMap(seed uint64, m pcommon.Map) uint64 {
	keys := d.attrKeys[:0]
	for k := range m.All() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	buf := binary.LittleEndian.AppendUint64(d.keyBuf[:0], seed)
	for _, k := range keys {
		v, _ := m.Get(k)
		buf = append(buf, k...)
		buf = append(buf, 0xfe, byte(v.Type()))
		buf = append(buf, v.AsString()...)
		buf = append(buf, 0xff)
	}
	d.attrKeys = keys
	d.keyBuf = buf
	return xxhash.Sum64(buf)
}
