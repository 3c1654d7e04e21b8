package prometheusremotewrite // import "github.com/sieveobs/sieve/exporters/prometheusremotewrite"

import (
	"encoding/binary"
	"strings"
)

// The staleness tracker keeps up to max_series label sets for as long as their series live, the
// largest state of the exporter by far. It is stored without Go pointers, in few large
// allocations, so that the garbage collector neither scans it nor pays a header per series, and
// so that a tracked series costs about 80 bytes instead of the 290 a slice per series took
// (BenchmarkStalenessMemory, series like the load generator's):
//
//   - label names, metric names and the values of labels that take few values are interned in
//     a symbolTable, since every series repeats them, and stored as a small number;
//   - other label values (IDs) are stored inline, in a labelArena of 64 KiB pages;
//   - the series themselves live in fixed chunks of slots found through an open-addressing
//     table of slot numbers (staleness.go).

const (
	// maxSymbols and maxSymbolBytes bound the interned strings: symbols are never forgotten, so
	// data with unbounded label names (a name carrying an ID) must not grow the table forever.
	// Past the bound, strings are stored inline.
	maxSymbols     = 1 << 14
	maxSymbolBytes = 1 << 20
	// maxValuesPerName is how many values of one label name are interned. Most labels take few
	// values (a method, a status, a route, a region) that every series repeats; a name with more
	// carries something like an ID, which is stored inline without even a lookup from then on.
	// The metric name has no such bound.
	maxValuesPerName = 256
)

// symbolTable interns strings that repeat across series. It only grows, within its bounds.
type symbolTable struct {
	ids   map[string]uint32
	strs  []string
	bytes int
	// values counts, for each symbol used as a label name, the values interned for it.
	values []uint16
	// memo remembers the symbols of the label set encoded last, by position (a name, then its
	// value), because consecutive series of a batch mostly share them: comparing two strings
	// that share their bytes costs less than hashing one for the map. forget clears it, so that
	// it does not keep a translated batch alive.
	memo []memoEntry
}

type memoEntry struct {
	s  string
	id uint32
	ok bool
}

const maxMemo = 32

func newSymbolTable() symbolTable { return symbolTable{ids: make(map[string]uint32)} }

// id returns the symbol of s, interning it if there is room; added tells whether it is new.
func (st *symbolTable) id(s string) (id uint32, ok, added bool) {
	if id, ok := st.ids[s]; ok {
		return id, true, false
	}
	if len(st.strs) >= maxSymbols || st.bytes+len(s) > maxSymbolBytes {
		return 0, false, false
	}
	// A copy: s points into the batch being translated, which must not be kept alive.
	s = strings.Clone(s)
	id = uint32(len(st.strs))
	st.strs = append(st.strs, s)
	st.values = append(st.values, 0)
	st.ids[s] = id
	st.bytes += len(s)
	return id, true, true
}

// A label set is encoded as a sequence of tokens, a name then a value for each label. A token is
// a uvarint x: an odd x is symbol x>>1, an even x is followed by x>>1 bytes of the string itself.
// The same string may be encoded either way (a value interned after some series stored it
// inline), so label sets are compared by content (equal), never by their bytes.

func appendInline(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s))<<1)
	return append(dst, s...)
}

func appendSymbol(dst []byte, id uint32) []byte {
	return binary.AppendUvarint(dst, uint64(id)<<1|1)
}

// intern returns the symbol of s, pos being its place in the memo. A value is interned for the
// label name symbol name (counted against maxValuesPerName); name is -1 for names and metric names.
func (st *symbolTable) intern(s string, pos int, name int32) (uint32, bool) {
	var m *memoEntry
	if pos < maxMemo {
		for len(st.memo) <= pos {
			st.memo = append(st.memo, memoEntry{})
		}
		m = &st.memo[pos]
		if m.ok && m.s == s {
			return m.id, true
		}
	}
	id, ok, added := st.id(s)
	if !ok {
		return 0, false
	}
	if added && name >= 0 {
		st.values[name]++
	}
	if m != nil {
		*m = memoEntry{s: s, id: id, ok: true}
	}
	return id, true
}

// encode appends the compact form of the sorted label set ls to dst.
func (st *symbolTable) encode(dst []byte, ls []label) []byte {
	for i, l := range ls {
		nid, ok := st.intern(l.Name, 2*i, -1)
		if !ok {
			dst = appendInline(dst, l.Name)
			dst = appendInline(dst, l.Value)
			continue
		}
		dst = appendSymbol(dst, nid)
		forName := int32(nid)
		if l.Name == nameLabel {
			forName = -1
		} else if st.values[nid] >= maxValuesPerName {
			dst = appendInline(dst, l.Value)
			continue
		}
		if vid, ok := st.intern(l.Value, 2*i+1, forName); ok {
			dst = appendSymbol(dst, vid)
		} else {
			dst = appendInline(dst, l.Value)
		}
	}
	return dst
}

// forget clears the memo.
func (st *symbolTable) forget() { clear(st.memo) }

// token reads one token from enc: the symbol's string, or the inline bytes (not copied).
func (st *symbolTable) token(enc []byte) (sym string, inline []byte, rest []byte, ok bool) {
	x, k := binary.Uvarint(enc)
	if k <= 0 {
		return "", nil, nil, false
	}
	enc = enc[k:]
	if x&1 == 1 {
		if x>>1 >= uint64(len(st.strs)) {
			return "", nil, nil, false
		}
		return st.strs[x>>1], nil, enc, true
	}
	n := x >> 1
	if uint64(len(enc)) < n {
		return "", nil, nil, false
	}
	return "", enc[:n], enc[n:], true
}

// decode is encode's inverse. It allocates the inline strings, and runs only for markers.
func (st *symbolTable) decode(enc []byte) []label {
	var out []label
	for len(enc) > 0 {
		var parts [2]string
		for i := range parts {
			sym, inline, rest, ok := st.token(enc)
			if !ok {
				return out
			}
			if inline != nil {
				sym = string(inline)
			}
			parts[i], enc = sym, rest
		}
		out = append(out, label{Name: parts[0], Value: parts[1]})
	}
	return out
}

// equal reports whether enc is the compact form of ls, without allocating.
func (st *symbolTable) equal(enc []byte, ls []label) bool {
	for _, l := range ls {
		for _, part := range [2]string{l.Name, l.Value} {
			sym, inline, rest, ok := st.token(enc)
			if !ok {
				return false
			}
			if inline != nil {
				if string(inline) != part {
					return false
				}
			} else if sym != part {
				return false
			}
			enc = rest
		}
	}
	return len(enc) == 0
}

const (
	pageBits = 16
	pageSize = 1 << pageBits
	// maxPages keeps a page number within the 16 high bits of an arenaRef.
	maxPages = 1 << 16
)

// arenaRef locates an encoded label set: page number in the high 16 bits, offset in the low 16.
type arenaRef uint32

// labelArena stores encoded label sets in pages. Series tend to end in the order they started,
// so whole pages empty out and are released without copying; compact evacuates the pages left
// mostly empty by long-lived series.
type labelArena struct {
	pages [][]byte
	// live counts, per page, the bytes of label sets still in use.
	live []int
	// free lists page numbers whose page was released.
	free []uint16
	// spare keeps a few released pages for reuse: under series churn a page is released and
	// another one opened every few hundred series.
	spare [][]byte
	// cur is the page being filled, -1 for none.
	cur       int
	liveBytes int
	allocated int
}

func newLabelArena() labelArena { return labelArena{cur: -1} }

// add stores enc, preceded by its length, and returns where; false when the page numbers are
// exhausted (4 GiB of labels).
func (a *labelArena) add(enc []byte) (arenaRef, bool) {
	var prefix [binary.MaxVarintLen32]byte
	k := binary.PutUvarint(prefix[:], uint64(len(enc)))
	n := k + len(enc)
	if a.cur < 0 || n > cap(a.pages[a.cur])-len(a.pages[a.cur]) {
		// A label set larger than a page gets a page of its own.
		p, ok := a.newPage(max(pageSize, n))
		if !ok {
			return 0, false
		}
		old := a.cur
		a.cur = p
		if old >= 0 && a.live[old] == 0 {
			a.release(old)
		}
	}
	p := a.cur
	off := len(a.pages[p])
	a.pages[p] = append(append(a.pages[p], prefix[:k]...), enc...)
	a.live[p] += n
	a.liveBytes += n
	return arenaRef(p<<pageBits | off), true
}

func (a *labelArena) newPage(size int) (int, bool) {
	var p int
	if n := len(a.free); n > 0 {
		p = int(a.free[n-1])
		a.free = a.free[:n-1]
	} else {
		if len(a.pages) >= maxPages {
			return 0, false
		}
		p = len(a.pages)
		a.pages = append(a.pages, nil)
		a.live = append(a.live, 0)
	}
	if n := len(a.spare); n > 0 && size == pageSize {
		a.pages[p] = a.spare[n-1]
		a.spare = a.spare[:n-1]
	} else {
		a.pages[p] = make([]byte, 0, size)
		a.allocated += size
	}
	return p, true
}

const maxSpare = 2

func (a *labelArena) release(p int) {
	if pg := a.pages[p]; cap(pg) == pageSize && len(a.spare) < maxSpare {
		a.spare = append(a.spare, pg[:0])
	} else {
		a.allocated -= cap(pg)
	}
	a.pages[p] = nil
	a.free = append(a.free, uint16(p))
}

// get returns the label set at r, and the bytes it takes with its length.
func (a *labelArena) entry(r arenaRef) (enc []byte, n int) {
	p, off := int(r>>pageBits), int(r&(pageSize-1))
	l, k := binary.Uvarint(a.pages[p][off:])
	return a.pages[p][off+k : off+k+int(l)], k + int(l)
}

func (a *labelArena) get(r arenaRef) []byte {
	enc, _ := a.entry(r)
	return enc
}

// remove gives back the label set at r; a page left empty is released unless it is being filled.
func (a *labelArena) remove(r arenaRef) {
	_, n := a.entry(r)
	p := int(r >> pageBits)
	a.live[p] -= n
	a.liveBytes -= n
	if a.live[p] == 0 && p != a.cur {
		a.release(p)
	}
}

// fragmented reports whether pages hold more than twice the live bytes (plus some slack so that
// a small arena is never compacted).
func (a *labelArena) fragmented() bool {
	return a.allocated > 2*a.liveBytes+4*pageSize
}

// sparse reports whether page p is less than half used and should be evacuated by a compaction.
func (a *labelArena) sparse(p int) bool {
	return p != a.cur && a.pages[p] != nil && 2*a.live[p] < cap(a.pages[p])
}
