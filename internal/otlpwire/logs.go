package otlpwire // import "github.com/sieveobs/sieve/internal/otlpwire"

import (
	"encoding/binary"

	"google.golang.org/protobuf/encoding/protowire"
)

// Resource is the resource of the records being decided.
type Resource struct {
	attrs attrs
	seq   uint64
}

// Seq numbers the resources of a filter's life: deciders cache what they derive from a resource
// under it.
func (r *Resource) Seq() uint64 { return r.seq }

// Attr returns the resource attribute named key (the first one, as pdata's Map.Get).
func (r *Resource) Attr(key string) Value { return r.attrs.lookup(key) }

func (r *Resource) parse(b []byte) error {
	for len(b) > 0 {
		f, n, err := next(b)
		if err != nil {
			return err
		}
		b = b[n:]
		switch f.num {
		case 1:
			if f.typ != protowire.BytesType {
				return ErrMalformed
			}
			if err := r.attrs.add(f.b); err != nil {
				return err
			}
		case 2:
			if f.typ != protowire.VarintType {
				return ErrMalformed
			}
		case 3:
			if f.typ != protowire.BytesType {
				return ErrMalformed
			}
			if err := validateMessage(f.b, entityRefFields); err != nil {
				return err
			}
		}
	}
	return nil
}

// EntityRef: schema_url 1, type 2, id_keys 3, description_keys 4.
var entityRefFields = &fieldRules{1: {known: true, typ: protowire.BytesType}, 2: {known: true, typ: protowire.BytesType}, 3: {known: true, typ: protowire.BytesType}, 4: {known: true, typ: protowire.BytesType}}

// LogRecord is one log record read from the wire; byte slices alias the request.
type LogRecord struct {
	// Time and ObservedTime are time_unix_nano and observed_time_unix_nano.
	Time, ObservedTime uint64
	SeverityNumber     int64
	SeverityText       []byte
	Flags              uint32
	// TraceID is empty or 16 bytes.
	TraceID []byte
	// Body is the body's value (KindAbsent when the record has none).
	Body  Value
	attrs attrs
}

// Attr returns the record attribute named key (the first one, as pdata's Map.Get).
func (r *LogRecord) Attr(key string) Value { return r.attrs.lookup(key) }

func (r *LogRecord) parse(b []byte) error {
	r.Time, r.ObservedTime = 0, 0
	r.SeverityNumber, r.SeverityText, r.Flags, r.TraceID = 0, nil, 0, nil
	r.Body = Value{Kind: KindAbsent}
	r.attrs.reset()
	bodies := 0
	for len(b) > 0 {
		// The fields every record has, with one-byte tags and short values, take no call.
		if len(b) >= 2 {
			switch b[0] {
			case 0x09, 0x59: // time_unix_nano, observed_time_unix_nano
				if len(b) >= 9 {
					v := binary.LittleEndian.Uint64(b[1:9])
					if b[0] == 0x09 {
						r.Time = v
					} else {
						r.ObservedTime = v
					}
					b = b[9:]
					continue
				}
			case 0x45: // flags
				if len(b) >= 5 {
					r.Flags = uint32(b[1]) | uint32(b[2])<<8 | uint32(b[3])<<16 | uint32(b[4])<<24
					b = b[5:]
					continue
				}
			case 0x10: // severity_number
				if b[1] < 0x80 {
					r.SeverityNumber = int64(b[1])
					b = b[2:]
					continue
				}
			case 0x1a, 0x32, 0x4a, 0x52, 0x62: // severity_text, attributes, trace_id, span_id, event_name
				if l := int(b[1]); l < 0x80 && l+2 <= len(b) {
					v := b[2 : 2+l]
					switch b[0] {
					case 0x1a:
						r.SeverityText = v
					case 0x32:
						if err := r.attrs.add(v); err != nil {
							return err
						}
					case 0x4a:
						if l != 0 && l != 16 {
							return ErrMalformed
						}
						r.TraceID = v
					case 0x52:
						if l != 0 && l != 8 {
							return ErrMalformed
						}
					}
					b = b[2+l:]
					continue
				}
			}
		}
		f, n, err := next(b)
		if err != nil {
			return err
		}
		b = b[n:]
		want := protowire.Type(-1)
		switch f.num {
		case 1, 11: // time_unix_nano, observed_time_unix_nano
			want = protowire.Fixed64Type
			if f.num == 1 {
				r.Time = f.v
			} else {
				r.ObservedTime = f.v
			}
		case 2:
			want = protowire.VarintType
			r.SeverityNumber = int64(int32(f.v))
		case 3:
			want = protowire.BytesType
			r.SeverityText = f.b
		case 5:
			want = protowire.BytesType
			if f.typ == want {
				bodies++
				if r.Body, err = parseAnyValue(f.b, 0); err != nil {
					return err
				}
			}
		case 6:
			want = protowire.BytesType
			if f.typ == want {
				if err := r.attrs.add(f.b); err != nil {
					return err
				}
			}
		case 7:
			want = protowire.VarintType
		case 8:
			want = protowire.Fixed32Type
			r.Flags = uint32(f.v)
		case 9:
			want = protowire.BytesType
			if len(f.b) != 0 && len(f.b) != 16 {
				return ErrMalformed
			}
			r.TraceID = f.b
		case 10:
			want = protowire.BytesType
			if len(f.b) != 0 && len(f.b) != 8 {
				return ErrMalformed
			}
		case 12:
			want = protowire.BytesType
		default:
			continue
		}
		if f.typ != want {
			return ErrMalformed
		}
	}
	if bodies > 1 {
		// Two body fields merge in protobuf; the reader does not model the merge.
		r.Body = Value{Kind: KindOther}
	}
	return nil
}
