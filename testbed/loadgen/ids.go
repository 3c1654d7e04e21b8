// Package loadgen generates OTLP logs, traces and metrics for Sieve's benchmarks and correctness
// runs. Requests are encoded once; each send only patches item IDs and trace IDs into a copy of
// the encoded bytes, so the generator stays far cheaper than the collector it measures.
//
// Every item carries the attribute sieve.test.id whose value is "sid-<class>-<16 digits>": the
// class letter says what a sampling pipeline must do with the item, the digits are unique per
// item in a run. The value is self-delimiting so a sink can find it in any encoding (OTLP
// attributes, Loki log lines, JSON, logfmt).
package loadgen

import "fmt"

// IDAttribute is the item attribute carrying the item's ID.
const IDAttribute = "sieve.test.id"

// Class says what a pipeline is expected to do with an item.
type Class byte

const (
	// ClassKeep marks items every pipeline must deliver exactly once: error and fatal logs, logs
	// with a 5xx status, spans of traces holding an error.
	ClassKeep Class = 'k'
	// ClassWarn marks warn logs without a 5xx status.
	ClassWarn Class = 'w'
	// ClassInfo marks info and debug logs without a 5xx status.
	ClassInfo Class = 'i'
	// ClassNoUID marks logs whose resource lacks the uid attribute.
	ClassNoUID Class = 'd'
	// ClassSampled marks spans of traces without errors.
	ClassSampled Class = 's'
	// ClassPlain marks metric data points, which no pipeline samples.
	ClassPlain Class = 'p'
)

// Classes lists every class in a stable order for reports.
var Classes = []Class{ClassKeep, ClassWarn, ClassInfo, ClassNoUID, ClassSampled, ClassPlain}

func (c Class) String() string {
	switch c {
	case ClassKeep:
		return "keep"
	case ClassWarn:
		return "warn"
	case ClassInfo:
		return "info"
	case ClassNoUID:
		return "no_uid"
	case ClassSampled:
		return "sampled"
	case ClassPlain:
		return "plain"
	}
	return fmt.Sprintf("class(%c)", byte(c))
}

const (
	idPrefix    = "sid-"
	idDigits    = 16
	idLen       = len(idPrefix) + 2 + idDigits
	digitOffset = len(idPrefix) + 2
)

// FormatID returns the attribute value for an item.
func FormatID(c Class, n uint64) string {
	return fmt.Sprintf("%s%c-%0*d", idPrefix, byte(c), idDigits, n)
}

// ParseID decodes an attribute value written by FormatID.
func ParseID(s string) (Class, uint64, bool) {
	if len(s) != idLen || s[:len(idPrefix)] != idPrefix || s[len(idPrefix)+1] != '-' {
		return 0, 0, false
	}
	n, ok := parseDigits(s[digitOffset:])
	return Class(s[len(idPrefix)]), n, ok
}

// ScanIDs calls fn for every ID found anywhere in b, e.g. inside a Loki log line.
func ScanIDs(b []byte, fn func(Class, uint64)) {
	scanIDs(b, func(c Class, n uint64) bool { fn(c, n); return true })
}

func parseDigits(s string) (uint64, bool) {
	var n uint64
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			return 0, false
		}
		n = n*10 + uint64(d)
	}
	return n, true
}

func putDigits(dst []byte, n uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = byte('0' + n%10)
		n /= 10
	}
}

// FirstID returns the first ID found in b.
func FirstID(b []byte) (Class, uint64, bool) {
	var (
		c     Class
		n     uint64
		found bool
	)
	scanIDs(b, func(cl Class, v uint64) bool {
		c, n, found = cl, v, true
		return false
	})
	return c, n, found
}

func scanIDs(b []byte, fn func(Class, uint64) bool) {
	for i := 0; i+idLen <= len(b); i++ {
		if b[i] != 's' || string(b[i:i+len(idPrefix)]) != idPrefix {
			continue
		}
		if c, n, ok := ParseID(string(b[i : i+idLen])); ok {
			if !fn(c, n) {
				return
			}
			i += idLen - 1
		}
	}
}
