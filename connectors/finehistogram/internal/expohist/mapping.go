// Package expohist is a base-2 exponential histogram with an exact index mapping that needs no
// logarithm, in two layouts: dense (one contiguous range of at most maxSize buckets, the
// behaviour of the OpenTelemetry SDKs) and sparse (at most maxSize populated buckets, any gaps
// between them free).
package expohist // import "github.com/sieveobs/sieve/connectors/finehistogram/internal/expohist"

import (
	"math"
	"sort"
	"sync"
)

// Scale range of the mapping: at scale 20 the index of the largest float64 still fits int32.
const (
	MinScale int32 = -10
	MaxScale int32 = 20
)

const (
	significandWidth = 52
	significandMask  = 1<<significandWidth - 1
	exponentBias     = 1023
	minNormalExp     = -1022
)

// MapToIndex returns the index of the bucket holding value > 0 at scale (MinScale…MaxScale):
// bucket i covers (2^(i/2^scale), 2^((i+1)/2^scale)], so an exact power of two belongs to the
// bucket below it. Values at or below the smallest normal float64 share its bucket, as in the
// OpenTelemetry reference mapping. The result is exact at every scale.
func MapToIndex(value float64, scale int32) int32 {
	return mapperFor(scale).index(value)
}

// mapper maps values at one scale. A histogram keeps the mapper of its scale so that the hot
// path never looks up or builds a table.
type mapper struct {
	scale int32
	tab   *table // nil for scale ≤ 0
}

func mapperFor(scale int32) mapper {
	if scale <= 0 {
		return mapper{scale: scale}
	}
	return mapper{scale: scale, tab: tableFor(scale)}
}

// index splits value into exponent e and 52-bit fraction f; with N = 2^scale the index is
// e·N + #{j in 1…N-1 : 2^(j/N) < 1+f/2^52}, minus one for an exact power of two. No boundary
// 2^(j/N) is a float64 (it is irrational), so each comparison is exact against the largest
// fraction below it, which the table holds.
func (m mapper) index(value float64) int32 {
	bits := math.Float64bits(value)
	exp := int32(bits>>significandWidth&0x7ff) - exponentBias
	frac := bits & significandMask
	if exp < minNormalExp {
		// Subnormal: counted with the smallest normal value.
		exp, frac = minNormalExp, 0
	}
	// pow2 is 1 for an exact power of two, whose index is one lower.
	pow2 := int32((frac - 1) >> 63)
	if m.tab == nil {
		return (exp - pow2) >> -m.scale
	}
	return exp<<m.scale + m.tab.within(frac) - pow2
}

// table holds, for one scale N = 2^s, bound[j] = floor((2^(j/N) - 1)·2^52) for j in 1…N-1:
// a fraction f lies above boundary j exactly when f > bound[j]. bound[0] and the two entries
// past the end are sentinels that no fraction passes.
type table struct {
	scale int32
	bound []uint64
	// first[q], when built, is the number of boundaries below the fraction q·2^(52-s): a slot of
	// width 2^-s holds at most two boundaries, their spacing being at least ln2·2^-s.
	first []uint32
	// coarse, for scales above directScale, finds the bucket at directScale first; the fine
	// bucket inside it is then interpolated and checked against the boundaries.
	coarse *table
}

// noBoundary is the sentinel past the last boundary: no 52-bit fraction exceeds it.
const noBoundary = 1 << significandWidth

// directScale is the finest scale with a slot index (12 bytes per bucket in all); finer scales
// keep only their boundaries (8 bytes per bucket: 8 MiB at scale 20).
const directScale = 12

func (t *table) within(frac uint64) int32 {
	if t.first != nil {
		// Branch-free: bound[k+1]-frac has its top bit set exactly when bound[k+1] < frac, both
		// being below 2^53; whether a value passes a boundary is unpredictable, a branch on it
		// would be mispredicted half the time.
		k := uint64(t.first[frac>>(significandWidth-uint(t.scale))])
		k += (t.bound[k+1] - frac) >> 63
		k += (t.bound[k+1] - frac) >> 63
		return int32(k)
	}
	// Within a bucket of directScale, 2^-12 of an octave wide, the logarithm is linear to about
	// one part in 10^5 of the bucket: interpolating the fraction between the bucket's bounds
	// lands within one fine bucket of the answer, and the exact bounds settle it.
	shift := uint(t.scale - directScale)
	kc := uint64(t.coarse.within(frac))
	// bound[0] = 0 and the sentinel 2^52 are the ends of the octave, 1 and 2.
	lo, hi := t.coarse.bound[kc], t.coarse.bound[kc+1]
	k := kc<<shift + uint64(float64(frac-lo)/float64(hi-lo)*float64(uint64(1)<<shift))
	// The answer k satisfies bound[k] < frac ≤ bound[k+1], or is 0.
	for k > 0 && t.bound[k] >= frac {
		k--
	}
	for t.bound[k+1] < frac {
		k++
	}
	return int32(k)
}

var (
	tables    [MaxScale + 1]*table
	tableOnce [MaxScale + 1]sync.Once
)

// tableFor builds the table of scale s on first use and shares it: a process only pays for the
// scales its histograms visit.
func tableFor(s int32) *table {
	tableOnce[s].Do(func() { tables[s] = buildTable(s) })
	return tables[s]
}

func buildTable(s int32) *table {
	n := 1 << s
	t := &table{scale: s, bound: make([]uint64, n+2)}
	fillBounds(t.bound[:n], s)
	t.bound[n], t.bound[n+1] = noBoundary, noBoundary
	if s > directScale {
		t.coarse = tableFor(directScale)
		return t
	}
	t.first = make([]uint32, n)
	for q := range t.first {
		start := uint64(q) << (significandWidth - uint(s))
		// Boundaries 1…N-1 strictly below start, i.e. the largest k with bound[k] < start.
		k := sort.Search(n-1, func(j int) bool { return t.bound[j+1] >= start })
		t.first[q] = uint32(k)
	}
	return t
}

// fillBounds sets bound[j] = floor((2^(j/2^s) - 1)·2^52) for j in 1…len(bound)-1 and bound[0] = 0.
// Each boundary is known to about 2^-100 in double-double arithmetic, far closer than the 2^-52
// spacing of the fractions; anchors every 256 boundaries are computed directly and the ones in
// between by repeated multiplication, which keeps the build of scale 20 near 10 ms.
func fillBounds(bound []uint64, s int32) {
	n := len(bound)
	step := ddExp2(1, float64(n))
	var cur dd
	for j := 1; j < n; j++ {
		if j%256 == 1 {
			cur = ddExp2(float64(j), float64(n))
		} else {
			cur = ddMul(cur, step)
		}
		f, ok := floorFraction(cur)
		if !ok {
			// Too close to call with the stepped value: compute this one directly.
			f, ok = floorFraction(ddExp2(float64(j), float64(n)))
			if !ok {
				panic("expohist: boundary too close to a float64 to be decided")
			}
		}
		bound[j] = f
	}
}

// floorFraction returns floor((v-1)·2^52) for v in (1, 2) given as a double-double, and false
// when v is too close to a float64 for the double-double's accuracy to decide.
func floorFraction(v dd) (uint64, bool) {
	hi := v.hi
	// Round-to-nearest hi can be 2 when v is just below 2.
	if hi >= 2 {
		hi = math.Nextafter(2, 1)
		v.lo += v.hi - hi
	}
	f := math.Float64bits(hi) & significandMask
	ulp := math.Ldexp(1, -significandWidth)
	switch {
	case math.Abs(v.lo) < 0x1p-90:
		return 0, false
	case v.lo < 0:
		if v.lo < -ulp {
			return 0, false
		}
		return f - 1, true
	default:
		if v.lo > ulp {
			return 0, false
		}
		return f, true
	}
}

// dd is an unevaluated sum hi+lo of two float64, about 106 bits of precision.
type dd struct{ hi, lo float64 }

func twoSum(a, b float64) dd {
	s := a + b
	bb := s - a
	return dd{s, (a - (s - bb)) + (b - bb)}
}

func ddAdd(a, b dd) dd {
	s := twoSum(a.hi, b.hi)
	s.lo += a.lo + b.lo
	return twoSum(s.hi, s.lo)
}

func ddMul(a, b dd) dd {
	p := a.hi * b.hi
	e := math.FMA(a.hi, b.hi, -p)
	e += a.hi*b.lo + a.lo*b.hi
	return twoSum(p, e)
}

func ddDivFloat(a dd, b float64) dd {
	q := a.hi / b
	// r = a - q·b, exactly in its high part thanks to the FMA.
	r := math.FMA(-q, b, a.hi) + a.lo
	return twoSum(q, r/b)
}

// ln2dd is ln 2 as a double-double.
var ln2dd = dd{0x1.62e42fefa39efp-1, 0x1.abc9e3b39803fp-56}

// ddExp2 returns 2^(num/den) for 0 ≤ num/den < 1, den a power of two (num/den is then exact).
func ddExp2(num, den float64) dd {
	x := num / den
	// y = x·ln2 < 0.7: the Taylor series of e^y reaches 2^-110 by its 32nd term.
	y := ddMul(dd{x, 0}, ln2dd)
	p := dd{1, 0}
	for k := 32; k >= 1; k-- {
		p = ddAdd(dd{1, 0}, ddDivFloat(ddMul(y, p), float64(k)))
	}
	return p
}
