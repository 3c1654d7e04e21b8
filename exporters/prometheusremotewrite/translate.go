package prometheusremotewrite // import "github.com/sieveobs/sieve/exporters/prometheusremotewrite"

import (
	"encoding/hex"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/otlptranslator"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

const (
	nameLabel     = "__name__"
	jobLabel      = "job"
	instanceLabel = "instance"
	targetInfo    = "target_info"

	// Prometheus refuses exemplars whose label names and values together
	// exceed this many runes.
	maxExemplarRunes = 128

	// Drop reasons used in the samples_dropped counter.
	reasonEmptyName        = "empty_metric_name"
	reasonUnsupportedType  = "unsupported_metric_type"
	reasonInvalidHistogram = "invalid_histogram"
	reasonUnsupportedScale = "unsupported_exponential_scale"
	reasonDuplicateTS      = "duplicate_timestamp"
	reasonExemplarTooLong  = "exemplar_labels_too_long"
	reasonRejected         = "rejected"
	reasonUnsupportedMedia = "unsupported_media_type"
	reasonMarshal          = "marshal_error"
)

const (
	// Native histogram schemas Prometheus accepts; finer OpenTelemetry scales
	// are merged down, coarser ones cannot be represented.
	minNativeSchema = -4
	maxNativeSchema = 8
)

var (
	// normalNaN and staleNaN are the bit patterns Prometheus uses to tell a
	// real NaN value from a staleness marker.
	normalNaN = math.Float64frombits(0x7ff8000000000001)
	staleNaN  = math.Float64frombits(0x7ff0000000000002)
)

// translator turns pdata into series. It holds no per-push state besides
// the batch it writes into.
type translator struct {
	// names caches metric family names, which are costly to build and
	// repeat in every batch. It is reset when it grows past maxNameCache.
	names       map[nameKey]*familyNames
	metricNamer otlptranslator.MetricNamer
	labelNamer  otlptranslator.LabelNamer
	// labels caches label names: they are built for every attribute of every point. It is reset
	// when it grows past maxNameCache.
	labels         map[string]string
	targetInfo     bool
	exemplars      bool
	externalLabels []label
}

type nameKey struct {
	name, unit string
	typ        pmetric.MetricType
	monotonic  bool
}

type familyNames struct {
	base, bucket, sum, count string
}

const maxNameCache = 50_000

func (t *translator) familyNames(m pmetric.Metric) *familyNames {
	k := nameKey{name: m.Name(), unit: m.Unit(), typ: m.Type(), monotonic: isCounter(m)}
	if n, ok := t.names[k]; ok {
		return n
	}
	if len(t.names) >= maxNameCache {
		clear(t.names)
	}
	base := metricName(&t.metricNamer, m)
	n := &familyNames{base: base}
	if base != "" {
		n.bucket, n.sum, n.count = base+"_bucket", base+"_sum", base+"_count"
	}
	t.names[k] = n
	return n
}

// labelName is labelName through the cache.
func (t *translator) labelName(key string) string {
	if n, ok := t.labels[key]; ok {
		return n
	}
	if len(t.labels) >= maxNameCache {
		clear(t.labels)
	}
	n := labelName(&t.labelNamer, key)
	t.labels[key] = n
	return n
}

func newTranslator(cfg *Config) *translator {
	t := &translator{
		names:       make(map[nameKey]*familyNames),
		metricNamer: otlptranslator.NewMetricNamer(cfg.Namespace, strategy(cfg)),
		labelNamer:  otlptranslator.LabelNamer{UTF8Allowed: !strategy(cfg).ShouldEscape()},
		labels:      make(map[string]string),
		targetInfo:  cfg.TargetInfo.Enabled,
		exemplars:   cfg.SendExemplars,
	}
	for k, v := range cfg.ExternalLabels {
		t.externalLabels = append(t.externalLabels, label{Name: k, Value: v})
	}
	slices.SortFunc(t.externalLabels, func(a, b label) int { return strings.Compare(a.Name, b.Name) })
	return t
}

// resourceLabels derives job and instance from the service attributes, the
// same way Prometheus' own OTLP receiver does, so that data arriving either
// way joins against target_info identically.
func resourceLabels(res pcommon.Resource) (job, instance string) {
	attrs := res.Attributes()
	if v, ok := attrs.Get("service.name"); ok {
		job = v.AsString()
		if ns, ok := attrs.Get("service.namespace"); ok && ns.AsString() != "" {
			job = ns.AsString() + "/" + job
		}
	}
	if v, ok := attrs.Get("service.instance.id"); ok {
		instance = v.AsString()
	}
	return job, instance
}

func isIdentifyingAttr(k string) bool {
	return k == "service.name" || k == "service.namespace" || k == "service.instance.id"
}

func toMillis(ts pcommon.Timestamp) int64 { return int64(ts) / 1e6 }

// cleanValue keeps real NaNs from being mistaken for staleness markers.
func cleanValue(v float64) float64 {
	if math.IsNaN(v) {
		return normalNaN
	}
	return v
}

// translate appends the series of md to b.
func (t *translator) translate(md pmetric.Metrics, b *batch) {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		t.translateResource(rms.At(i), b)
	}
}

func (t *translator) translateResource(rm pmetric.ResourceMetrics, b *batch) {
	job, instance := resourceLabels(rm.Resource())
	var base []label
	if job != "" {
		base = append(base, label{Name: jobLabel, Value: job})
	}
	if instance != "" {
		base = append(base, label{Name: instanceLabel, Value: instance})
	}
	var latest int64
	sms := rm.ScopeMetrics()
	for j := 0; j < sms.Len(); j++ {
		ms := sms.At(j).Metrics()
		for k := 0; k < ms.Len(); k++ {
			if ts := t.translateMetric(ms.At(k), base, b, -1); ts > latest {
				latest = ts
			}
		}
	}
	if t.targetInfo && latest > 0 {
		t.addTargetInfo(rm.Resource(), base, latest, b)
	}
}

func (t *translator) addTargetInfo(res pcommon.Resource, base []label, ts int64, b *batch) {
	ls := b.scratch[:0]
	ls = append(ls, label{Name: nameLabel, Value: targetInfo})
	ls = append(ls, base...)
	n := 0
	for k, v := range res.Attributes().All() {
		if isIdentifyingAttr(k) {
			continue
		}
		ls = append(ls, label{Name: t.labelName(k), Value: v.AsString()})
		n++
	}
	if n == 0 {
		b.scratch = ls
		return
	}
	ls = t.finishLabels(ls)
	b.scratch = ls
	s := b.get(ls, writev2.Metadata_METRIC_TYPE_GAUGE, "Target metadata", "")
	s.samples = append(s.samples, sample{Value: 1, Timestamp: ts})
}

// finishLabels sorts, merges colliding names (joining values with ";" in
// attribute order, as the OpenTelemetry specification asks) and applies the
// external labels, which win over data labels.
func (t *translator) finishLabels(ls []label) []label {
	for _, el := range t.externalLabels {
		replaced := false
		for i := range ls {
			if ls[i].Name == el.Name {
				ls[i].Value = el.Value
				replaced = true
			}
		}
		if !replaced {
			ls = append(ls, el)
		}
	}
	slices.SortStableFunc(ls, func(a, b label) int { return strings.Compare(a.Name, b.Name) })
	out := ls[:0]
	for _, l := range ls {
		if l.Value == "" || l.Name == "" {
			continue
		}
		if n := len(out); n > 0 && out[n-1].Name == l.Name {
			if out[n-1].Value != l.Value {
				out[n-1].Value += ";" + l.Value
			}
			continue
		}
		out = append(out, l)
	}
	return out
}

// pointLabels builds the sorted label set for one data point in b.scratch.
func (t *translator) pointLabels(b *batch, name string, base []label, attrs pcommon.Map, extraName, extraValue string) []label {
	ls := b.scratch[:0]
	ls = append(ls, label{Name: nameLabel, Value: name})
	for k, v := range attrs.All() {
		ln := t.labelName(k)
		if ln == nameLabel || ln == "" {
			continue
		}
		ls = append(ls, label{Name: ln, Value: v.AsString()})
	}
	// job and instance from the resource win over data point attributes of
	// the same name, so target_info always joins.
	for _, bl := range base {
		for i := range ls {
			if ls[i].Name == bl.Name {
				ls[i].Value = ""
			}
		}
		ls = append(ls, bl)
	}
	if extraName != "" {
		ls = append(ls, label{Name: extraName, Value: extraValue})
	}
	ls = t.finishLabels(ls)
	b.scratch = ls
	return ls
}

func metricType(m pmetric.Metric) writev2.Metadata_MetricType {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return writev2.Metadata_METRIC_TYPE_GAUGE
	case pmetric.MetricTypeSum:
		if m.Sum().IsMonotonic() {
			return writev2.Metadata_METRIC_TYPE_COUNTER
		}
		return writev2.Metadata_METRIC_TYPE_GAUGE
	case pmetric.MetricTypeHistogram, pmetric.MetricTypeExponentialHistogram:
		return writev2.Metadata_METRIC_TYPE_HISTOGRAM
	case pmetric.MetricTypeSummary:
		return writev2.Metadata_METRIC_TYPE_SUMMARY
	}
	return writev2.Metadata_METRIC_TYPE_UNSPECIFIED
}

// translateMetric appends the series of one metric and returns the latest
// timestamp seen (ms). When only >= 0, only that data point is translated;
// the exporter uses this to find which points fell into failed shards.
func (t *translator) translateMetric(m pmetric.Metric, base []label, b *batch, only int) int64 {
	fn := t.familyNames(m)
	name := fn.base
	if name == "" {
		b.drop(reasonEmptyName, int64(dataPointCount(m)))
		return 0
	}
	mt := metricType(m)
	help, unit := m.Description(), m.Unit()
	var latest int64
	track := func(ts int64) {
		if ts > latest {
			latest = ts
		}
	}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		dps := m.Gauge().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			if only < 0 || only == i {
				track(t.number(b, name, base, dps.At(i), mt, help, unit))
			}
		}
	case pmetric.MetricTypeSum:
		dps := m.Sum().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			if only < 0 || only == i {
				track(t.number(b, name, base, dps.At(i), mt, help, unit))
			}
		}
	case pmetric.MetricTypeHistogram:
		dps := m.Histogram().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			if only < 0 || only == i {
				track(t.histogram(b, fn, base, dps.At(i), help, unit))
			}
		}
	case pmetric.MetricTypeExponentialHistogram:
		dps := m.ExponentialHistogram().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			if only < 0 || only == i {
				track(t.expHistogram(b, name, base, dps.At(i), help, unit))
			}
		}
	case pmetric.MetricTypeSummary:
		dps := m.Summary().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			if only < 0 || only == i {
				track(t.summary(b, fn, base, dps.At(i), help, unit))
			}
		}
	default:
		b.drop(reasonUnsupportedType, int64(dataPointCount(m)))
	}
	return latest
}

func dataPointCount(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	}
	return 0
}

func noValue(flags pmetric.DataPointFlags) bool { return flags.NoRecordedValue() }

func (t *translator) addFloat(b *batch, ls []label, v float64, ts int64, stale bool, mt writev2.Metadata_MetricType, help, unit string) *series {
	s := b.get(ls, mt, help, unit)
	if stale {
		v = staleNaN
		b.stale++
	} else {
		v = cleanValue(v)
	}
	s.samples = append(s.samples, sample{Value: v, Timestamp: ts})
	return s
}

func (t *translator) number(b *batch, name string, base []label, dp pmetric.NumberDataPoint, mt writev2.Metadata_MetricType, help, unit string) int64 {
	ls := t.pointLabels(b, name, base, dp.Attributes(), "", "")
	var v float64
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		v = float64(dp.IntValue())
	} else {
		v = dp.DoubleValue()
	}
	ts := toMillis(dp.Timestamp())
	s := t.addFloat(b, ls, v, ts, noValue(dp.Flags()), mt, help, unit)
	t.addExemplars(b, s, dp.Exemplars(), math.Inf(-1), math.Inf(1))
	return ts
}

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func (t *translator) histogram(b *batch, fn *familyNames, base []label, dp pmetric.HistogramDataPoint, help, unit string) int64 {
	bounds, counts := dp.ExplicitBounds(), dp.BucketCounts()
	if counts.Len() != 0 && counts.Len() != bounds.Len()+1 {
		b.drop(reasonInvalidHistogram, 1)
		return 0
	}
	ts := toMillis(dp.Timestamp())
	stale := noValue(dp.Flags())
	mt := writev2.Metadata_METRIC_TYPE_HISTOGRAM
	var cum uint64
	lower := math.Inf(-1)
	for i := 0; i < bounds.Len() && counts.Len() > 0; i++ {
		cum += counts.At(i)
		ub := bounds.At(i)
		ls := t.pointLabels(b, fn.bucket, base, dp.Attributes(), "le", formatFloat(ub))
		s := t.addFloat(b, ls, float64(cum), ts, stale, mt, help, unit)
		t.addExemplars(b, s, dp.Exemplars(), lower, ub)
		lower = ub
	}
	ls := t.pointLabels(b, fn.bucket, base, dp.Attributes(), "le", "+Inf")
	s := t.addFloat(b, ls, float64(dp.Count()), ts, stale, mt, help, unit)
	t.addExemplars(b, s, dp.Exemplars(), lower, math.Inf(1))
	if dp.HasSum() {
		ls = t.pointLabels(b, fn.sum, base, dp.Attributes(), "", "")
		t.addFloat(b, ls, dp.Sum(), ts, stale, mt, help, unit)
	}
	ls = t.pointLabels(b, fn.count, base, dp.Attributes(), "", "")
	t.addFloat(b, ls, float64(dp.Count()), ts, stale, mt, help, unit)
	return ts
}

func (t *translator) summary(b *batch, fn *familyNames, base []label, dp pmetric.SummaryDataPoint, help, unit string) int64 {
	ts := toMillis(dp.Timestamp())
	stale := noValue(dp.Flags())
	mt := writev2.Metadata_METRIC_TYPE_SUMMARY
	qs := dp.QuantileValues()
	for i := 0; i < qs.Len(); i++ {
		q := qs.At(i)
		ls := t.pointLabels(b, fn.base, base, dp.Attributes(), "quantile", formatFloat(q.Quantile()))
		t.addFloat(b, ls, q.Value(), ts, stale, mt, help, unit)
	}
	ls := t.pointLabels(b, fn.sum, base, dp.Attributes(), "", "")
	t.addFloat(b, ls, dp.Sum(), ts, stale, mt, help, unit)
	ls = t.pointLabels(b, fn.count, base, dp.Attributes(), "", "")
	t.addFloat(b, ls, float64(dp.Count()), ts, stale, mt, help, unit)
	return ts
}

func (t *translator) expHistogram(b *batch, name string, base []label, dp pmetric.ExponentialHistogramDataPoint, help, unit string) int64 {
	ts := toMillis(dp.Timestamp())
	mt := writev2.Metadata_METRIC_TYPE_HISTOGRAM
	if noValue(dp.Flags()) {
		ls := t.pointLabels(b, name, base, dp.Attributes(), "", "")
		t.addFloat(b, ls, 0, ts, true, mt, help, unit)
		return ts
	}
	h, ok := nativeHistogram(dp)
	if !ok {
		b.drop(reasonUnsupportedScale, 1)
		return 0
	}
	ls := t.pointLabels(b, name, base, dp.Attributes(), "", "")
	s := b.get(ls, mt, help, unit)
	s.histograms = append(s.histograms, h)
	t.addExemplars(b, s, dp.Exemplars(), math.Inf(-1), math.Inf(1))
	return ts
}

// addExemplars attaches the exemplars whose value lies in (lower, upper] to
// s, which is how Prometheus ties an exemplar to a classic bucket.
func (t *translator) addExemplars(b *batch, s *series, exs pmetric.ExemplarSlice, lower, upper float64) {
	if !t.exemplars {
		return
	}
	for i := 0; i < exs.Len(); i++ {
		ex := exs.At(i)
		var v float64
		if ex.ValueType() == pmetric.ExemplarValueTypeInt {
			v = float64(ex.IntValue())
		} else {
			v = ex.DoubleValue()
		}
		// -Inf belongs to the first bucket and NaN, which compares with
		// nothing, to the +Inf bucket, so no exemplar is lost to range checks.
		inRange := (v > lower && v <= upper) ||
			(math.IsInf(lower, -1) && v == lower) ||
			(math.IsNaN(v) && math.IsInf(upper, 1))
		if !inRange {
			continue
		}
		var ls []prompb.Label
		runes := 0
		if tid := ex.TraceID(); !tid.IsEmpty() {
			ls = append(ls, prompb.Label{Name: "trace_id", Value: hex.EncodeToString(tid[:])})
			runes += len("trace_id") + 32
		}
		if sid := ex.SpanID(); !sid.IsEmpty() {
			ls = append(ls, prompb.Label{Name: "span_id", Value: hex.EncodeToString(sid[:])})
			runes += len("span_id") + 16
		}
		for k, val := range ex.FilteredAttributes().All() {
			l := prompb.Label{Name: t.labelName(k), Value: val.AsString()}
			if l.Name == "" || l.Value == "" {
				continue
			}
			runes += len([]rune(l.Name)) + len([]rune(l.Value))
			ls = append(ls, l)
		}
		if runes > maxExemplarRunes {
			b.drop(reasonExemplarTooLong, 1)
			continue
		}
		slices.SortFunc(ls, func(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) })
		s.exemplars = append(s.exemplars, prompb.Exemplar{Labels: ls, Value: cleanValue(v), Timestamp: toMillis(ex.Timestamp())})
	}
}
