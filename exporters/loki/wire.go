package loki // import "github.com/sieveobs/sieve/exporters/loki"

import (
	"math"
	"strconv"
	"time"
)

// The push request is written straight into byte buffers instead of being
// built as loki/pkg/push structs and marshalled: those structs hold a string
// and a slice header per line and per structured metadata pair, which cost an
// allocation each, a second copy at marshal time and GC scanning in between.
// The bytes are the ones gogo/protobuf writes for push.PushRequest (same
// field order, zero-valued fields omitted); TestWireGolden holds them to it.
//
//	PushRequest { repeated Stream streams = 1; }
//	Stream      { string labels = 1; repeated Entry entries = 2; }
//	Entry       { Timestamp timestamp = 1; string line = 2; repeated LabelPair structuredMetadata = 3; }
//	LabelPair   { string name = 1; string value = 2; }
//	Timestamp   { int64 seconds = 1; int32 nanos = 2; }
const (
	tagStreams   = 1<<3 | 2 // PushRequest.streams
	tagLabels    = 1<<3 | 2 // Stream.labels
	tagEntries   = 2<<3 | 2 // Stream.entries
	tagTimestamp = 1<<3 | 2 // Entry.timestamp
	tagLine      = 2<<3 | 2 // Entry.line
	tagMetadata  = 3<<3 | 2 // Entry.structuredMetadata
	tagName      = 1<<3 | 2 // LabelPair.name
	tagValue     = 2<<3 | 2 // LabelPair.value
	tagSeconds   = 1 << 3   // Timestamp.seconds, varint
	tagNanos     = 2 << 3   // Timestamp.nanos, varint
)

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func sizeVarint(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// sizeField is the size of a length-delimited field with a one-byte tag.
func sizeField(n int) int { return 1 + sizeVarint(uint64(n)) + n }

// appendBytesField appends a length-delimited field; like gogo, it leaves
// out an empty one.
func appendBytesField[T ~string | ~[]byte](b []byte, tag byte, v T) []byte {
	if len(v) == 0 {
		return b
	}
	b = append(b, tag)
	b = appendVarint(b, uint64(len(v)))
	return append(b, v...)
}

// appendTimestamp appends Entry.timestamp for ns nanoseconds since the epoch,
// as time.Time's Unix and Nanosecond split it (seconds rounded down).
func appendTimestamp(b []byte, ns int64) []byte {
	sec, nanos := ns/1e9, ns%1e9
	if nanos < 0 {
		sec--
		nanos += 1e9
	}
	n := 0
	if sec != 0 {
		n += 1 + sizeVarint(uint64(sec))
	}
	if nanos != 0 {
		n += 1 + sizeVarint(uint64(nanos))
	}
	b = append(b, tagTimestamp, byte(n)) // n <= 17: one byte
	if sec != 0 {
		b = append(b, tagSeconds)
		b = appendVarint(b, uint64(sec))
	}
	if nanos != 0 {
		b = append(b, tagNanos)
		b = appendVarint(b, uint64(nanos))
	}
	return b
}

// appendPair appends one structured metadata pair (Entry field 3).
func appendPair[N, V ~string | ~[]byte](b []byte, name N, value V) []byte {
	n := 0
	if len(name) > 0 {
		n += sizeField(len(name))
	}
	if len(value) > 0 {
		n += sizeField(len(value))
	}
	b = append(b, tagMetadata)
	b = appendVarint(b, uint64(n))
	b = appendBytesField(b, tagName, name)
	return appendBytesField(b, tagValue, value)
}

// consumeField reads one field of a message this package wrote: its tag and,
// for length-delimited fields, the payload (for varints, nil and the value).
// ok is false on malformed input.
func consumeField(b []byte) (tag byte, payload []byte, v uint64, rest []byte, ok bool) {
	if len(b) == 0 {
		return 0, nil, 0, nil, false
	}
	tag, b = b[0], b[1:]
	v, n := consumeVarint(b)
	if n == 0 {
		return 0, nil, 0, nil, false
	}
	b = b[n:]
	if tag&7 != 2 {
		return tag, nil, v, b, true
	}
	if v > uint64(len(b)) {
		return 0, nil, 0, nil, false
	}
	return tag, b[:v], v, b[v:], true
}

func consumeVarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// unixNanos bounds t to what int64 nanoseconds can hold, for the entry age
// and future skew limits: a limit beyond that range lets every entry through.
func unixNanos(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// appendFloat formats f as pcommon.Value.AsString does (ES6 number to
// string), without the string.
func appendFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 becomes e-9.
		s := b[start:]
		if n := len(s); n >= 4 && s[n-4] == 'e' && s[n-3] == '-' && s[n-2] == '0' {
			s[n-2] = s[n-1]
			b = b[:len(b)-1]
		}
	}
	return b
}
