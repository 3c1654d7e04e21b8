package prometheusremotewrite // import "github.com/sieveobs/sieve/exporters/prometheusremotewrite"

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// unitSuffixes maps UCUM units to the Prometheus base-unit words used as
// name suffixes, following the OpenTelemetry compatibility specification.
var unitSuffixes = map[string]string{
	"d":    "days",
	"h":    "hours",
	"min":  "minutes",
	"s":    "seconds",
	"ms":   "milliseconds",
	"us":   "microseconds",
	"ns":   "nanoseconds",
	"By":   "bytes",
	"KiBy": "kibibytes",
	"MiBy": "mebibytes",
	"GiBy": "gibibytes",
	"TiBy": "tibibytes",
	"KBy":  "kilobytes",
	"MBy":  "megabytes",
	"GBy":  "gigabytes",
	"TBy":  "terabytes",
	"m":    "meters",
	"V":    "volts",
	"A":    "amperes",
	"J":    "joules",
	"W":    "watts",
	"g":    "grams",
	"Cel":  "celsius",
	"Hz":   "hertz",
	"%":    "percent",
}

var perUnitSuffixes = map[string]string{
	"s":  "second",
	"m":  "minute",
	"h":  "hour",
	"d":  "day",
	"w":  "week",
	"mo": "month",
	"y":  "year",
}

func isNameRune(r rune, first bool) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_', r == ':':
		return true
	case r >= '0' && r <= '9':
		return !first
	}
	return false
}

func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !isNameRune(r, i == 0) {
			return false
		}
	}
	return true
}

func validLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == ':' || !isNameRune(r, i == 0) {
			return false
		}
	}
	return true
}

// nameTokens splits an OpenTelemetry name into the alphanumeric words that
// the Prometheus name is built from, so that "http.server.duration" and
// "http__server-duration" both become http_server_duration.
func nameTokens(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == ':')
	})
}

func unitTokens(unit string) (main, per string) {
	// Annotations such as {request} carry no unit information.
	if i := strings.IndexByte(unit, '{'); i >= 0 {
		unit = unit[:i]
	}
	unit = strings.TrimSpace(unit)
	if unit == "" {
		return "", ""
	}
	m, p, hasPer := strings.Cut(unit, "/")
	if s, ok := unitSuffixes[m]; ok {
		main = s
	} else if m != "1" {
		main = strings.Join(nameTokens(m), "_")
	}
	if hasPer {
		if s, ok := perUnitSuffixes[p]; ok {
			per = s
		} else {
			per = strings.Join(nameTokens(p), "_")
		}
	}
	return main, per
}

func containsToken(tokens []string, t string) bool {
	for _, x := range tokens {
		if x == t {
			return true
		}
	}
	return false
}

// isCounter reports whether the metric maps to a Prometheus counter, which
// is what earns the _total suffix.
func isCounter(m pmetric.Metric) bool {
	return m.Type() == pmetric.MetricTypeSum && m.Sum().IsMonotonic()
}

// metricName builds the Prometheus metric family name for an OpenTelemetry
// metric: sanitised words, optional namespace, unit suffix, "_ratio" for
// dimensionless gauges and "_total" for counters.
func metricName(m pmetric.Metric, namespace string, addSuffixes bool) string {
	tokens := nameTokens(m.Name())
	if addSuffixes {
		if isCounter(m) {
			// "total" is re-added as the last word below.
			out := tokens[:0:0]
			for _, t := range tokens {
				if t != "total" {
					out = append(out, t)
				}
			}
			tokens = out
		}
		main, per := unitTokens(m.Unit())
		if main != "" && !containsToken(tokens, main) {
			tokens = append(tokens, main)
		}
		if per != "" && !containsToken(tokens, per) {
			tokens = append(tokens, "per", per)
		}
		if m.Unit() == "1" && m.Type() == pmetric.MetricTypeGauge && !containsToken(tokens, "ratio") {
			tokens = append(tokens, "ratio")
		}
		if isCounter(m) {
			tokens = append(tokens, "total")
		}
	}
	name := strings.Join(tokens, "_")
	if namespace != "" {
		name = namespace + "_" + name
	}
	if name != "" && name[0] >= '0' && name[0] <= '9' {
		name = "_" + name
	}
	return name
}

// labelName sanitises an attribute key into a Prometheus label name.
// Invalid characters become "_", a leading digit gets a "key_" prefix and a
// leading underscore gets a "key" prefix, since names starting with "__" are
// reserved for Prometheus itself and must not be injectable from data.
func labelName(key string) string {
	valid := true
	for i, r := range key {
		if r == ':' || !isNameRune(r, i == 0) {
			valid = false
			break
		}
	}
	if valid && !strings.HasPrefix(key, "_") {
		return key
	}
	var b strings.Builder
	b.Grow(len(key) + 4)
	for _, r := range key {
		if r == ':' || !isNameRune(r, false) {
			b.WriteByte('_')
		} else {
			b.WriteRune(r)
		}
	}
	s := b.String()
	switch {
	case s == "":
		return ""
	case s[0] >= '0' && s[0] <= '9':
		return "key_" + s
	case s[0] == '_':
		return "key" + s
	}
	return s
}
