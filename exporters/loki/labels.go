package loki // import "github.com/sieveobs/sieve/exporters/loki"

import (
	"strings"
	"unicode/utf8"
)

// SanitizeLabelName maps an attribute key to a name Loki accepts:
// [a-zA-Z_][a-zA-Z0-9_]*, never starting with the reserved "__" prefix.
// Every other byte becomes '_' (service.name -> service_name), and a leading
// digit gets a '_' prefix, as Loki's own OTLP ingestion does.
func SanitizeLabelName(key string) string {
	if key == "" {
		return "_"
	}
	if isValidLabelName(key) {
		return key
	}
	var b strings.Builder
	b.Grow(len(key) + 1)
	if key[0] >= '0' && key[0] <= '9' {
		b.WriteByte('_')
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if isLabelByte(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	// The "__" prefix is reserved for Loki's internal labels; keep one '_'.
	if strings.HasPrefix(s, "__") {
		s = "_" + strings.TrimLeft(s, "_")
		if s == "_" {
			return s
		}
	}
	return s
}

// appendLabelName appends SanitizeLabelName(key) to dst without building the
// string, for structured metadata names written straight to the wire.
func appendLabelName(dst []byte, key string) []byte {
	if key == "" {
		return append(dst, '_')
	}
	start := len(dst)
	if key[0] >= '0' && key[0] <= '9' {
		dst = append(dst, '_')
	}
	// Copy, then patch: keys are short and mostly valid but for a '.'.
	from := len(dst)
	dst = append(dst, key...)
	for i := from; i < len(dst); i++ {
		if !labelBytes[dst[i]] {
			dst[i] = '_'
		}
	}
	// The "__" prefix is reserved: keep one '_'.
	s := dst[start:]
	if len(s) >= 2 && s[0] == '_' && s[1] == '_' {
		j := 2
		for j < len(s) && s[j] == '_' {
			j++
		}
		n := copy(s[1:], s[j:])
		dst = dst[:start+1+n]
	}
	return dst
}

// labelBytes marks the bytes a label name may hold.
var labelBytes = func() (t [256]bool) {
	for c := range t {
		t[c] = isLabelByte(byte(c))
	}
	return t
}()

func isLabelByte(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

func isValidLabelName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') || strings.HasPrefix(s, "__") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLabelByte(s[i]) {
			return false
		}
	}
	return true
}

// sanitizeLabelValue makes a value valid UTF-8, which Loki requires of
// label and structured metadata values.
func sanitizeLabelValue(v string) string {
	if utf8.ValidString(v) {
		return v
	}
	return strings.ToValidUTF8(v, "\uFFFD")
}

// label is one name/value pair of a stream selector.
type label struct {
	name, value string
}

// appendLabelsString writes labels, already sorted by name, in the
// Prometheus selector syntax Loki parses: {a="x", b="y"}.
func appendLabelsString(dst []byte, ls []label) []byte {
	dst = append(dst, '{')
	for i, l := range ls {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = append(dst, l.name...)
		dst = append(dst, '=')
		dst = appendQuoted(dst, l.value)
	}
	return append(dst, '}')
}

// appendQuoted escapes only what the selector parser needs, which keeps the
// value byte-identical to what LogQL queries compare against.
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			// The selector lexer refuses a raw U+FFFD (it cannot tell it
			// from a decoding error), so it travels escaped.
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				start = i + size
			}
			i += size - 1
			continue
		}
		var esc string
		switch c {
		case '"':
			esc = `\"`
		case '\\':
			esc = `\\`
		case '\n':
			esc = `\n`
		case '\r':
			esc = `\r`
		case '\t':
			esc = `\t`
		default:
			if c < 0x20 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\x`...)
				dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
				start = i + 1
			}
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, esc...)
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"
