package expohist

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lightstep/go-expohisto/structure"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

type valueGen struct {
	name string
	gen  func(*rand.Rand) float64
}

var valueGens = []valueGen{
	{"lognormal", func(r *rand.Rand) float64 { return 0.05 * math.Exp(0.6*r.NormFloat64()) }},
	{"bimodal far apart", func(r *rand.Rand) float64 {
		if r.IntN(2) == 0 {
			return 1e-4 * math.Exp(0.1*r.NormFloat64())
		}
		return 30 * math.Exp(0.1*r.NormFloat64())
	}},
	{"signed with zeros", func(r *rand.Rand) float64 {
		switch r.IntN(10) {
		case 0:
			return 0
		case 1, 2:
			return -math.Exp2(r.Float64()*20 - 10)
		default:
			return math.Exp2(r.Float64()*6 - 3)
		}
	}},
	{"whole range", func(r *rand.Rand) float64 { return math.Exp2(r.Float64()*2000 - 1000) }},
	{"narrow", func(r *rand.Rand) float64 { return 1 + r.Float64()*1e-6 }},
}

// otlp returns what h emits, as a data point.
func otlp(h *Histogram, maxScale int32) pmetric.ExponentialHistogramDataPoint {
	dp := pmetric.NewExponentialHistogramDataPoint()
	h.CopyTo(dp, maxScale)
	return dp
}

func requireSameAsLibrary(t *testing.T, lib *structure.Float64, h *Histogram, msg string) {
	t.Helper()
	require.Equal(t, lib.Scale(), h.Scale(), msg)
	require.Equal(t, lib.ZeroCount(), h.ZeroCount(), msg)
	require.Equal(t, lib.Count(), h.Count(), msg)
	dp := otlp(h, MaxScale)
	for _, side := range []struct {
		lib *structure.Buckets
		got pmetric.ExponentialHistogramDataPointBuckets
	}{{lib.Positive(), dp.Positive()}, {lib.Negative(), dp.Negative()}} {
		require.Equal(t, int(side.lib.Len()), side.got.BucketCounts().Len(), msg)
		if side.lib.Len() == 0 {
			continue
		}
		require.Equal(t, side.lib.Offset(), side.got.Offset(), msg)
		for i := uint32(0); i < side.lib.Len(); i++ {
			require.Equal(t, side.lib.At(i), side.got.BucketCounts().At(int(i)), "%s bucket %d", msg, i)
		}
	}
}

// TestDenseMatchesLibrary: the dense layout keeps go-expohisto's scale, offset and counts on the
// same sequence of updates (values away from boundaries, where the library's logarithm rounds).
func TestDenseMatchesLibrary(t *testing.T) {
	for _, g := range valueGens {
		for _, size := range []int32{2, 20, 160} {
			rng := rand.New(rand.NewPCG(uint64(size), 9))
			lib := new(structure.Float64)
			lib.Init(structure.NewConfig(structure.WithMaxSize(size)))
			var h Histogram
			h.Init(Dense, size)
			for i := 0; i < 20_000; i++ {
				v := g.gen(rng)
				incr := uint64(1 + rng.IntN(3))
				lib.UpdateByIncr(v, incr)
				h.UpdateByIncr(v, incr)
				if i%997 == 0 {
					requireSameAsLibrary(t, lib, &h, g.name)
				}
			}
			requireSameAsLibrary(t, lib, &h, g.name)
			lib.Clear()
			h.Clear()
			requireSameAsLibrary(t, lib, &h, g.name+" cleared")
		}
	}
}

// totals sums a histogram's buckets.
func totals(h *Histogram) uint64 {
	n := h.ZeroCount()
	h.ForEachPositive(func(_ int32, c uint64) { n += c })
	h.ForEachNegative(func(_ int32, c uint64) { n += c })
	return n
}

// TestSparseNeverCoarser: on the same data the sparse layout is never at a coarser scale than the
// dense one, holds at most the budget of populated buckets, and conserves every count; each of
// its buckets is the union of the dense one's finer buckets (same data, nested buckets).
func TestSparseNeverCoarser(t *testing.T) {
	for _, g := range valueGens {
		for _, size := range []int32{2, 20, 160} {
			rng := rand.New(rand.NewPCG(uint64(size), 11))
			var dense, sparse Histogram
			dense.Init(Dense, size)
			sparse.Init(Sparse, size)
			var total uint64
			for i := 0; i < 20_000; i++ {
				v := g.gen(rng)
				dense.Update(v)
				sparse.Update(v)
				total++
				if i%499 == 0 {
					require.GreaterOrEqual(t, sparse.Scale(), dense.Scale(), g.name)
					p, n := sparse.Populated()
					require.LessOrEqual(t, p, int(size), g.name)
					require.LessOrEqual(t, n, int(size), g.name)
					dp := otlp(&sparse, MaxScale)
					require.LessOrEqual(t, dp.Positive().BucketCounts().Len(), sparseRangeFactor*int(size), g.name)
				}
			}
			require.Equal(t, total, sparse.Count())
			require.Equal(t, total, totals(&sparse))
			// Brought to the dense scale, the sparse buckets are the dense ones.
			a, b := otlp(&dense, MaxScale), otlp(&sparse, dense.Scale())
			if dense.Scale() != 0 || sparse.Scale() == 0 {
				require.Equal(t, a.Positive().Offset(), b.Positive().Offset(), g.name)
				require.Equal(t, a.Positive().BucketCounts().AsRaw(), b.Positive().BucketCounts().AsRaw(), g.name)
				require.Equal(t, a.Negative().BucketCounts().AsRaw(), b.Negative().BucketCounts().AsRaw(), g.name)
			}
		}
	}
}

// TestSparseFarModes: two modes six decades apart stay at a fine scale in the sparse layout,
// where the dense one must cover the empty range between them.
func TestSparseFarModes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var dense, sparse Histogram
	dense.Init(Dense, 160)
	sparse.Init(Sparse, 160)
	for i := 0; i < 100_000; i++ {
		v := valueGens[1].gen(rng)
		dense.Update(v)
		sparse.Update(v)
	}
	require.LessOrEqual(t, dense.Scale(), int32(3))
	t.Logf("dense scale %d, sparse scale %d", dense.Scale(), sparse.Scale())
	require.GreaterOrEqual(t, sparse.Scale(), int32(5))
}

// TestMerge: merging is exact and associative for both layouts: (a+b)+c, a+(b+c) and one
// histogram fed everything hold the same buckets once brought to a common scale.
func TestMerge(t *testing.T) {
	for _, layout := range []Layout{Dense, Sparse} {
		for _, g := range valueGens {
			rng := rand.New(rand.NewPCG(5, 6))
			var a, b, c, all Histogram
			for _, h := range []*Histogram{&a, &b, &c, &all} {
				h.Init(layout, 40)
			}
			for i := 0; i < 3000; i++ {
				v := g.gen(rng)
				all.Update(v)
				[]*Histogram{&a, &b, &c}[i%3].Update(v)
			}
			// Copies so that both orders start from the same parts.
			var ab, abc, bc, abc2 Histogram
			for _, h := range []*Histogram{&ab, &abc, &bc, &abc2} {
				h.Init(layout, 40)
			}
			ab.Merge(&a)
			ab.Merge(&b)
			abc.Merge(&ab)
			abc.Merge(&c)
			bc.Merge(&b)
			bc.Merge(&c)
			abc2.Merge(&a)
			abc2.Merge(&bc)
			require.Equal(t, all.Count(), abc.Count())
			require.Equal(t, all.Count(), totals(&abc))
			s := min(abc.Scale(), abc2.Scale(), all.Scale())
			for _, h := range []*Histogram{&abc, &abc2} {
				want, got := otlp(&all, s), otlp(h, s)
				require.Equal(t, want.Positive().Offset(), got.Positive().Offset(), g.name)
				require.Equal(t, want.Positive().BucketCounts().AsRaw(), got.Positive().BucketCounts().AsRaw(), g.name)
				require.Equal(t, want.Negative().BucketCounts().AsRaw(), got.Negative().BucketCounts().AsRaw(), g.name)
				require.Equal(t, want.ZeroCount(), got.ZeroCount())
			}
		}
	}
}

// TestCopyToDownscales: emitting below the internal scale merges buckets exactly.
func TestCopyToDownscales(t *testing.T) {
	var h Histogram
	h.Init(Sparse, 160)
	for _, v := range []float64{1.001, 1.5, 3, 3.0001} {
		h.Update(v)
	}
	dp := otlp(&h, 0)
	require.Equal(t, int32(0), dp.Scale())
	// Scale 0: (1,2] is bucket 0, (2,4] bucket 1.
	require.Equal(t, int32(0), dp.Positive().Offset())
	require.Equal(t, []uint64{2, 2}, dp.Positive().BucketCounts().AsRaw())
}

func TestUpdateAllocs(t *testing.T) {
	for _, layout := range []Layout{Dense, Sparse} {
		var h Histogram
		h.Init(layout, 160)
		rng := rand.New(rand.NewPCG(1, 2))
		vals := make([]float64, 4096)
		for i := range vals {
			vals[i] = valueGens[0].gen(rng)
		}
		for _, v := range vals {
			h.Update(v)
		}
		i := 0
		require.Zero(t, testing.AllocsPerRun(1000, func() {
			h.Update(vals[i&4095])
			i++
		}))
	}
}

func benchValues() []float64 {
	rng := rand.New(rand.NewPCG(1, 2))
	vals := make([]float64, 4096)
	for i := range vals {
		vals[i] = 0.05 * math.Exp(0.6*rng.NormFloat64())
	}
	return vals
}

func BenchmarkUpdate(b *testing.B) {
	vals := benchValues()
	for _, layout := range []struct {
		name string
		l    Layout
	}{{"dense", Dense}, {"sparse", Sparse}} {
		b.Run(layout.name, func(b *testing.B) {
			var h Histogram
			h.Init(layout.l, 160)
			for _, v := range vals {
				h.Update(v)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				h.UpdateByIncr(vals[i&4095], 1)
			}
		})
	}
	b.Run("go-expohisto", func(b *testing.B) {
		h := new(structure.Float64)
		h.Init(structure.NewConfig(structure.WithMaxSize(160)))
		for _, v := range vals {
			h.Update(v)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			h.UpdateByIncr(vals[i&4095], 1)
		}
	})
}

// TestSparseRangeBounded: populated buckets far apart cannot make the emitted array unbounded.
func TestSparseRangeBounded(t *testing.T) {
	var h Histogram
	h.Init(Sparse, 160)
	for _, v := range []float64{1e-300, 1e300, 1, 2, 3} {
		h.Update(v)
	}
	dp := otlp(&h, MaxScale)
	require.LessOrEqual(t, dp.Positive().BucketCounts().Len(), sparseRangeFactor*160)
	require.Equal(t, uint64(5), totals(&h))
}

// TestWidening: past 2^32-1 observations the counts move to 64 bits without losing any, in both
// layouts, through updates, merges and downscales.
func TestWidening(t *testing.T) {
	for _, layout := range []Layout{Dense, Sparse} {
		var h, o Histogram
		h.Init(layout, 4)
		o.Init(layout, 4)
		h.UpdateByIncr(1.5, math.MaxUint32-1)
		require.Nil(t, h.wide)
		h.UpdateByIncr(1.5, 1)
		require.Nil(t, h.wide)
		h.UpdateByIncr(3, 2) // widens, then downscales (range of 4 buckets exceeded at scale 20)
		require.NotNil(t, h.wide)
		o.UpdateByIncr(1000, math.MaxUint32)
		h.Merge(&o)
		h.MergePositive(0, 0, []uint64{math.MaxUint32, 7})
		want := uint64(math.MaxUint32) + 2 + math.MaxUint32 + math.MaxUint32 + 7
		require.Equal(t, want, h.Count())
		require.Equal(t, want, totals(&h))
		h.Clear()
		require.Nil(t, h.wide)
		h.Update(2)
		require.Equal(t, uint64(1), totals(&h))
	}
}
