package finehistogram

// Faithful reimplementations of the quantile functions Prometheus applies in PromQL's
// histogram_quantile, following prometheus/prometheus@v0.313.2 promql/quantile.go:
//   - bucketQuantile                       ← promql.BucketQuantile (classic histograms)
//   - coalesceBuckets                      ← promql.coalesceBuckets
//   - ensureMonotonicAndIgnoreSmallDeltas  ← promql.ensureMonotonicAndIgnoreSmallDeltas
//   - almostEqual                          ← util/almost.Equal
//   - histogramQuantile                    ← promql.HistogramQuantile (native histograms,
//     exponential schemas), iterating buckets like FloatHistogram.AllBucketIterator and
//     AllReverseBucketIterator
// and of the OTLP exponential → native conversion done by the remote-write translator
// (scale capped at 8 by downscaling, bucket index shifted by one).

import (
	"math"
	"slices"
	"sort"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

const smallDeltaTolerance = 1e-12

type classicBucket struct {
	UpperBound float64
	Count      float64 // cumulative, as in the le-labelled series
}

func bucketQuantile(q float64, buckets []classicBucket) float64 {
	switch {
	case math.IsNaN(q):
		return math.NaN()
	case q < 0:
		return math.Inf(-1)
	case q > 1:
		return math.Inf(+1)
	}
	slices.SortFunc(buckets, func(a, b classicBucket) int {
		if a.UpperBound < b.UpperBound {
			return -1
		}
		if a.UpperBound > b.UpperBound {
			return +1
		}
		return 0
	})
	if !math.IsInf(buckets[len(buckets)-1].UpperBound, +1) {
		return math.NaN()
	}
	buckets = coalesceBuckets(buckets)
	ensureMonotonicAndIgnoreSmallDeltas(buckets, smallDeltaTolerance)
	if len(buckets) < 2 {
		return math.NaN()
	}
	observations := buckets[len(buckets)-1].Count
	if observations == 0 {
		return math.NaN()
	}
	rank := q * observations
	b := sort.Search(len(buckets)-1, func(i int) bool { return buckets[i].Count >= rank })
	switch {
	case b == len(buckets)-1:
		return buckets[len(buckets)-2].UpperBound
	case b == 0 && buckets[0].UpperBound <= 0:
		return buckets[0].UpperBound
	default:
		var (
			bucketStart float64
			bucketEnd   = buckets[b].UpperBound
			count       = buckets[b].Count
		)
		if b > 0 {
			bucketStart = buckets[b-1].UpperBound
			count -= buckets[b-1].Count
			rank -= buckets[b-1].Count
		}
		return bucketStart + (bucketEnd-bucketStart)*(rank/count)
	}
}

func coalesceBuckets(buckets []classicBucket) []classicBucket {
	last := buckets[0]
	i := 0
	for _, b := range buckets[1:] {
		if b.UpperBound == last.UpperBound {
			last.Count += b.Count
		} else {
			buckets[i] = last
			last = b
			i++
		}
	}
	buckets[i] = last
	return buckets[:i+1]
}

func ensureMonotonicAndIgnoreSmallDeltas(buckets []classicBucket, tolerance float64) {
	prev := buckets[0].Count
	for i := 1; i < len(buckets); i++ {
		curr := buckets[i].Count
		if curr == prev {
			continue
		}
		if almostEqual(prev, curr, tolerance) {
			buckets[i].Count = prev
			continue
		}
		if curr < prev {
			buckets[i].Count = prev
			continue
		}
		prev = curr
	}
}

var minNormal = math.Float64frombits(0x0010000000000000)

func almostEqual(a, b, epsilon float64) bool {
	if math.IsNaN(a) && math.IsNaN(b) {
		return true
	}
	if a == b {
		return true
	}
	absSum := math.Abs(a) + math.Abs(b)
	diff := math.Abs(a - b)
	if a == 0 || b == 0 || absSum < minNormal {
		return diff < epsilon*minNormal
	}
	return diff/math.Min(absSum, math.MaxFloat64) < epsilon
}

type nativeBucket struct {
	Lower, Upper, Count float64
}

// nativeHistogram is the part of a Prometheus FloatHistogram with an exponential schema that
// quantiles read; latencies have no negative buckets.
type nativeHistogram struct {
	Schema        int32
	ZeroThreshold float64
	ZeroCount     float64
	Count         float64
	Sum           float64
	Positive      []nativeBucket // ascending, empty buckets omitted
}

// forward mirrors AllBucketIterator (negative, zero, positive ascending) and reverse mirrors
// AllReverseBucketIterator (positive descending, zero, negative).
func (h *nativeHistogram) buckets(forward bool) []nativeBucket {
	out := make([]nativeBucket, 0, len(h.Positive)+1)
	zero := nativeBucket{Lower: -h.ZeroThreshold, Upper: h.ZeroThreshold, Count: h.ZeroCount}
	clamp := func(b nativeBucket) nativeBucket {
		if b.Lower > 0 && b.Lower < h.ZeroThreshold {
			b.Lower = h.ZeroThreshold
		}
		return b
	}
	if forward {
		if h.ZeroCount > 0 {
			out = append(out, zero)
		}
		for _, b := range h.Positive {
			out = append(out, clamp(b))
		}
		return out
	}
	for i := len(h.Positive) - 1; i >= 0; i-- {
		out = append(out, clamp(h.Positive[i]))
	}
	if h.ZeroCount > 0 {
		out = append(out, zero)
	}
	return out
}

func histogramQuantile(q float64, h *nativeHistogram) float64 {
	if q < 0 {
		return math.Inf(-1)
	}
	if q > 1 {
		return math.Inf(+1)
	}
	if h.Count == 0 || math.IsNaN(q) {
		return math.NaN()
	}
	var (
		bucket nativeBucket
		count  float64
		rank   float64
		it     []nativeBucket
	)
	forward := math.IsNaN(h.Sum) || q < 0.5
	if forward {
		it = h.buckets(true)
		rank = q * h.Count
	} else {
		it = h.buckets(false)
		rank = (1 - q) * h.Count
	}
	for _, b := range it {
		bucket = b
		if bucket.Count == 0 {
			continue
		}
		count += bucket.Count
		if count >= rank {
			break
		}
	}
	if bucket.Lower < 0 && bucket.Upper > 0 && len(h.Positive) > 0 {
		// In the zero bucket with only positive buckets: 0 is the lower bound.
		bucket.Lower = 0
	}
	if count > h.Count {
		count = h.Count
	}
	if count < rank {
		if math.IsNaN(h.Sum) {
			return math.NaN()
		}
		return bucket.Upper
	}
	if forward {
		rank -= count - bucket.Count
	} else {
		rank = count - rank
	}
	fraction := rank / bucket.Count
	if bucket.Lower <= 0 && bucket.Upper >= 0 {
		return bucket.Lower + (bucket.Upper-bucket.Lower)*fraction
	}
	logLower := math.Log2(math.Abs(bucket.Lower))
	logUpper := math.Log2(math.Abs(bucket.Upper))
	return math.Exp2(logLower + (logUpper-logLower)*fraction)
}

// exponentialBound mirrors getBoundExponential: the upper bound of native bucket idx.
func exponentialBound(idx, schema int32) float64 {
	if schema < 0 {
		return math.Ldexp(1, int(idx)<<-schema)
	}
	fracIdx := idx & ((1 << schema) - 1)
	frac := math.Exp2(float64(fracIdx)/float64(int32(1)<<schema)) / 2
	exp := (int(idx) >> schema) + 1
	return math.Ldexp(frac, exp)
}

// classicFromOTel turns an explicit-bucket point into the cumulative le buckets Prometheus stores.
func classicFromOTel(dp pmetric.HistogramDataPoint) []classicBucket {
	out := make([]classicBucket, 0, dp.BucketCounts().Len())
	var cum float64
	for i := 0; i < dp.BucketCounts().Len(); i++ {
		cum += float64(dp.BucketCounts().At(i))
		ub := math.Inf(+1)
		if i < dp.ExplicitBounds().Len() {
			ub = dp.ExplicitBounds().At(i)
		}
		out = append(out, classicBucket{UpperBound: ub, Count: cum})
	}
	return out
}

// maxNativeSchema is the finest schema Prometheus stores; finer OTLP points are downscaled.
const maxNativeSchema = 8

// defaultZeroThreshold is what the remote-write translator sets for a zero threshold of 0.
const defaultZeroThreshold = 1e-128

func nativeFromOTel(dp pmetric.ExponentialHistogramDataPoint) *nativeHistogram {
	scale := dp.Scale()
	down := int32(0)
	if scale > maxNativeSchema {
		down = scale - maxNativeSchema
		scale = maxNativeSchema
	}
	h := &nativeHistogram{
		Schema:        scale,
		ZeroThreshold: defaultZeroThreshold,
		ZeroCount:     float64(dp.ZeroCount()),
		Count:         float64(dp.Count()),
		Sum:           dp.Sum(),
	}
	if dp.ZeroThreshold() > 0 {
		h.ZeroThreshold = dp.ZeroThreshold()
	}
	counts := map[int32]float64{}
	var idxs []int32
	for i := 0; i < dp.Positive().BucketCounts().Len(); i++ {
		n := dp.Positive().BucketCounts().At(i)
		if n == 0 {
			continue
		}
		idx := ((dp.Positive().Offset() + int32(i)) >> down) + 1
		if _, ok := counts[idx]; !ok {
			idxs = append(idxs, idx)
		}
		counts[idx] += float64(n)
	}
	slices.Sort(idxs)
	for _, idx := range idxs {
		h.Positive = append(h.Positive, nativeBucket{
			Lower: exponentialBound(idx-1, scale),
			Upper: exponentialBound(idx, scale),
			Count: counts[idx],
		})
	}
	return h
}
