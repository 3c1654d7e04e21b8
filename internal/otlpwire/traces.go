package otlpwire // import "github.com/sieveobs/sieve/internal/otlpwire"

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// Span is one span read from the wire; byte slices alias the request.
type Span struct {
	// TraceID is empty or 16 bytes; ParentSpanID empty or 8.
	TraceID      []byte
	ParentSpanID []byte
	TraceState   []byte
	Name         []byte
	// StatusCode is the status's code (0 unset, 1 ok, 2 error).
	StatusCode int32
	attrs      attrs
}

// Attr returns the span attribute named key (the first one, as pdata's Map.Get).
func (s *Span) Attr(key string) Value { return s.attrs.lookup(key) }

func (s *Span) parse(b []byte) error {
	*s = Span{attrs: s.attrs}
	s.attrs.reset()
	statuses := 0
	for len(b) > 0 {
		// The fields every span has, with one-byte tags and short values, take no call.
		if len(b) >= 2 {
			switch b[0] {
			case 0x39, 0x41: // start_time_unix_nano, end_time_unix_nano
				if len(b) >= 9 {
					b = b[9:]
					continue
				}
			case 0x30: // kind
				if b[1] < 0x80 {
					b = b[2:]
					continue
				}
			case 0x0a, 0x12, 0x1a, 0x22, 0x2a, 0x4a: // IDs, tracestate, name, attributes
				if l := int(b[1]); l < 0x80 && l+2 <= len(b) {
					v := b[2 : 2+l]
					switch b[0] {
					case 0x0a:
						if l != 0 && l != 16 {
							return ErrMalformed
						}
						s.TraceID = v
					case 0x12, 0x22:
						if l != 0 && l != 8 {
							return ErrMalformed
						}
						if b[0] == 0x22 {
							s.ParentSpanID = v
						}
					case 0x1a:
						s.TraceState = v
					case 0x2a:
						s.Name = v
					case 0x4a:
						if err := s.attrs.add(v); err != nil {
							return err
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
		want := protowire.BytesType
		switch f.num {
		case 1:
			if len(f.b) != 0 && len(f.b) != 16 {
				return ErrMalformed
			}
			s.TraceID = f.b
		case 2, 4:
			if len(f.b) != 0 && len(f.b) != 8 {
				return ErrMalformed
			}
			if f.num == 4 {
				s.ParentSpanID = f.b
			}
		case 3:
			s.TraceState = f.b
		case 5:
			s.Name = f.b
		case 6, 10, 12, 14:
			want = protowire.VarintType
		case 7, 8:
			want = protowire.Fixed64Type
		case 9:
			if f.typ == want {
				if err := s.attrs.add(f.b); err != nil {
					return err
				}
			}
		case 11:
			if f.typ == want {
				if err := validateMessage(f.b, eventFields); err != nil {
					return err
				}
			}
		case 13:
			if f.typ == want {
				if err := validateMessage(f.b, linkFields); err != nil {
					return err
				}
			}
		case 15:
			if f.typ == want {
				statuses++
				code, err := parseStatus(f.b)
				if err != nil {
					return err
				}
				s.StatusCode = code
			}
		case 16:
			want = protowire.Fixed32Type
		default:
			continue
		}
		if f.typ != want {
			return ErrMalformed
		}
	}
	if statuses > 1 {
		// Two status fields merge in protobuf; the reader does not model the merge.
		s.StatusCode = -1
	}
	return nil
}

// parseStatus reads a Status: message 2, code 3.
func parseStatus(b []byte) (int32, error) {
	var code int32
	for len(b) > 0 {
		f, n, err := next(b)
		if err != nil {
			return 0, err
		}
		b = b[n:]
		switch f.num {
		case 2:
			if f.typ != protowire.BytesType {
				return 0, ErrMalformed
			}
		case 3:
			if f.typ != protowire.VarintType {
				return 0, ErrMalformed
			}
			code = int32(f.v)
		}
	}
	return code, nil
}

// fieldRule is the wire type of a known field, with the byte length an ID must have (0: any)
// and whether it holds a KeyValue.
type fieldRule struct {
	known bool
	typ   protowire.Type
	id    int
	attr  bool
}

// fieldRules holds a message's known fields by number (1 to 7); an unknown field has no rule.
type fieldRules [8]fieldRule

var (
	// Span.Event: time_unix_nano 1, name 2, attributes 3, dropped_attributes_count 4.
	eventFields = &fieldRules{1: {known: true, typ: protowire.Fixed64Type}, 2: {known: true, typ: protowire.BytesType}, 3: {known: true, typ: protowire.BytesType, attr: true}, 4: {known: true, typ: protowire.VarintType}}
	// Span.Link: trace_id 1, span_id 2, trace_state 3, attributes 4, dropped 5, flags 6.
	linkFields = &fieldRules{1: {known: true, typ: protowire.BytesType, id: 16}, 2: {known: true, typ: protowire.BytesType, id: 8}, 3: {known: true, typ: protowire.BytesType}, 4: {known: true, typ: protowire.BytesType, attr: true}, 5: {known: true, typ: protowire.VarintType}, 6: {known: true, typ: protowire.Fixed32Type}}
)

// validateMessage checks a message's known fields against their rules.
func validateMessage(b []byte, rules *fieldRules) error {
	for len(b) > 0 {
		f, n, err := next(b)
		if err != nil {
			return err
		}
		b = b[n:]
		if f.num < 1 || int(f.num) >= len(rules) || !rules[f.num].known {
			continue
		}
		r := rules[f.num]
		if f.typ != r.typ {
			return ErrMalformed
		}
		if r.id > 0 && len(f.b) != 0 && len(f.b) != r.id {
			return ErrMalformed
		}
		if r.attr {
			if _, _, err := readKeyValue(f.b, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// SpansDecider decides the spans of a traces request.
type SpansDecider interface {
	// DropSpan reports whether the span is certainly dropped by the sampler; anything it is
	// unsure of must return false.
	DropSpan(res *Resource, span *Span) bool
}

// SpansFilter is LogsFilter for ExportTraceServiceRequest bytes.
type SpansFilter struct {
	span Span
	d    SpansDecider
	gf   groupFilter
}

// Filter is LogsFilter.Filter for spans.
func (sf *SpansFilter) Filter(dst, req []byte, d SpansDecider) ([]byte, FilterResult, error) {
	sf.d = d
	defer func() { sf.d = nil }()
	return sf.gf.filter(dst, req, sf)
}

func (sf *SpansFilter) decideItem(b []byte, res *Resource) (bool, error) {
	if err := sf.span.parse(b); err != nil {
		return false, err
	}
	return sf.d.DropSpan(res, &sf.span), nil
}
