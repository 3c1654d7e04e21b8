package loadgen

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// traceMarker starts every placeholder trace ID in a template; the last four bytes of the
// placeholder hold the trace's index within the request.
var traceMarker = []byte{0xf5, 0x1e, 0x7e, 0x51, 0xe7, 0xe5, 0x7b, 0xed, 0x1d, 0x5a, 0xa5, 0xc3}

// Template is one encoded OTLP export request whose item IDs and trace IDs are rewritten on
// every send.
type Template struct {
	// Body is the encoded Export*ServiceRequest with placeholder IDs.
	Body []byte
	// Items is the number of items (log records, spans or data points) in the request.
	Items int
	// PerClass counts the request's items by class.
	PerClass map[Class]int

	idOffsets    []int
	traceOffsets []int
	traceIndex   []uint32
}

// newTemplate locates the placeholders in body. Items are encoded in traversal order, so the
// j-th ID found in the bytes belongs to item j.
func newTemplate(body []byte, items int) (*Template, error) {
	t := &Template{Body: body, Items: items, PerClass: map[Class]int{}}
	for i := 0; i+idLen <= len(body); i++ {
		if body[i] != 's' || !bytes.HasPrefix(body[i:], []byte(idPrefix)) {
			continue
		}
		c, _, ok := ParseID(string(body[i : i+idLen]))
		if !ok {
			continue
		}
		t.PerClass[c]++
		t.idOffsets = append(t.idOffsets, i+digitOffset)
		i += idLen - 1
	}
	if len(t.idOffsets) != items {
		return nil, fmt.Errorf("template holds %d IDs for %d items", len(t.idOffsets), items)
	}
	for i := 0; i+16 <= len(body); i++ {
		if body[i] == traceMarker[0] && bytes.HasPrefix(body[i:], traceMarker) {
			t.traceOffsets = append(t.traceOffsets, i)
			t.traceIndex = append(t.traceIndex, binary.BigEndian.Uint32(body[i+12:]))
			i += 15
		}
	}
	return t, nil
}

// Render writes the request for send number seq into dst (reusing its capacity) and returns it.
// Item j gets ID seq*Items+j; trace k gets TraceID(seq, k).
func (t *Template) Render(dst []byte, seq uint64) []byte {
	dst = append(dst[:0], t.Body...)
	base := seq * uint64(t.Items)
	for j, off := range t.idOffsets {
		putDigits(dst[off:off+idDigits], base+uint64(j))
	}
	for k, off := range t.traceOffsets {
		id := TraceID(seq, t.traceIndex[k])
		copy(dst[off:off+16], id[:])
	}
	return dst
}

// ItemIDs calls fn with the class and ID number of every item of the request Render(_, seq)
// produces, in encoding order.
func (t *Template) ItemIDs(seq uint64, fn func(Class, uint64)) {
	base := seq * uint64(t.Items)
	for j, off := range t.idOffsets {
		// The class letter sits between the ID prefix and the dash before the digits.
		fn(Class(t.Body[off-2]), base+uint64(j))
	}
}

// TraceID is the trace ID of trace k in send number seq. Logs and traces generated with the same
// send number share it: log record k of logs request seq belongs to trace k of traces request
// seq. Both halves are mixed so samplers reading the low 56 bits see uniform randomness.
func TraceID(seq uint64, k uint32) [16]byte {
	var id [16]byte
	h := splitmix(seq<<20 ^ uint64(k))
	binary.BigEndian.PutUint64(id[:8], h)
	binary.BigEndian.PutUint64(id[8:], splitmix(h))
	return id
}

func placeholderTraceID(k int) [16]byte {
	var id [16]byte
	copy(id[:], traceMarker)
	binary.BigEndian.PutUint32(id[12:], uint32(k))
	return id
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
