package loki // import "github.com/sieveobs/sieve/exporters/loki"

import (
	"cmp"
	"encoding/hex"
	"slices"
	"sort"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/grafana/loki/pkg/push"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Drop reasons, used as the reason attribute of entries_dropped.
const (
	dropTooOld        = "too_old"
	dropTooNew        = "too_new"
	dropLineTooLong   = "line_too_long"
	dropInvalidTenant = "invalid_tenant"
	dropRejected      = "rejected"
	dropPartial       = "partial_rejection"
)

// fallbackLabel keeps a stream valid when no label survived: Loki rejects
// streams without labels, and this is the name and value Loki's own OTLP
// ingestion uses for an unnamed service.
var fallbackLabel = label{name: "service_name", value: "unknown_service"}

type labelSpec struct {
	key  string // attribute key
	name string // sanitized label name
}

// tenantBatch is the part of one pdata batch that goes to one tenant.
type tenantBatch struct {
	tenant    string
	resources []int // ResourceLogs indexes, to rebuild what must be retried
	streams   map[string]int
	req       push.PushRequest
	labels    [][]label // per stream, for the JSON wire format
	stats     convertStats
	entries   int
}

// convertStats gathers counts over one batch so telemetry is recorded once
// per batch instead of once per entry.
type convertStats struct {
	dropped     map[string]int64
	demoted     map[string]int64
	truncated   int64
	smTruncated int64
}

func (s *convertStats) drop(reason string, n int64) {
	if n == 0 {
		return
	}
	if s.dropped == nil {
		s.dropped = map[string]int64{}
	}
	s.dropped[reason] += n
}

func (s *convertStats) demote(reason string) {
	if s.demoted == nil {
		s.demoted = map[string]int64{}
	}
	s.demoted[reason]++
}

// converter turns pdata logs into per-tenant Loki push requests.
type converter struct {
	cfg       *Config
	now       func() time.Time
	static    []label // sorted by name
	severity  string
	resLabels []labelSpec
	logLabels []labelSpec

	mu    sync.Mutex // guards guard and names across concurrent pushes
	guard *cardinalityGuard
	names map[string]string // structured metadata name cache, bounded
}

const maxNameCache = 4096

func newConverter(cfg *Config, now func() time.Time) *converter {
	c := &converter{
		cfg:      cfg,
		now:      now,
		guard:    newCardinalityGuard(cfg.Cardinality, now),
		names:    map[string]string{},
		severity: "",
	}
	for k, v := range cfg.Labels.Static {
		c.static = append(c.static, label{name: SanitizeLabelName(k), value: sanitizeLabelValue(v)})
	}
	slices.SortFunc(c.static, func(a, b label) int { return cmp.Compare(a.name, b.name) })
	if cfg.Labels.Severity != "" {
		c.severity = SanitizeLabelName(cfg.Labels.Severity)
	}
	for _, k := range cfg.Labels.ResourceAttributes {
		c.resLabels = append(c.resLabels, labelSpec{key: k, name: SanitizeLabelName(k)})
	}
	for _, k := range cfg.Labels.LogAttributes {
		c.logLabels = append(c.logLabels, labelSpec{key: k, name: SanitizeLabelName(k)})
	}
	return c
}

func (c *converter) smName(key string) string {
	if n, ok := c.names[key]; ok {
		return n
	}
	n := SanitizeLabelName(key)
	if len(c.names) < maxNameCache {
		c.names[key] = n
	}
	return n
}

// resourceState is what is shared by every record of one ResourceLogs.
type resourceState struct {
	labels   []label // admitted
	demoted  []push.LabelAdapter
	resAttrs []push.LabelAdapter // non-label resource attributes
	resource pcommon.Map
}

// convert splits ld into one request per tenant. Order of entries within a
// stream follows timestamps; order of tenants follows first appearance.
func (c *converter) convert(ld plog.Logs, st *convertStats) []*tenantBatch {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.guard.beginBatch()

	now := c.now()
	var oldest, newest time.Time
	if c.cfg.Limits.MaxEntryAge > 0 {
		oldest = now.Add(-c.cfg.Limits.MaxEntryAge)
	}
	if c.cfg.Limits.MaxFutureSkew > 0 {
		newest = now.Add(c.cfg.Limits.MaxFutureSkew)
	}

	var batches []*tenantBatch
	byTenant := map[string]*tenantBatch{}
	var (
		lbls    []label
		keyBuf  []byte
		lineBuf []byte
		arena   []push.LabelAdapter
		rs      resourceState
	)

	// One allocation for the structured metadata of the whole batch instead
	// of repeated growth; entries keep capped sub-slices of it.
	arena = make([]push.LabelAdapter, 0, ld.LogRecordCount()*4)

	rls := ld.ResourceLogs()
	for ri := 0; ri < rls.Len(); ri++ {
		rl := rls.At(ri)
		res := rl.Resource().Attributes()

		tenant := c.cfg.Tenant.Default
		if c.cfg.Tenant.ResourceAttribute != "" {
			if v, ok := res.Get(c.cfg.Tenant.ResourceAttribute); ok && v.AsString() != "" {
				tenant = v.AsString()
				if !validTenant(tenant) {
					n := int64(0)
					for si := 0; si < rl.ScopeLogs().Len(); si++ {
						n += int64(rl.ScopeLogs().At(si).LogRecords().Len())
					}
					st.drop(dropInvalidTenant, n)
					continue
				}
			}
		}
		tb := byTenant[tenant]
		if tb == nil {
			tb = &tenantBatch{tenant: tenant, streams: map[string]int{}}
			byTenant[tenant] = tb
			batches = append(batches, tb)
		}
		tb.resources = append(tb.resources, ri)
		st := &tb.stats

		c.resource(res, &rs, st)

		sls := rl.ScopeLogs()
		for si := 0; si < sls.Len(); si++ {
			lrs := sls.At(si).LogRecords()
			for li := 0; li < lrs.Len(); li++ {
				lr := lrs.At(li)

				ts := lr.Timestamp()
				if ts == 0 {
					ts = lr.ObservedTimestamp()
				}
				t := now
				if ts != 0 {
					t = ts.AsTime()
				}
				if !oldest.IsZero() && t.Before(oldest) {
					st.drop(dropTooOld, 1)
					continue
				}
				if !newest.IsZero() && t.After(newest) {
					if c.cfg.Limits.FutureEntries == ActionDrop {
						st.drop(dropTooNew, 1)
						continue
					}
					t = now
				}

				// Stream labels: resource-level decisions are reused, the
				// record-level ones go through the guard here.
				lbls = append(lbls[:0], rs.labels...)
				smStart := len(arena)
				arena = append(arena, rs.demoted...)
				attrs := lr.Attributes()
				if c.severity != "" && lr.SeverityText() != "" {
					lbls, arena = c.admit(lbls, arena, c.severity, lr.SeverityText(), st)
				}
				for _, ls := range c.logLabels {
					if v, ok := attrs.Get(ls.key); ok {
						lbls, arena = c.admit(lbls, arena, ls.name, v.AsString(), st)
					}
				}
				if len(lbls) == 0 {
					lbls = append(lbls, fallbackLabel)
				}
				sortLabels(lbls)
				keyBuf = appendLabelsString(keyBuf[:0], lbls)

				line, ok := c.line(&lineBuf, lr, attrs, rs.resource, st)
				if !ok {
					arena = arena[:smStart]
					continue
				}

				if c.cfg.StructuredMetadata.TraceContext {
					if id := lr.TraceID(); !id.IsEmpty() {
						arena = append(arena, push.LabelAdapter{Name: "trace_id", Value: hex.EncodeToString(id[:])})
					}
					if id := lr.SpanID(); !id.IsEmpty() {
						arena = append(arena, push.LabelAdapter{Name: "span_id", Value: hex.EncodeToString(id[:])})
					}
				}
				if c.cfg.StructuredMetadata.LogAttributes {
					if c.severity == "" && lr.SeverityText() != "" {
						arena = append(arena, push.LabelAdapter{Name: "severity_text", Value: sanitizeLabelValue(lr.SeverityText())})
					}
					attrs.Range(func(k string, v pcommon.Value) bool {
						if c.isLogLabel(k) {
							return true
						}
						arena = append(arena, push.LabelAdapter{Name: c.smName(k), Value: sanitizeLabelValue(v.AsString())})
						return true
					})
				}
				arena = append(arena, rs.resAttrs...)
				sm := c.capMetadata(arena[smStart:len(arena):len(arena)], st)

				idx, found := tb.streams[string(keyBuf)]
				if !found {
					idx = len(tb.req.Streams)
					key := string(keyBuf)
					tb.streams[key] = idx
					tb.req.Streams = append(tb.req.Streams, push.Stream{Labels: key})
					tb.labels = append(tb.labels, slices.Clone(lbls))
				}
				s := &tb.req.Streams[idx]
				var smv push.LabelsAdapter
				if len(sm) > 0 {
					smv = sm
				}
				s.Entries = append(s.Entries, push.Entry{Timestamp: t, Line: line, StructuredMetadata: smv})
				tb.entries++
			}
		}
	}

	for _, tb := range batches {
		for i := range tb.req.Streams {
			e := tb.req.Streams[i].Entries
			if !sort.SliceIsSorted(e, func(a, b int) bool { return e[a].Timestamp.Before(e[b].Timestamp) }) {
				slices.SortStableFunc(e, func(a, b push.Entry) int { return a.Timestamp.Compare(b.Timestamp) })
			}
		}
	}
	return batches
}

func (c *converter) isLogLabel(k string) bool {
	for _, ls := range c.logLabels {
		if ls.key == k {
			return true
		}
	}
	return false
}

func (c *converter) isResourceLabel(k string) bool {
	for _, ls := range c.resLabels {
		if ls.key == k {
			return true
		}
	}
	return false
}

// admit runs one candidate label through the guard, appending it to the
// stream labels or, when over budget, to the entry's structured metadata.
func (c *converter) admit(lbls []label, sm []push.LabelAdapter, name, value string, st *convertStats) ([]label, []push.LabelAdapter) {
	if value == "" {
		return lbls, sm
	}
	value = sanitizeLabelValue(value)
	if reason := c.guard.admit(name, value, len(lbls)); reason != "" {
		st.demote(reason)
		return lbls, append(sm, push.LabelAdapter{Name: name, Value: value})
	}
	return append(lbls, label{name: name, value: value}), sm
}

// resource computes the per-ResourceLogs part of every entry.
func (c *converter) resource(res pcommon.Map, rs *resourceState, st *convertStats) {
	rs.labels = append(rs.labels[:0], c.static...)
	rs.demoted = rs.demoted[:0]
	rs.resource = res
	for _, ls := range c.resLabels {
		if v, ok := res.Get(ls.key); ok {
			rs.labels, rs.demoted = c.admit(rs.labels, rs.demoted, ls.name, v.AsString(), st)
		}
	}
	// A fresh slice: entries of the previous resource still point at the old one.
	rs.resAttrs = nil
	if c.cfg.StructuredMetadata.ResourceAttributes {
		res.Range(func(k string, v pcommon.Value) bool {
			if !c.isResourceLabel(k) && k != c.cfg.Tenant.ResourceAttribute {
				rs.resAttrs = append(rs.resAttrs, push.LabelAdapter{Name: c.smName(k), Value: sanitizeLabelValue(v.AsString())})
			}
			return true
		})
	}
}

// capMetadata enforces Loki's structured metadata count and size limits so
// that one noisy record cannot fail its whole request.
func (c *converter) capMetadata(sm []push.LabelAdapter, st *convertStats) []push.LabelAdapter {
	maxN, maxSize := c.cfg.StructuredMetadata.MaxEntries, c.cfg.StructuredMetadata.MaxSize
	size := 0
	for i, l := range sm {
		size += len(l.Name) + len(l.Value)
		if i >= maxN || size > maxSize {
			st.smTruncated++
			return sm[:i]
		}
	}
	return sm
}

// line renders the log line and applies the line size limit. It returns
// false when the entry must be dropped.
func (c *converter) line(buf *[]byte, lr plog.LogRecord, attrs, res pcommon.Map, st *convertStats) (string, bool) {
	var line string
	if c.cfg.LineFormat == LineFormatJSON {
		b := append((*buf)[:0], `{"body":`...)
		b = appendJSONValue(b, lr.Body())
		if !c.cfg.StructuredMetadata.LogAttributes && attrs.Len() > 0 {
			b = append(b, `,"attributes":{`...)
			first := true
			attrs.Range(func(k string, v pcommon.Value) bool {
				if c.isLogLabel(k) {
					return true
				}
				if !first {
					b = append(b, ',')
				}
				first = false
				b = appendJSONString(b, k)
				b = append(b, ':')
				b = appendJSONValue(b, v)
				return true
			})
			b = append(b, '}')
		}
		if !c.cfg.StructuredMetadata.ResourceAttributes && res.Len() > 0 {
			b = append(b, `,"resource":`...)
			b = appendJSONMap(b, res)
		}
		b = append(b, '}')
		*buf = b
		line = string(b)
	} else {
		body := lr.Body()
		if body.Type() == pcommon.ValueTypeStr {
			line = body.Str()
		} else {
			line = body.AsString()
		}
	}
	if maxLen := c.cfg.Limits.MaxLineSize; maxLen > 0 && len(line) > maxLen {
		if c.cfg.Limits.LineTooLong == ActionDrop {
			st.drop(dropLineTooLong, 1)
			return "", false
		}
		st.truncated++
		line = truncateUTF8(line, maxLen)
	}
	return line, true
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// sortLabels is an insertion sort: streams have a handful of labels, where
// it beats the generic sort and does not allocate.
func sortLabels(ls []label) {
	for i := 1; i < len(ls); i++ {
		for j := i; j > 0 && ls[j].name < ls[j-1].name; j-- {
			ls[j], ls[j-1] = ls[j-1], ls[j]
		}
	}
}
