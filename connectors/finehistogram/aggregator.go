package finehistogram // import "github.com/sieveobs/sieve/connectors/finehistogram"

import (
	"math"
	"sort"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/sieveobs/sieve/connectors/finehistogram/internal/expohist"
)

// overflowAttr marks the series that absorbs observations past the cardinality limit; the name
// follows the OpenTelemetry SDK convention so dashboards can spot it.
const overflowAttr = "otel.metric.overflow"

type exemplar struct {
	value   float64
	ts      pcommon.Timestamp
	traceID pcommon.TraceID
	spanID  pcommon.SpanID
	// heldSince is the flush that first held the exemplar back for its trace's decision; zero
	// while it was never held.
	heldSince pcommon.Timestamp
}

// exemplarVerdict says whether an exemplar may be written now, and whether one whose trace is
// not decided yet is worth holding for a later flush.
type exemplarVerdict func(id pcommon.TraceID, service string) (emit, wait bool)

// series is one histogram stream. Everything the hot path touches is preallocated at creation
// so that recording an observation never allocates.
type series struct {
	attrs    pcommon.Map
	start    pcommon.Timestamp
	lastSeen time.Time

	count    uint64
	sum      float64
	min, max float64

	m       *metricAgg
	buckets []uint64            // explicit: len(bounds)+1
	expo    *expohist.Histogram // exponential

	// carry is the fractional part of adjusted counts not yet counted: histogram counts are
	// integers, and carrying the remainder keeps the totals unbiased (3⅓ per item at 30%).
	carry float64

	exemplars []exemplar // ring of cap max_per_data_point
	exNext    int
	exLen     int
}

// metricAgg holds the series of one metric name.
type metricAgg struct {
	name     string
	series   map[string]*series
	overflow *series
	// bounds are the explicit bounds of every series of the metric: the configured ones, or
	// those derived from the warm-up once it completes.
	bounds []float64
	// warming is true while observations are buffered to derive the bounds from.
	warming bool
	pending []pendingObservation
}

type pendingObservation struct {
	s      *series
	value  float64
	weight uint64
}

// aggregator owns the histogram state. It is not safe for concurrent use: the connector
// serialises access with its mutex.
type aggregator struct {
	kind        string
	bounds      []float64
	layout      expohist.Layout
	maxSize     int32
	maxScale    int32
	delta       bool
	limit       int
	expiration  time.Duration
	exemplarCap int
	// exemplarCheck, when set, keeps exemplars of traces that were not kept out of the output.
	exemplarCheck exemplarVerdict
	// exemplarWait bounds how long an undecided exemplar is held across flushes.
	exemplarWait time.Duration
	carry        []exemplar
	warmup       int

	// instanceAttr and instanceID name the producing collector on every emitted point; empty
	// leaves the attribute out.
	instanceAttr, instanceID string

	metrics   map[string]*metricAgg
	lastFlush pcommon.Timestamp
	active    *atomic.Int64

	// expired collects per-metric expiry counts between flush and the telemetry update.
	expired map[string]int64
}

func newAggregator(cfg *Config, now time.Time, active *atomic.Int64) *aggregator {
	a := &aggregator{
		kind:       cfg.Histogram.Kind,
		bounds:     cfg.Histogram.Explicit.Bounds,
		maxSize:    cfg.Histogram.Exponential.MaxSize,
		maxScale:   cfg.Histogram.Exponential.MaxScale,
		delta:      cfg.AggregationTemporality == TemporalityDelta,
		limit:      cfg.CardinalityLimit,
		expiration: cfg.SeriesExpiration,
		metrics:    map[string]*metricAgg{},
		lastFlush:  pcommon.NewTimestampFromTime(now),
		active:     active,
		expired:    map[string]int64{},
	}
	if a.kind == KindExplicit {
		a.warmup = cfg.Histogram.Explicit.WarmupObservations
	}
	if cfg.Histogram.Exponential.Layout == LayoutSparse {
		a.layout = expohist.Sparse
	}
	if cfg.Exemplars.Enabled {
		a.exemplarCap = cfg.Exemplars.MaxPerDataPoint
		a.exemplarWait = cfg.Exemplars.Wait
	}
	return a
}

// metric returns the state of a metric fed by observations (spans, log records), whose bounds
// may come from a warm-up.
func (a *aggregator) metric(name string) *metricAgg {
	m, ok := a.metrics[name]
	if !ok {
		m = &metricAgg{name: name, series: map[string]*series{}, bounds: a.bounds}
		if a.warmup > 0 {
			m.warming = true
			m.pending = make([]pendingObservation, 0, a.warmup)
		}
		a.metrics[name] = m
	}
	return m
}

// mergedMetric returns the state of a metric fed by agents' histograms, which must keep the
// configured bounds so that agents and gateway agree.
func (a *aggregator) mergedMetric(name string) *metricAgg {
	m, ok := a.metrics[name]
	if !ok {
		m = &metricAgg{name: name, series: map[string]*series{}, bounds: a.bounds}
		a.metrics[name] = m
	}
	return m
}

func (a *aggregator) newSeries(m *metricAgg, now time.Time) *series {
	s := &series{
		m:        m,
		attrs:    pcommon.NewMap(),
		start:    pcommon.NewTimestampFromTime(now),
		lastSeen: now,
	}
	if a.kind == KindExplicit {
		s.buckets = make([]uint64, len(a.bounds)+1)
	} else {
		s.expo = new(expohist.Histogram)
		s.expo.Init(a.layout, a.maxSize)
	}
	if a.exemplarCap > 0 {
		s.exemplars = make([]exemplar, a.exemplarCap)
	}
	a.active.Add(1)
	return s
}

// lookup returns the series for key, or nil when the caller must call create.
func (m *metricAgg) lookup(key []byte) *series {
	return m.series[string(key)]
}

// create adds the series for key, or returns the overflow series when the limit is reached.
// fresh tells the caller to fill the attributes of a new regular series.
func (a *aggregator) create(m *metricAgg, key []byte, now time.Time) (s *series, fresh, overflowed bool) {
	if a.limit > 0 && len(m.series) >= a.limit {
		if m.overflow == nil {
			m.overflow = a.newSeries(m, now)
			m.overflow.attrs.PutBool(overflowAttr, true)
		}
		return m.overflow, false, true
	}
	s = a.newSeries(m, now)
	m.series[string(key)] = s
	return s, true, false
}

// record adds one observation of value seconds with the given weight.
func (a *aggregator) record(s *series, value float64, weight uint64, now time.Time) {
	s.lastSeen = now
	if s.count == 0 {
		s.min, s.max = value, value
	} else {
		if value < s.min {
			s.min = value
		}
		if value > s.max {
			s.max = value
		}
	}
	s.count += weight
	s.sum += value * float64(weight)
	if s.buckets != nil {
		if s.m.warming {
			s.m.pending = append(s.m.pending, pendingObservation{s: s, value: value, weight: weight})
			if len(s.m.pending) == cap(s.m.pending) {
				a.endWarmup(s.m)
			}
			return
		}
		s.buckets[bucketIndex(s.m.bounds, value)] += weight
		return
	}
	s.expo.UpdateByIncr(value, weight)
}

// minWarmup is the fewest observations bounds are derived from; with fewer at the first flush
// the configured bounds are kept.
const minWarmup = 100

// endWarmup derives the metric's bounds from the buffered observations and replays them.
func (a *aggregator) endWarmup(m *metricAgg) {
	values := make([]float64, len(m.pending))
	for i, p := range m.pending {
		values[i] = p.value
	}
	if len(values) >= minWarmup {
		if b, ok := deriveBounds(values, len(a.bounds)); ok {
			m.bounds = b
		}
	}
	m.warming = false
	for _, p := range m.pending {
		p.s.buckets[bucketIndex(m.bounds, p.value)] += p.weight
	}
	m.pending = nil
}

// deriveBounds returns n log-spaced bounds covering the warm-up range: from its 0.5th percentile
// (what lies below only moves quantiles under P1) to twice its maximum (headroom for a tail the
// warm-up did not see), rounded to 3 significant digits so that le labels stay readable.
func deriveBounds(values []float64, n int) ([]float64, bool) {
	sort.Float64s(values)
	lo := values[len(values)/200]
	hi := 2 * values[len(values)-1]
	if !(lo > 0) || !(hi > lo) || n < 2 {
		return nil, false
	}
	ratio := math.Pow(hi/lo, 1/float64(n-1))
	bounds := make([]float64, 0, n)
	for i := 0; i < n; i++ {
		b := roundSignificant(lo*math.Pow(ratio, float64(i)), 3)
		if len(bounds) > 0 && b <= bounds[len(bounds)-1] {
			// Rounding collapsed two bounds: the range is too narrow for 3 digits.
			return nil, false
		}
		bounds = append(bounds, b)
	}
	return bounds, true
}

func roundSignificant(v float64, digits int) float64 {
	if v == 0 {
		return 0
	}
	p := math.Pow(10, float64(digits)-math.Ceil(math.Log10(math.Abs(v))))
	return math.Round(v*p) / p
}

// integerWeight turns an adjusted count (≥ 1) into this observation's integer increment.
func (s *series) integerWeight(ac float64) uint64 {
	if ac == 1 {
		return 1
	}
	x := ac + s.carry
	w := uint64(x)
	s.carry = x - float64(w)
	return w
}

// bucketIndex returns the index of the bucket (bounds[i-1], bounds[i]] holding v; upper bounds
// are inclusive as in OTLP and Prometheus.
func bucketIndex(bounds []float64, v float64) int {
	lo, hi := 0, len(bounds)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if bounds[mid] < v {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

func (s *series) addExemplar(e exemplar) {
	if len(s.exemplars) == 0 {
		return
	}
	s.exemplars[s.exNext] = e
	s.exNext = (s.exNext + 1) % len(s.exemplars)
	if s.exLen < len(s.exemplars) {
		s.exLen++
	}
}

func (s *series) reset() {
	s.count, s.sum, s.min, s.max = 0, 0, 0, 0
	for i := range s.buckets {
		s.buckets[i] = 0
	}
	if s.expo != nil {
		s.expo.Clear()
	}
	s.exNext, s.exLen = 0, 0
}

// output groups emitted points by service, so that exporters deriving job/instance from the
// resource (as the Prometheus translators do) label them like the services' own metrics.
type output struct {
	md        pmetric.Metrics
	scope     string
	scopes    map[string]pmetric.ScopeMetrics
	histos    map[[2]string]pmetric.Metric
	temporal  pmetric.AggregationTemporality
	exponents bool
}

func (o *output) metric(svc, name string) pmetric.Metric {
	if m, ok := o.histos[[2]string{svc, name}]; ok {
		return m
	}
	sm, ok := o.scopes[svc]
	if !ok {
		rm := o.md.ResourceMetrics().AppendEmpty()
		if svc != "" {
			rm.Resource().Attributes().PutStr(serviceNameKey, svc)
		}
		sm = rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(o.scope)
		o.scopes[svc] = sm
	}
	m := sm.Metrics().AppendEmpty()
	m.SetName(name)
	m.SetUnit("s")
	m.SetDescription("Duration distribution, in seconds.")
	if o.exponents {
		m.SetEmptyExponentialHistogram().SetAggregationTemporality(o.temporal)
	} else {
		m.SetEmptyHistogram().SetAggregationTemporality(o.temporal)
	}
	o.histos[[2]string{svc, name}] = m
	return m
}

// flush writes every series into a new pmetric.Metrics, applies delta resets and expiry.
func (a *aggregator) flush(now time.Time, scope string) pmetric.Metrics {
	out := &output{
		md:        pmetric.NewMetrics(),
		scope:     scope,
		scopes:    map[string]pmetric.ScopeMetrics{},
		histos:    map[[2]string]pmetric.Metric{},
		temporal:  a.temporality(),
		exponents: a.kind == KindExponential,
	}
	ts := pcommon.NewTimestampFromTime(now)

	names := make([]string, 0, len(a.metrics))
	for n := range a.metrics {
		names = append(names, n)
	}
	// Sorted output keeps flushes deterministic for tests and for diffing dumps.
	sort.Strings(names)
	for _, name := range names {
		m := a.metrics[name]
		if m.warming {
			// A quiet metric must not hold its data back forever.
			a.endWarmup(m)
		}
		keys := make([]string, 0, len(m.series))
		for k, s := range m.series {
			if a.expiration > 0 && now.Sub(s.lastSeen) >= a.expiration {
				delete(m.series, k)
				a.active.Add(-1)
				a.expired[name]++
				continue
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if m.overflow != nil && a.expiration > 0 && now.Sub(m.overflow.lastSeen) >= a.expiration {
			m.overflow = nil
			a.active.Add(-1)
			a.expired[name]++
		}
		if len(keys) == 0 && m.overflow == nil {
			delete(a.metrics, name)
			continue
		}
		all := make([]*series, 0, len(keys)+1)
		for _, k := range keys {
			all = append(all, m.series[k])
		}
		if m.overflow != nil {
			all = append(all, m.overflow)
		}
		for _, s := range all {
			if !(a.delta && s.count == 0) {
				a.emit(out, name, s, ts)
			}
			if a.delta {
				s.reset()
			} else {
				s.exNext, s.exLen = 0, 0
			}
			for _, e := range a.carry {
				s.addExemplar(e)
			}
			a.carry = a.carry[:0]
		}
	}
	a.lastFlush = ts
	return out.md
}

func (a *aggregator) emit(out *output, name string, s *series, ts pcommon.Timestamp) {
	svc := ""
	if v, ok := s.attrs.Get(serviceNameKey); ok {
		svc = v.AsString()
	}
	metric := out.metric(svc, name)
	if a.kind == KindExplicit {
		dp := metric.Histogram().DataPoints().AppendEmpty()
		a.fillCommon(s, ts, dp.Attributes(), dp.SetStartTimestamp, dp.SetTimestamp, dp.Exemplars())
		dp.SetCount(s.count)
		dp.SetSum(s.sum)
		if s.count > 0 {
			dp.SetMin(s.min)
			dp.SetMax(s.max)
		}
		dp.ExplicitBounds().FromRaw(s.m.bounds)
		dp.BucketCounts().FromRaw(s.buckets)
		return
	}
	dp := metric.ExponentialHistogram().DataPoints().AppendEmpty()
	a.fillCommon(s, ts, dp.Attributes(), dp.SetStartTimestamp, dp.SetTimestamp, dp.Exemplars())
	dp.SetCount(s.count)
	dp.SetSum(s.sum)
	if s.count > 0 {
		dp.SetMin(s.min)
		dp.SetMax(s.max)
	}
	s.expo.CopyTo(dp, a.maxScale)
}

func (a *aggregator) temporality() pmetric.AggregationTemporality {
	if a.delta {
		return pmetric.AggregationTemporalityDelta
	}
	return pmetric.AggregationTemporalityCumulative
}

func (a *aggregator) fillCommon(s *series, ts pcommon.Timestamp, attrs pcommon.Map,
	setStart, setTS func(pcommon.Timestamp), exs pmetric.ExemplarSlice,
) {
	s.attrs.CopyTo(attrs)
	if a.instanceAttr != "" && a.instanceID != "" {
		attrs.PutStr(a.instanceAttr, a.instanceID)
	}
	start := s.start
	// A delta point covers only the interval since the previous flush.
	if a.delta && a.lastFlush > start {
		start = a.lastFlush
	}
	setStart(start)
	setTS(ts)
	// Oldest first: once the ring has wrapped, the oldest exemplar sits at exNext.
	first := 0
	if s.exLen == len(s.exemplars) {
		first = s.exNext
	}
	svc := ""
	if a.exemplarCheck != nil {
		if v, ok := s.attrs.Get(serviceNameKey); ok {
			svc = v.AsString()
		}
	}
	for i := 0; i < s.exLen; i++ {
		e := s.exemplars[(first+i)%len(s.exemplars)]
		if a.exemplarCheck != nil {
			emit, wait := a.exemplarCheck(e.traceID, svc)
			if !emit {
				if wait {
					if e.heldSince == 0 {
						e.heldSince = ts
					}
					if time.Duration(ts-e.heldSince) < a.exemplarWait {
						a.carry = append(a.carry, e)
					}
				}
				continue
			}
		}
		ex := exs.AppendEmpty()
		ex.SetDoubleValue(e.value)
		ex.SetTimestamp(e.ts)
		ex.SetTraceID(e.traceID)
		ex.SetSpanID(e.spanID)
	}
}

// validDuration rejects values a latency histogram cannot hold.
func validDuration(v float64) bool {
	return v >= 0 && !math.IsInf(v, 0) && !math.IsNaN(v)
}
