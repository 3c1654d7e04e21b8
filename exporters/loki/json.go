package loki // import "github.com/sieveobs/sieve/exporters/loki"

import (
	"encoding/base64"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/grafana/loki/pkg/push"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD
// so that the output is always valid JSON.
func appendJSONString(dst []byte, s string) []byte {
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
		r, size := utf8.DecodeRuneInString(s[i:])
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

// appendPushJSON writes req in the JSON body format of Loki's push API:
// {"streams":[{"stream":{...},"values":[["<unix ns>","line",{metadata}]]}]}.
// streamLabels gives each stream's labels as pairs, since the protobuf form
// only keeps the selector string.
func appendPushJSON(dst []byte, req *push.PushRequest, streamLabels [][]label) []byte {
	dst = append(dst, `{"streams":[`...)
	for i, s := range req.Streams {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"stream":{`...)
		for j, l := range streamLabels[i] {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, l.name)
			dst = append(dst, ':')
			dst = appendJSONString(dst, l.value)
		}
		dst = append(dst, `},"values":[`...)
		for j, e := range s.Entries {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `["`...)
			dst = strconv.AppendInt(dst, e.Timestamp.UnixNano(), 10)
			dst = append(dst, `",`...)
			dst = appendJSONString(dst, e.Line)
			if len(e.StructuredMetadata) > 0 {
				dst = append(dst, ",{"...)
				for k, m := range e.StructuredMetadata {
					if k > 0 {
						dst = append(dst, ',')
					}
					dst = appendJSONString(dst, m.Name)
					dst = append(dst, ':')
					dst = appendJSONString(dst, m.Value)
				}
				dst = append(dst, '}')
			}
			dst = append(dst, ']')
		}
		dst = append(dst, "]}"...)
	}
	return append(dst, "]}"...)
}
