package prometheusremotewrite // import "github.com/sieveobs/sieve/exporters/prometheusremotewrite"

import (
	"strings"

	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Metric and label names come from prometheus/otlptranslator, the naming Prometheus' own OTLP
// receiver uses, with its translation strategies. Sieve adds one rule to label names: a name that
// starts with "_" gets a "key" prefix, because names starting with "__" are reserved for
// Prometheus itself and must not be injectable from data (otlptranslator keeps "__name__" and
// "_x" as they are).

// strategy is the translation strategy in force: translation_strategy, else the one
// add_metric_suffixes selects.
func strategy(cfg *Config) otlptranslator.TranslationStrategyOption {
	if cfg.TranslationStrategy != "" {
		return otlptranslator.TranslationStrategyOption(cfg.TranslationStrategy)
	}
	if cfg.AddMetricSuffixes {
		return otlptranslator.UnderscoreEscapingWithSuffixes
	}
	return otlptranslator.UnderscoreEscapingWithoutSuffixes
}

var translationStrategies = []string{
	string(otlptranslator.UnderscoreEscapingWithSuffixes),
	string(otlptranslator.UnderscoreEscapingWithoutSuffixes),
	string(otlptranslator.NoUTF8EscapingWithSuffixes),
	string(otlptranslator.NoTranslation),
}

// isCounter reports whether the metric maps to a Prometheus counter, which
// is what earns the _total suffix.
func isCounter(m pmetric.Metric) bool {
	return m.Type() == pmetric.MetricTypeSum && m.Sum().IsMonotonic()
}

func translatorType(m pmetric.Metric) otlptranslator.MetricType {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return otlptranslator.MetricTypeGauge
	case pmetric.MetricTypeSum:
		if m.Sum().IsMonotonic() {
			return otlptranslator.MetricTypeMonotonicCounter
		}
		return otlptranslator.MetricTypeNonMonotonicCounter
	case pmetric.MetricTypeHistogram:
		return otlptranslator.MetricTypeHistogram
	case pmetric.MetricTypeExponentialHistogram:
		return otlptranslator.MetricTypeExponentialHistogram
	case pmetric.MetricTypeSummary:
		return otlptranslator.MetricTypeSummary
	}
	return otlptranslator.MetricTypeUnknown
}

// metricName builds the Prometheus metric family name of an OpenTelemetry metric; "" when
// nothing is left of the name (the caller counts the drop).
func metricName(namer *otlptranslator.MetricNamer, m pmetric.Metric) string {
	name, err := namer.Build(otlptranslator.Metric{Name: m.Name(), Unit: m.Unit(), Type: translatorType(m)})
	if err != nil {
		return ""
	}
	return name
}

// labelName turns an attribute key into a Prometheus label name; "" for an empty key.
func labelName(namer *otlptranslator.LabelNamer, key string) string {
	if key == "" {
		return ""
	}
	name, err := namer.Build(key)
	if err != nil {
		// Nothing valid was left of the key (e.g. only non-ASCII letters): keep the attribute
		// under a name that cannot clash with a reserved one.
		return "key_"
	}
	if strings.HasPrefix(name, "_") {
		return "key" + name
	}
	return name
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

// validMetricName and validLabelName check names given in the configuration (namespace,
// external labels) against Prometheus' classic character set.
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
