// Package otlpwire reads OTLP protobuf requests without decoding them into pdata, so that a
// sampler can decide on the bytes and only the records it keeps are ever materialized.
//
// Readers are strict where pdata is strict (field wire types, lengths, trace and span ID sizes)
// and conservative where the two could disagree: anything they do not model exactly (an unknown
// field inside a value, a value field set twice, the deprecated field 1000 groups) makes the
// record, or the whole request, "unknown", and unknown records are always passed on whole to the
// normal decode.
package otlpwire // import "github.com/sieveobs/sieve/internal/otlpwire"

import (
	"errors"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// ErrMalformed reports bytes that are not a valid OTLP request; the caller then decodes the
// request the normal way so that the client gets the decoder's own error.
var ErrMalformed = errors.New("otlpwire: malformed protobuf")

// errUnsupported reports a request the readers do not model (the deprecated field 1000 groups);
// it too sends the request to the normal decode.
var errUnsupported = errors.New("otlpwire: request shape not supported by the wire reader")

// Kind is the type of an attribute or body value as OTTL sees it.
type Kind uint8

const (
	// KindAbsent: no such attribute (OTTL nil).
	KindAbsent Kind = iota
	// KindEmpty: an AnyValue with no value set (OTTL nil as well).
	KindEmpty
	KindStr
	KindBool
	KindInt
	KindDouble
	// KindOther: bytes, arrays, maps, or a value the reader does not model; predicates on it
	// are unknown.
	KindOther
)

// Value is one AnyValue read from the wire. Str aliases the request bytes.
type Value struct {
	Kind   Kind
	Str    []byte
	Int    int64
	Double float64
	Bool   bool
}

// field is one protobuf field of a message.
type field struct {
	num protowire.Number
	typ protowire.Type
	// v is the varint or fixed value; b the bytes of a length-delimited field.
	v uint64
	b []byte
}

// next reads the field at the start of b and returns it with the number of bytes it used. The
// common case, a length-delimited field under 128 bytes with a one-byte tag, takes no call.
func next(b []byte) (field, int, error) {
	if len(b) >= 2 && b[0] >= 8 && b[0] < 0x80 && b[0]&7 == 2 && b[1] < 0x80 && int(b[1])+2 <= len(b) {
		return field{num: protowire.Number(b[0] >> 3), typ: protowire.BytesType, b: b[2 : 2+int(b[1])]}, 2 + int(b[1]), nil
	}
	return nextSlow(b)
}

func nextSlow(b []byte) (field, int, error) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return field{}, 0, ErrMalformed
	}
	f := field{num: num, typ: typ}
	var m int
	switch typ {
	case protowire.VarintType:
		f.v, m = protowire.ConsumeVarint(b[n:])
	case protowire.Fixed64Type:
		f.v, m = protowire.ConsumeFixed64(b[n:])
	case protowire.Fixed32Type:
		var v32 uint32
		v32, m = protowire.ConsumeFixed32(b[n:])
		f.v = uint64(v32)
	case protowire.BytesType:
		f.b, m = protowire.ConsumeBytes(b[n:])
	default:
		// Groups are not part of OTLP and decoders skip them in different ways: a request with
		// one is left to the normal decode.
		return field{}, 0, ErrMalformed
	}
	if m < 0 {
		return field{}, 0, ErrMalformed
	}
	return f, n + m, nil
}

// parseAnyValue reads an AnyValue. Nested arrays and maps are validated, not read: predicates
// on them are unknown.
func parseAnyValue(b []byte, depth int) (Value, error) {
	v := Value{Kind: KindEmpty}
	seen := 0
	for len(b) > 0 {
		f, n, err := next(b)
		if err != nil {
			return Value{}, err
		}
		b = b[n:]
		seen++
		switch f.num {
		case 1:
			if f.typ != protowire.BytesType {
				return Value{}, ErrMalformed
			}
			v.Kind, v.Str = KindStr, f.b
		case 2:
			if f.typ != protowire.VarintType {
				return Value{}, ErrMalformed
			}
			v.Kind, v.Bool = KindBool, f.v != 0
		case 3:
			if f.typ != protowire.VarintType {
				return Value{}, ErrMalformed
			}
			v.Kind, v.Int = KindInt, int64(f.v)
		case 4:
			if f.typ != protowire.Fixed64Type {
				return Value{}, ErrMalformed
			}
			v.Kind, v.Double = KindDouble, math.Float64frombits(f.v)
		case 5, 6:
			if f.typ != protowire.BytesType {
				return Value{}, ErrMalformed
			}
			if err := validateList(f.b, f.num == 6, depth+1); err != nil {
				return Value{}, err
			}
			v.Kind = KindOther
		case 7:
			if f.typ != protowire.BytesType {
				return Value{}, ErrMalformed
			}
			v.Kind = KindOther
		case 8:
			// string_value_strindex: a string from a profile's dictionary.
			if f.typ != protowire.VarintType {
				return Value{}, ErrMalformed
			}
			v.Kind = KindOther
		default:
			// pdata skips unknown fields; the reader does not guess what that means for the value.
			v.Kind = KindOther
		}
	}
	if seen > 1 {
		// A oneof set twice: the last one wins in pdata; the reader stays out of it.
		v.Kind = KindOther
	}
	return v, nil
}

// maxDepth bounds nested arrays and maps, as pdata's decoder bounds its recursion.
const maxDepth = 100

// validateList checks an ArrayValue (values = 1) or a KeyValueList (values = 1 of KeyValue).
func validateList(b []byte, kv bool, depth int) error {
	if depth > maxDepth {
		return ErrMalformed
	}
	for len(b) > 0 {
		f, n, err := next(b)
		if err != nil {
			return err
		}
		b = b[n:]
		if f.num != 1 {
			continue
		}
		if f.typ != protowire.BytesType {
			return ErrMalformed
		}
		if kv {
			if _, _, err := readKeyValue(f.b, depth); err != nil {
				return err
			}
		} else if _, err := parseAnyValue(f.b, depth); err != nil {
			return err
		}
	}
	return nil
}

// readKeyValue validates a KeyValue and returns its key and value bytes. odd is set when the
// reader cannot tell which key pdata sees: a key or value set twice, or a key_strindex (a key
// from a profile's dictionary, which lookups by name do not see).
func readKeyValue(b []byte, depth int) (e kv, odd bool, err error) {
	n := 0
	for len(b) > 0 {
		f, m, err := next(b)
		if err != nil {
			return kv{}, false, err
		}
		b = b[m:]
		switch f.num {
		case 1:
			if f.typ != protowire.BytesType {
				return kv{}, false, ErrMalformed
			}
			e.key = f.b
			n++
		case 2:
			if f.typ != protowire.BytesType {
				return kv{}, false, ErrMalformed
			}
			if err := validateAnyValue(f.b, depth); err != nil {
				return kv{}, false, err
			}
			e.value = f.b
			n++
		case 3:
			if f.typ != protowire.VarintType {
				return kv{}, false, ErrMalformed
			}
			odd = true
		}
	}
	return e, odd || n > 2, nil
}

// attrs is a message's attribute list: the KeyValue messages in wire order. pdata's Map.Get
// returns the first entry of a key, and so does lookup.
type attrs struct {
	kvs []kv
	// odd is set when an entry sets its key or value twice, which the reader does not model.
	odd bool
}

// kv is one validated KeyValue: its key and its AnyValue's bytes (nil when it has none).
type kv struct{ key, value []byte }

func (a *attrs) reset() { a.kvs, a.odd = a.kvs[:0], false }

// add validates one KeyValue and remembers it.
func (a *attrs) add(b []byte) error {
	// The common case takes no call: a short key and a short scalar value, in either order
	// (pdata writes the value first).
	if len(b) >= 4 && b[1] < 0x80 {
		l1 := int(b[1])
		if j := 2 + l1; j+2 <= len(b) && b[j+1] < 0x80 && j+2+int(b[j+1]) == len(b) {
			f1, f2 := b[2:j], b[j+2:]
			switch {
			case b[0] == 0x0a && b[j] == 0x12 && shortScalar(f2):
				a.kvs = append(a.kvs, kv{key: f1, value: f2})
				return nil
			case b[0] == 0x12 && b[j] == 0x0a && shortScalar(f1):
				a.kvs = append(a.kvs, kv{key: f2, value: f1})
				return nil
			}
		}
	}
	return a.addSlow(b)
}

// shortScalar reports whether an AnyValue is one well-formed scalar field: a string under 128
// bytes, a bool, an int or a double.
func shortScalar(v []byte) bool {
	if len(v) < 2 {
		return false
	}
	switch v[0] {
	case 0x0a:
		return v[1] < 0x80 && int(v[1])+2 == len(v)
	case 0x10, 0x18:
		_, n := protowire.ConsumeVarint(v[1:])
		return n == len(v)-1
	case 0x21:
		return len(v) == 9
	}
	return false
}

func (a *attrs) addSlow(b []byte) error {
	e, odd, err := readKeyValue(b, 0)
	if err != nil {
		return err
	}
	a.odd = a.odd || odd
	a.kvs = append(a.kvs, e)
	return nil
}

// validateAnyValue checks an AnyValue; scalars, the common case, take one field read.
func validateAnyValue(b []byte, depth int) error {
	if len(b) >= 2 && b[0] == 0x0a && b[1] < 0x80 && int(b[1])+2 == len(b) {
		return nil // a short string_value alone
	}
	_, err := parseAnyValue(b, depth)
	return err
}

// lookup returns the first attribute named key.
func (a *attrs) lookup(key string) Value {
	if a.odd {
		return Value{Kind: KindOther}
	}
	for i := range a.kvs {
		e := &a.kvs[i]
		if string(e.key) != key {
			continue
		}
		if e.value == nil {
			return Value{Kind: KindEmpty}
		}
		return scalarValue(e.value)
	}
	return Value{Kind: KindAbsent}
}

// scalarValue reads a validated AnyValue, taking no loop for a lone scalar field.
func scalarValue(v []byte) Value {
	if len(v) >= 2 {
		switch v[0] {
		case 0x0a:
			if int(v[1]) < 0x80 && int(v[1])+2 == len(v) {
				return Value{Kind: KindStr, Str: v[2:]}
			}
		case 0x18:
			if x, n := protowire.ConsumeVarint(v[1:]); n == len(v)-1 {
				return Value{Kind: KindInt, Int: int64(x)}
			}
		}
	}
	val, _ := parseAnyValue(v, 0)
	return val
}
