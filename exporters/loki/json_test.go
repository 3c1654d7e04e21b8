package loki

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\slash", "\x00\x1f\n\t", "\xff\xfeé", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := appendJSONString(nil, s)
		var got string
		require.NoError(t, json.Unmarshal(out, &got), "%q", out)
		// Each invalid byte becomes one U+FFFD, as a []rune conversion does.
		require.Equal(t, string([]rune(s)), got)
		require.Equal(t, out, appendJSONString(nil, []byte(s)), "the []byte variant differs")
	})
}

func TestAppendJSONValue(t *testing.T) {
	m := pcommon.NewMap()
	m.PutStr("s", "x")
	m.PutInt("i", -3)
	m.PutDouble("d", 1.5)
	m.PutDouble("nan", math.NaN())
	m.PutBool("b", true)
	m.PutEmptyBytes("raw").FromRaw([]byte{1, 2})
	sl := m.PutEmptySlice("l")
	sl.AppendEmpty().SetStr("a")
	sl.AppendEmpty().SetInt(1)
	m.PutEmptyMap("m").PutStr("k", "v")
	m.PutEmpty("e")

	var got map[string]any
	require.NoError(t, json.Unmarshal(appendJSONMap(nil, m), &got))
	require.Equal(t, map[string]any{
		"s": "x", "i": float64(-3), "d": 1.5, "nan": "NaN", "b": true, "raw": "AQI=",
		"l": []any{"a", float64(1)}, "m": map[string]any{"k": "v"}, "e": nil,
	}, got)
}
