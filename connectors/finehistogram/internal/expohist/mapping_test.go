package expohist

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/lightstep/go-expohisto/mapping"
	"github.com/lightstep/go-expohisto/mapping/exponent"
	"github.com/lightstep/go-expohisto/mapping/logarithm"
	"github.com/stretchr/testify/require"
)

// belowBoundary reports, exactly, whether the mantissa m = 1+frac/2^52 lies below 2^(j/2^s),
// i.e. whether m^(2^s) < 2^j: s squarings at 320 bits leave a relative error under 2^-290, while
// a float64 is never closer than about 2^-120 to an irrational boundary.
func belowBoundary(frac uint64, j int, s int32) bool {
	// m^N < 2^j with m = M·2^-52 is M^N < 2^(j+52N); SetMantExp would reset the precision.
	x := new(big.Float).SetPrec(320).SetUint64(1<<52 | frac)
	for i := int32(0); i < s; i++ {
		x.Mul(x, x)
	}
	return x.Cmp(new(big.Float).SetMantExp(big.NewFloat(1), j+52<<s)) < 0
}

// isExactIndex reports whether idx is the index of value > 0 at scale s by the definition, with
// math/big: 2^(k/N) < m ≤ 2^((k+1)/N) for the mantissa m and k = idx - e·N.
func isExactIndex(value float64, s int32, idx int32) bool {
	if value <= 0x1p-1022 {
		value = 0x1p-1022
	}
	bits := math.Float64bits(value)
	e := int32(bits>>52&0x7ff) - 1023
	frac := bits & significandMask
	if s <= 0 {
		if frac == 0 {
			e--
		}
		return idx == e>>-s
	}
	if frac == 0 {
		return idx == e<<s-1
	}
	k := int(idx - e<<s)
	if k < 0 || k >= 1<<s {
		return false
	}
	return (k == 0 || !belowBoundary(frac, k, s)) && (k+1 == 1<<s || belowBoundary(frac, k+1, s))
}

func libraryMapping(t testing.TB, s int32) mapping.Mapping {
	var m mapping.Mapping
	var err error
	if s <= 0 {
		m, err = exponent.NewMapping(s)
	} else {
		m, err = logarithm.NewMapping(s)
	}
	require.NoError(t, err)
	return m
}

// specIndex is the reference mapping of the OpenTelemetry data model (the logarithm method with
// the exact power-of-two special case), for scale > 0.
func specIndex(value float64, s int32) int32 {
	if value <= 0x1p-1022 {
		return (-1022 << s) - 1
	}
	if math.Float64bits(value)&significandMask == 0 {
		exp := int32(math.Float64bits(value)>>52&0x7ff) - 1023
		return (exp << s) - 1
	}
	scaleFactor := math.Ldexp(math.Log2E, int(s))
	idx := int32(math.Floor(math.Log(value) * scaleFactor))
	if maxIdx := (int32(1024) << s) - 1; idx >= maxIdx {
		return maxIdx
	}
	return idx
}

// TestTableBoundsExact checks every stored boundary against its definition: the stored fraction
// lies below 2^(j/N) and the next one above. Every boundary for scales up to 12, a sample above.
func TestTableBoundsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for s := int32(1); s <= MaxScale; s++ {
		tab := tableFor(s)
		n := 1 << s
		check := func(j int) {
			require.True(t, belowBoundary(tab.bound[j], j, s), "scale %d boundary %d: stored fraction not below", s, j)
			require.False(t, belowBoundary(tab.bound[j]+1, j, s), "scale %d boundary %d: next fraction not above", s, j)
		}
		if s <= directScale {
			for j := 1; j < n; j++ {
				check(j)
			}
			continue
		}
		samples := 3000
		if testing.Short() {
			samples = 300
		}
		for i := 0; i < samples; i++ {
			check(1 + rng.IntN(n-1))
		}
		check(1)
		check(n - 1)
	}
}

// mappingValues are the values the mapping is compared on at scale s: a dense log-uniform set
// over the whole float64 range and over latencies, every power of two (subnormal ones too), the
// extremes, and both neighbours of every bucket boundary of scale s in a few octaves.
func mappingValues(s int32, rng *rand.Rand) []float64 {
	vals := []float64{math.SmallestNonzeroFloat64, 0x1p-1022, math.Nextafter(0x1p-1022, 0), math.Nextafter(0x1p-1022, 1),
		math.MaxFloat64, math.Nextafter(math.MaxFloat64, 0), 1, math.Nextafter(1, 0), math.Nextafter(1, 2)}
	for e := -1074; e <= 1023; e++ {
		p := math.Ldexp(1, e)
		vals = append(vals, p, math.Nextafter(p, 0), math.Nextafter(p, math.Inf(1)))
	}
	for i := 0; i < 100_000; i++ {
		vals = append(vals, math.Exp2(rng.Float64()*2046-1022), math.Exp2(rng.Float64()*40-30))
	}
	octave := func() int { return rng.IntN(2045) - 1022 }
	addAround := func(m float64) {
		v := math.Ldexp(m, octave())
		vals = append(vals, math.Nextafter(v, 0), v, math.Nextafter(v, math.Inf(1)))
	}
	if s > 0 {
		// The float64 on either side of every boundary 2^(j/N), the stored fraction and the
		// next, in a random octave.
		tab := tableFor(s)
		step := 1
		if testing.Short() && s > 14 {
			step = 1 << (s - 14)
		}
		for j := 1; j < 1<<s; j += step {
			e := octave()
			vals = append(vals, math.Ldexp(1+float64(tab.bound[j])*0x1p-52, e), math.Ldexp(1+float64(tab.bound[j]+1)*0x1p-52, e))
		}
	}
	// The boundaries as the library computes them (math.Exp), independently of our tables.
	lib := libraryMapping(nil, s)
	perOctave := 1
	if s > 0 {
		perOctave = 1 << s
	}
	for i := 0; i < perOctave && i < 1<<12; i++ {
		if lb, err := lib.LowerBoundary(int32(i)); err == nil {
			addAround(lb)
		}
	}
	return vals
}

// TestMapToIndexExact compares MapToIndex with go-expohisto's mapping and with the
// specification's reference on every scale from -10 to 20. Where the logarithm-based mappings
// are off by one next to a boundary (math.Log rounds), math/big decides, and MapToIndex must
// agree with it everywhere.
func TestMapToIndexExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for s := MinScale; s <= MaxScale; s++ {
		lib := libraryMapping(t, s)
		vals := mappingValues(s, rng)
		disagree := 0
		for _, v := range vals {
			got := MapToIndex(v, s)
			want := lib.MapToIndex(v)
			if s > 0 {
				require.Equal(t, want, specIndex(v, s), "spec reference vs library, scale %d value %v", s, v)
			}
			if got == want {
				continue
			}
			disagree++
			require.True(t, isExactIndex(v, s, got), "scale %d value %v (%x): got %d, library %d", s, v, math.Float64bits(v), got, want)
			require.LessOrEqual(t, math.Abs(float64(want-got)), 1.0, "scale %d value %v", s, v)
		}
		if s <= 0 {
			require.Zero(t, disagree, "the exponent mapping is exact: scale %d", s)
		}
		t.Logf("scale %3d: %d values, library off by one (math.Log rounding) on %d, math/big agrees with MapToIndex", s, len(vals), disagree)
	}
}

// TestMapToIndexDefinition checks MapToIndex against the definition itself, with math/big, on
// random values and boundary neighbours (slower than the library comparison, so a sample).
func TestMapToIndexDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for s := MinScale; s <= MaxScale; s++ {
		for i := 0; i < 300; i++ {
			v := math.Exp2(rng.Float64()*2046 - 1022)
			require.True(t, isExactIndex(v, s, MapToIndex(v, s)), "scale %d value %v", s, v)
		}
		if s > 0 {
			tab := tableFor(s)
			for i := 0; i < 100; i++ {
				j := 1 + rng.IntN(1<<s-1)
				for _, f := range []uint64{tab.bound[j] - 1, tab.bound[j], tab.bound[j] + 1, tab.bound[j] + 2} {
					v := math.Ldexp(1+float64(f)*0x1p-52, rng.IntN(200)-100)
					require.True(t, isExactIndex(v, s, MapToIndex(v, s)), "scale %d value %v", s, v)
				}
			}
		}
	}
}

func BenchmarkMapToIndex(b *testing.B) {
	vals := make([]float64, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range vals {
		vals[i] = 0.05 * math.Exp(0.6*rng.NormFloat64())
	}
	for _, s := range []int32{-2, 4, 8, 12, 20} {
		m := mapperFor(s)
		b.Run("scale="+itoa(s), func(b *testing.B) {
			var sink int32
			for i := 0; i < b.N; i++ {
				sink += m.index(vals[i&4095])
			}
			_ = sink
		})
		lib := libraryMapping(b, s)
		b.Run("go-expohisto/scale="+itoa(s), func(b *testing.B) {
			var sink int32
			for i := 0; i < b.N; i++ {
				sink += lib.MapToIndex(vals[i&4095])
			}
			_ = sink
		})
	}
}

func itoa(s int32) string { return big.NewInt(int64(s)).String() }
