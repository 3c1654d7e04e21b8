package loki // import "github.com/sieveobs/sieve/exporters/loki"

import (
	"encoding/base64"
	"math"
	"strconv"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD
// so that the output is always valid JSON.
func appendJSONString[T ~string | ~[]byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"':
				dst = append(dst, `\"`...)
			case '\\':
				dst = append(dst, `\\`...)
			case '\n':
				dst = append(dst, `\n`...)
			case '\r':
				dst = append(dst, `\r`...)
			case '\t':
				dst = append(dst, `\t`...)
			default:
				dst = append(dst, `\u00`...)
				dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		// At most UTFMax bytes: a conversion that stays on the stack.
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendJSONMap(dst []byte, m pcommon.Map) []byte {
	dst = append(dst, '{')
	first := true
	m.Range(func(k string, v pcommon.Value) bool {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = appendJSONValue(dst, v)
		return true
	})
	return append(dst, '}')
}

func appendJSONValue(dst []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return appendJSONString(dst, v.Str())
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(dst, v.Int(), 10)
	case pcommon.ValueTypeDouble:
		f := v.Double()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			// JSON has no NaN or Inf; keep them readable as strings.
			return appendJSONString(dst, strconv.FormatFloat(f, 'g', -1, 64))
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64)
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(dst, v.Bool())
	case pcommon.ValueTypeMap:
		return appendJSONMap(dst, v.Map())
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		dst = append(dst, '[')
		for i := 0; i < s.Len(); i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONValue(dst, s.At(i))
		}
		return append(dst, ']')
	case pcommon.ValueTypeBytes:
		return appendJSONString(dst, base64.StdEncoding.EncodeToString(v.Bytes().AsRaw()))
	default:
		return append(dst, "null"...)
	}
}

// appendPushJSON writes tb in the JSON body format of Loki's push API:
// {"streams":[{"stream":{...},"values":[["<unix ns>","line",{metadata}]]}]},
// reading lines and metadata back from the encoded entries.
func appendPushJSON(dst []byte, tb *tenantBatch) []byte {
	dst = append(dst, `{"streams":[`...)
	for i := range tb.streams {
		s := &tb.streams[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"stream":{`...)
		for j, l := range s.labels {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, l.name)
			dst = append(dst, ':')
			dst = appendJSONString(dst, l.value)
		}
		dst = append(dst, `},"values":[`...)
		for j, e := range s.entries {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `["`...)
			dst = strconv.AppendInt(dst, e.ts, 10)
			dst = append(dst, `",`...)
			dst = appendEntryJSON(dst, tb.buf[e.off:e.end])
			dst = append(dst, ']')
		}
		dst = append(dst, "]}"...)
	}
	return append(dst, "]}"...)
}

// appendEntryJSON writes the line and the structured metadata of one
// encoded Entry: "line" or "line",{"name":"value",...}.
func appendEntryJSON(dst []byte, entry []byte) []byte {
	var line []byte
	metadata := 0
	for rest := entry; len(rest) > 0; {
		tag, payload, _, next, ok := consumeField(rest)
		if !ok {
			break // cannot happen: the converter wrote it
		}
		rest = next
		switch tag {
		case tagLine:
			line = payload
		case tagMetadata:
			metadata++
		}
	}
	dst = appendJSONString(dst, line)
	if metadata == 0 {
		return dst
	}
	dst = append(dst, ",{"...)
	first := true
	for rest := entry; len(rest) > 0; {
		tag, payload, _, next, ok := consumeField(rest)
		if !ok {
			break
		}
		rest = next
		if tag != tagMetadata {
			continue
		}
		var name, value []byte
		for p := payload; len(p) > 0; {
			t, v, _, n, ok := consumeField(p)
			if !ok {
				break
			}
			p = n
			switch t {
			case tagName:
				name = v
			case tagValue:
				value = v
			}
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, name)
		dst = append(dst, ':')
		dst = appendJSONString(dst, value)
	}
	return append(dst, '}')
}
