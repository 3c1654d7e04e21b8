package prometheusremotewrite // import "github.com/sieveobs/sieve/exporters/prometheusremotewrite"

import (
	"math"

	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// nativeHistogram converts an exponential histogram data point into a
// Prometheus native histogram. The OpenTelemetry scale is the Prometheus
// schema; bucket i of OpenTelemetry covers (base^i, base^(i+1)] while bucket
// i of Prometheus covers (base^(i-1), base^i], hence the +1 on indexes.
func nativeHistogram(dp pmetric.ExponentialHistogramDataPoint) (prompb.Histogram, bool) {
	scale := dp.Scale()
	if scale < minNativeSchema || !indexesFit(dp.Positive()) || !indexesFit(dp.Negative()) {
		return prompb.Histogram{}, false
	}
	var shift int32
	if scale > maxNativeSchema {
		shift = scale - maxNativeSchema
		scale = maxNativeSchema
	}
	h := prompb.Histogram{
		Count:         &prompb.Histogram_CountInt{CountInt: dp.Count()},
		Schema:        scale,
		ZeroThreshold: dp.ZeroThreshold(),
		ZeroCount:     &prompb.Histogram_ZeroCountInt{ZeroCountInt: dp.ZeroCount()},
		Timestamp:     toMillis(dp.Timestamp()),
	}
	if dp.HasSum() {
		h.Sum = cleanValue(dp.Sum())
	}
	h.PositiveSpans, h.PositiveDeltas = bucketsToSpans(dp.Positive().Offset(), dp.Positive().BucketCounts(), shift)
	h.NegativeSpans, h.NegativeDeltas = bucketsToSpans(dp.Negative().Offset(), dp.Negative().BucketCounts(), shift)
	return h, true
}

// indexesFit reports whether every bucket index, shifted by one for
// Prometheus, stays within int32.
func indexesFit(b pmetric.ExponentialHistogramDataPointBuckets) bool {
	return int64(b.Offset())+int64(b.BucketCounts().Len())+1 <= math.MaxInt32
}

// bucketsToSpans encodes dense OpenTelemetry bucket counts as Prometheus
// spans and deltas, merging 2^shift neighbouring buckets when the scale had
// to be lowered. Short runs of empty buckets stay inside a span because a
// new span costs more bytes than up to two zero deltas.
func bucketsToSpans(offset int32, counts pcommon.UInt64Slice, shift int32) ([]prompb.BucketSpan, []int64) {
	var (
		spans   []prompb.BucketSpan
		deltas  []int64
		prevIdx int32
		prevCnt int64
		have    bool
		curIdx  int32
		curCnt  uint64
		started bool
	)
	emit := func(idx int32, c uint64) {
		if c == 0 {
			return
		}
		switch {
		case !have:
			spans = append(spans, prompb.BucketSpan{Offset: idx, Length: 1})
		case idx-prevIdx-1 <= 2:
			for gap := idx - prevIdx - 1; gap > 0; gap-- {
				deltas = append(deltas, -prevCnt)
				prevCnt = 0
				spans[len(spans)-1].Length++
			}
			spans[len(spans)-1].Length++
		default:
			spans = append(spans, prompb.BucketSpan{Offset: idx - prevIdx - 1, Length: 1})
		}
		deltas = append(deltas, int64(c)-prevCnt)
		prevCnt = int64(c)
		prevIdx = idx
		have = true
	}
	for i := 0; i < counts.Len(); i++ {
		// Arithmetic shift floors, which is the correct downscaling of an
		// exponential bucket index for negative indexes too.
		idx := ((offset + int32(i)) >> shift) + 1
		c := counts.At(i)
		if started && idx == curIdx {
			curCnt += c
			continue
		}
		if started {
			emit(curIdx, curCnt)
		}
		curIdx, curCnt, started = idx, c, true
	}
	if started {
		emit(curIdx, curCnt)
	}
	return spans, deltas
}
