package prometheusremotewrite

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
)

func testLabels(i int, valueLen int) []label {
	return []label{
		{Name: nameLabel, Value: fmt.Sprintf("metric_%d", i%7)},
		{Name: "id", Value: fmt.Sprintf("%0*d", valueLen, i)},
		{Name: "job", Value: "svc"},
	}
}

func TestSymbolTableRoundTrip(t *testing.T) {
	st := newSymbolTable()
	for _, ls := range [][]label{
		testLabels(1, 3),
		{{Name: nameLabel, Value: "m"}, {Name: "empty_next", Value: "x"}, {Name: "z", Value: strings.Repeat("v", 300)}},
		{},
	} {
		enc := st.encode(nil, ls)
		require.True(t, st.equal(enc, ls))
		if len(ls) > 0 {
			require.Equal(t, ls, st.decode(enc))
			other := append([]label(nil), ls...)
			other[len(other)-1].Value += "!"
			require.False(t, st.equal(enc, other))
			require.False(t, st.equal(enc, ls[:len(ls)-1]))
		}
	}
}

// Names beyond the symbol bounds are stored inline and still round-trip.
func TestSymbolTableIsBounded(t *testing.T) {
	st := newSymbolTable()
	for i := range maxSymbols + 100 {
		ls := []label{{Name: fmt.Sprintf("name_%d", i), Value: "v"}}
		enc := st.encode(nil, ls)
		require.Equal(t, ls, st.decode(enc))
		require.True(t, st.equal(enc, ls))
	}
	require.Len(t, st.strs, maxSymbols)
}

// Values of a label name that keeps taking new ones stop being interned; those of other names
// and metric names still are.
func TestSymbolTableStopsInterningIDs(t *testing.T) {
	st := newSymbolTable()
	for i := range 3 * maxValuesPerName {
		ls := []label{{Name: nameLabel, Value: fmt.Sprintf("metric_%d", i)}, {Name: "id", Value: fmt.Sprintf("%d", i)}, {Name: "method", Value: "GET"}}
		enc := st.encode(nil, ls)
		require.Equal(t, ls, st.decode(enc))
		require.True(t, st.equal(enc, ls))
		st.forget()
	}
	_, idInterned := st.ids[fmt.Sprint(2*maxValuesPerName)]
	require.False(t, idInterned)
	_, metricInterned := st.ids[fmt.Sprintf("metric_%d", 2*maxValuesPerName)]
	require.True(t, metricInterned)
	require.EqualValues(t, maxValuesPerName, st.values[st.ids["id"]])
	require.EqualValues(t, 1, st.values[st.ids["method"]])
}

// The tracker's table, slots and arena agree with a plain map through random inserts and
// removals, including the compactions they trigger.
func TestStalenessStoreMatchesModel(t *testing.T) {
	tr := newStalenessTracker(StalenessConfig{StaleAfter: time.Minute, MaxSeries: 1 << 20}, func(string) {})
	model := map[uint64][]label{}
	rng := rand.New(rand.NewPCG(1, 2))
	// Long label values make pages fill quickly, so compaction runs many times.
	for step := range 200_000 {
		i := rng.IntN(20_000)
		ls := testLabels(i, 50+i%200)
		h := hashLabels(ls)
		cell, at, found := tr.find(h)
		_, inModel := model[h]
		require.Equal(t, inModel, found, "step %d", step)
		if found {
			require.True(t, tr.symbols.equal(tr.arena.get(tr.slot(at).ref), ls))
			// Series are mostly forgotten, with long-lived survivors scattered across pages.
			if rng.IntN(10) > 0 {
				tr.forget(cell, at)
				delete(model, h)
			}
		} else {
			require.True(t, tr.insert(h, ls, writev2.Metadata_METRIC_TYPE_GAUGE, 1, 1, false))
			model[h] = ls
		}
		if step%1000 == 0 {
			tr.compact()
		}
	}
	tr.compact()
	require.Equal(t, len(model), tr.count)
	live := 0
	for at := tr.head; at != noSlot; at = tr.slot(at).next {
		sl := tr.slot(at)
		ls := tr.symbols.decode(tr.arena.get(sl.ref))
		require.Equal(t, model[sl.hash], ls)
		_, _, found := tr.find(sl.hash)
		require.True(t, found)
		_, n := tr.arena.entry(sl.ref)
		live += n
	}
	require.Equal(t, live, tr.arena.liveBytes)
	require.False(t, tr.arena.fragmented(), "allocated %d for %d live", tr.arena.allocated, live)
}

// Under churn whole pages empty out and are reused: the arena stays near the live size.
func TestStalenessArenaReleasesPagesUnderChurn(t *testing.T) {
	const maxSeries = 5000
	tr := newStalenessTracker(StalenessConfig{StaleAfter: time.Minute, MaxSeries: maxSeries}, func(string) {})
	for i := range 20 * maxSeries {
		ls := testLabels(i, 16)
		if tr.count >= maxSeries {
			tr.forgetSlot(tr.head)
		}
		require.True(t, tr.insert(hashLabels(ls), ls, writev2.Metadata_METRIC_TYPE_GAUGE, 1, 1, false))
	}
	require.Equal(t, maxSeries, tr.count)
	require.LessOrEqual(t, tr.arena.allocated, tr.arena.liveBytes+(maxSpare+1)*pageSize)
	require.LessOrEqual(t, int(tr.nslots), maxSeries)
}

func TestStalenessArenaLargeLabelSet(t *testing.T) {
	tr := newStalenessTracker(StalenessConfig{StaleAfter: time.Minute, MaxSeries: 10}, func(string) {})
	big := []label{{Name: nameLabel, Value: "m"}, {Name: "v", Value: strings.Repeat("x", 3*pageSize)}}
	small := testLabels(1, 4)
	require.True(t, tr.insert(hashLabels(small), small, 0, 1, 1, false))
	require.True(t, tr.insert(hashLabels(big), big, 0, 1, 1, false))
	require.True(t, tr.insert(hashLabels(small)+1, small, 0, 1, 1, false))
	_, at, found := tr.find(hashLabels(big))
	require.True(t, found)
	require.Equal(t, big, tr.symbols.decode(tr.arena.get(tr.slot(at).ref)))
	tr.forgetSlot(at)
	require.Equal(t, 2, tr.count)
}

// BenchmarkStalenessStore inserts and forgets series through the table and arena alone.
func BenchmarkStalenessStore(b *testing.B) {
	const maxSeries = 100_000
	sets := make([][]label, 4*maxSeries)
	hashes := make([]uint64, len(sets))
	for i := range sets {
		sets[i] = testLabels(i, 22)
		hashes[i] = hashLabels(sets[i])
	}
	tr := newStalenessTracker(StalenessConfig{StaleAfter: time.Minute, MaxSeries: maxSeries}, func(string) {})
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k := i % len(sets)
		if tr.count >= maxSeries {
			tr.forgetSlot(tr.head)
		}
		tr.insert(hashes[k], sets[k], 0, 1, 1, false)
	}
}
