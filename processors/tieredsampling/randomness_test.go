package tieredsampling

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

func TestHashRandomnessByValueType(t *testing.T) {
	str := pcommon.NewValueStr("req-1")
	i := pcommon.NewValueInt(42)
	by := pcommon.NewValueBytes()
	by.Bytes().FromRaw([]byte("req-1"))
	dbl := pcommon.NewValueDouble(1.5)
	tests := []struct {
		name string
		v    pcommon.Value
	}{{"string", str}, {"int", i}, {"bytes", by}, {"double", dbl}}
	seen := map[uint64]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := hashRandomness(tt.v), hashRandomness(tt.v)
			require.Equal(t, a, b, "stable across calls")
			require.Less(t, a.Unsigned(), uint64(1)<<56)
			seen[a.Unsigned()] = tt.name
		})
	}
	// Strings and their byte form hash alike on purpose; the others differ.
	require.Equal(t, hashRandomness(str), hashRandomness(by))
	require.Len(t, seen, 3)
}

func TestHashRandomnessIsUniform(t *testing.T) {
	// Sequential IDs are the worst case for a weak hash: check the top bit and the top nibble
	// spread evenly across 160k consecutive integers.
	const n = 160_000
	var buckets [16]int
	for k := range n {
		r := hashRandomness(pcommon.NewValueInt(int64(k))).Unsigned()
		buckets[r>>52]++
	}
	for i, c := range buckets {
		require.InDelta(t, n/16, c, 5*100, "nibble %x", i) // ±5σ, σ≈97
	}
}
