package loadbalancing

import (
	"encoding/binary"
	"hash/crc32"
	"sort"
)

// The ring reproduces contrib's consistent_hashing.go (v0.159.0) bit for bit: the same endpoint
// list must give every key the endpoint contrib's traces exporter gives it, or a trace's logs
// leave its spans' gateway. It is unexported there, hence this copy; oracle_test.go checks it
// against contrib's traces exporter, so a change upstream fails that test.
const (
	ringPositions  uint32 = 131071 // positions on the ring
	ringWeight     int    = 200    // positions per endpoint
	ringProbeLimit int    = 10     // positions tried past a taken one before the point is dropped
)

type ringItem struct {
	pos      uint32
	endpoint string
}

// ring is immutable once built.
type ring struct{ items []ringItem }

func newRing(endpoints []string) *ring {
	type candidate struct {
		pos, hash uint32
		endpoint  string
	}
	cands := make([]candidate, 0, len(endpoints)*ringWeight)
	var buf [4]byte
	for _, ep := range endpoints {
		for i := range ringWeight {
			h := crc32.NewIEEE()
			binary.LittleEndian.PutUint32(buf[:], uint32(i))
			h.Write([]byte(ep))
			h.Write(buf[:])
			sum := h.Sum32()
			cands = append(cands, candidate{pos: sum % ringPositions, hash: sum, endpoint: ep})
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].pos != cands[j].pos {
			return cands[i].pos < cands[j].pos
		}
		if cands[i].hash != cands[j].hash {
			return cands[i].hash < cands[j].hash
		}
		return cands[i].endpoint < cands[j].endpoint
	})
	taken := make(map[uint32]bool, len(cands))
	items := make([]ringItem, 0, len(cands))
	for _, c := range cands {
		pos, probed := c.pos, 0
		for taken[pos] && probed < ringProbeLimit {
			pos = (pos + 1) % ringPositions
			probed++
		}
		if probed >= ringProbeLimit { // contrib drops the point here, even when the last probe was free
			continue
		}
		taken[pos] = true
		items = append(items, ringItem{pos: pos, endpoint: c.endpoint})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].pos < items[j].pos })
	return &ring{items: items}
}

// endpointFor is the first point at or after the key's position, wrapping around; "" when the
// ring is empty. Contrib's recursive bsearch returns the same point.
func (r *ring) endpointFor(key []byte) string {
	if r == nil || len(r.items) == 0 {
		return ""
	}
	pos := crc32.ChecksumIEEE(key) % ringPositions
	i := sort.Search(len(r.items), func(i int) bool { return r.items[i].pos >= pos })
	if i == len(r.items) {
		i = 0
	}
	return r.items[i].endpoint
}
