package loki // import "github.com/sieveobs/sieve/exporters/loki"

import (
	"cmp"
	"encoding/hex"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

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

// tenantBatch is the part of one pdata batch that goes to one tenant, already
// encoded: the entries are protobuf Entry messages back to back in buf, and
// each stream lists its entries' places in buf. Batches are pooled; release
// returns one once its request is sent.
type tenantBatch struct {
	tenant    string
	resources []int          // ResourceLogs indexes, to rebuild what must be retried
	index     map[string]int // stream selector -> index in streams
	streams   []stream
	buf       []byte
	stats     convertStats
	entries   int
}

// stream is one stream of a tenantBatch.
type stream struct {
	selector string
	labels   []label // for the JSON wire format
	entries  []entryRef
}

// entryRef places one encoded Entry message in tenantBatch.buf. It holds no
// pointer, so that sorting and keeping thousands of them costs the GC nothing.
type entryRef struct {
	ts       int64 // Unix nanoseconds, the sort key
	off, end int
}

var batchPool = sync.Pool{New: func() any { return &tenantBatch{index: map[string]int{}} }}

func newTenantBatch(tenant string) *tenantBatch {
	tb := batchPool.Get().(*tenantBatch)
	tb.tenant = tenant
	return tb
}

// release returns tb to the pool; tb must not be used afterwards.
func (tb *tenantBatch) release() {
	if cap(tb.buf) > maxPooledBuffer {
		return
	}
	clear(tb.index)
	for i := range tb.streams {
		// Drop the label strings so that a pooled batch pins no request.
		s := &tb.streams[i]
		s.selector = ""
		clear(s.labels)
		s.labels = s.labels[:0]
		s.entries = s.entries[:0]
	}
	*tb = tenantBatch{index: tb.index, streams: tb.streams[:0], buf: tb.buf[:0], resources: tb.resources[:0]}
	batchPool.Put(tb)
}

// stream returns the index of the stream with the given selector, adding it
// with these labels when it is new.
func (tb *tenantBatch) stream(selector []byte, lbls []label) int {
	if idx, ok := tb.index[string(selector)]; ok {
		return idx
	}
	idx := len(tb.streams)
	sel := string(selector)
	tb.index[sel] = idx
	if idx < cap(tb.streams) {
		// A pooled stream: keep its slices' capacity.
		tb.streams = tb.streams[:idx+1]
		s := &tb.streams[idx]
		s.selector = sel
		s.labels = append(s.labels[:0], lbls...)
		s.entries = s.entries[:0]
	} else {
		tb.streams = append(tb.streams, stream{selector: sel, labels: slices.Clone(lbls)})
	}
	return idx
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
	// recordLabels is whether any stream label comes from the record itself;
	// without, every record of a resource goes to the same stream.
	recordLabels bool

	mu    sync.Mutex // guards guard and the scratch state across concurrent pushes
	guard *cardinalityGuard

	// Scratch space reused across records and batches.
	lbls    []label
	demoted []label
	keyBuf  []byte
	lineBuf []byte
	nameBuf []byte
	rs      resourceState
}

func newConverter(cfg *Config, now func() time.Time) *converter {
	c := &converter{
		cfg:      cfg,
		now:      now,
		guard:    newCardinalityGuard(cfg.Cardinality, now),
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
	c.recordLabels = c.severity != "" || len(c.logLabels) > 0
	return c
}

// resourceState is what is shared by every record of one ResourceLogs.
type resourceState struct {
	labels   []label // admitted
	demoted  []label // over budget: structured metadata of every entry
	resource pcommon.Map
	// pairs holds the resource attributes that are not labels, encoded once
	// as structured metadata pairs; pairEnds marks where each ends.
	pairs     []byte
	pairEnds  []pairEnd
	pairsSize int // sum of the pairs' name and value lengths
	// Without record-level labels: the selector of the resource's stream and
	// its index, -1 until an entry is added.
	selector []byte
	stream   int
}

type pairEnd struct {
	end  int // offset in resourceState.pairs
	size int // name and value length, what max_size counts
}

// smState tracks the structured metadata written for one entry against
// max_entries and max_size.
type smState struct {
	n, size int
	cut     bool
}

// fits reports whether one more pair of size bytes (name and value) stays
// within the limits; once one does not, no later pair is written either, so
// metadata is cut at the same place as a prefix of the list would be.
func (c *converter) fits(sm *smState, size int) bool {
	if sm.cut {
		return false
	}
	sm.size += size
	if sm.n >= c.cfg.StructuredMetadata.MaxEntries || sm.size > c.cfg.StructuredMetadata.MaxSize {
		sm.cut = true
		return false
	}
	sm.n++
	return true
}

// convert splits ld into one request per tenant. Order of entries within a
// stream follows timestamps; order of tenants follows first appearance.
func (c *converter) convert(ld plog.Logs, st *convertStats) []*tenantBatch {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.forget()
	c.guard.beginBatch()

	now := c.now()
	nowNs := now.UnixNano()
	oldest, newest := int64(math.MinInt64), int64(math.MaxInt64)
	if c.cfg.Limits.MaxEntryAge > 0 {
		oldest = unixNanos(now.Add(-c.cfg.Limits.MaxEntryAge))
	}
	if c.cfg.Limits.MaxFutureSkew > 0 {
		newest = unixNanos(now.Add(c.cfg.Limits.MaxFutureSkew))
	}
	smCfg := c.cfg.StructuredMetadata

	var batches []*tenantBatch
	byTenant := map[string]*tenantBatch{}
	rs := &c.rs

	rls := ld.ResourceLogs()
	for ri := 0; ri < rls.Len(); ri++ {
		rl := rls.At(ri)
		res := rl.Resource().Attributes()

		tenant := c.cfg.Tenant.Default
		if c.cfg.Tenant.ResourceAttribute != "" {
			if v, ok := res.Get(c.cfg.Tenant.ResourceAttribute); ok && v.AsString() != "" {
				tenant = v.AsString()
				if !validTenant(tenant) {
					st.drop(dropInvalidTenant, int64(countRecords(rl)))
					continue
				}
			}
		}
		tb := byTenant[tenant]
		if tb == nil {
			tb = newTenantBatch(tenant)
			byTenant[tenant] = tb
			batches = append(batches, tb)
		}
		tb.resources = append(tb.resources, ri)
		st := &tb.stats

		c.resource(res, st)

		sls := rl.ScopeLogs()
		for si := 0; si < sls.Len(); si++ {
			lrs := sls.At(si).LogRecords()
			for li := 0; li < lrs.Len(); li++ {
				lr := lrs.At(li)

				ts := lr.Timestamp()
				if ts == 0 {
					ts = lr.ObservedTimestamp()
				}
				t := nowNs
				if ts != 0 {
					t = int64(ts) // as pcommon.Timestamp.AsTime reads it
				}
				if t < oldest {
					st.drop(dropTooOld, 1)
					continue
				}
				if t > newest {
					if c.cfg.Limits.FutureEntries == ActionDrop {
						st.drop(dropTooNew, 1)
						continue
					}
					t = nowNs
				}

				// Stream labels: resource-level decisions are reused, the
				// record-level ones go through the guard here.
				attrs := lr.Attributes()
				demoted := rs.demoted
				if c.recordLabels {
					c.lbls = append(c.lbls[:0], rs.labels...)
					c.demoted = append(c.demoted[:0], rs.demoted...)
					if c.severity != "" && lr.SeverityText() != "" {
						c.lbls, c.demoted = c.admit(c.lbls, c.demoted, c.severity, lr.SeverityText(), st)
					}
					for _, ls := range c.logLabels {
						if v, ok := attrs.Get(ls.key); ok {
							c.lbls, c.demoted = c.admit(c.lbls, c.demoted, ls.name, v.AsString(), st)
						}
					}
					if len(c.lbls) == 0 {
						c.lbls = append(c.lbls, fallbackLabel)
					}
					sortLabels(c.lbls)
					c.keyBuf = appendLabelsString(c.keyBuf[:0], c.lbls)
					demoted = c.demoted
				}

				line, lineBytes, ok := c.line(lr, attrs, st)
				if !ok {
					continue
				}

				// The Entry message: timestamp, line, structured metadata.
				b := tb.buf
				off := len(b)
				b = appendTimestamp(b, t)
				if lineBytes != nil {
					b = appendBytesField(b, tagLine, lineBytes)
				} else {
					b = appendBytesField(b, tagLine, line)
				}
				var sm smState
				for _, l := range demoted {
					if c.fits(&sm, len(l.name)+len(l.value)) {
						b = appendPair(b, l.name, l.value)
					}
				}
				if smCfg.TraceContext {
					var hx [32]byte
					if id := lr.TraceID(); !id.IsEmpty() && c.fits(&sm, len("trace_id")+32) {
						hex.Encode(hx[:], id[:])
						b = appendPair(b, "trace_id", hx[:])
					}
					if id := lr.SpanID(); !id.IsEmpty() && c.fits(&sm, len("span_id")+16) {
						hex.Encode(hx[:16], id[:])
						b = appendPair(b, "span_id", hx[:16])
					}
				}
				if smCfg.LogAttributes {
					if c.severity == "" && lr.SeverityText() != "" {
						v := sanitizeLabelValue(lr.SeverityText())
						if c.fits(&sm, len("severity_text")+len(v)) {
							b = appendPair(b, "severity_text", v)
						}
					}
					if !sm.cut {
						b = c.appendAttributes(b, attrs, &sm)
					}
				}
				if len(rs.pairEnds) > 0 && !sm.cut {
					if sm.n+len(rs.pairEnds) <= smCfg.MaxEntries && sm.size+rs.pairsSize <= smCfg.MaxSize {
						// The common case: all of them fit.
						b = append(b, rs.pairs...)
						sm.n += len(rs.pairEnds)
						sm.size += rs.pairsSize
					} else {
						from := 0
						for _, p := range rs.pairEnds {
							if !c.fits(&sm, p.size) {
								break
							}
							b = append(b, rs.pairs[from:p.end]...)
							from = p.end
						}
					}
				}
				if sm.cut {
					st.smTruncated++
				}
				tb.buf = b

				var idx int
				if c.recordLabels {
					idx = tb.stream(c.keyBuf, c.lbls)
				} else {
					if rs.stream < 0 {
						rs.stream = tb.stream(rs.selector, rs.labels)
					}
					idx = rs.stream
				}
				s := &tb.streams[idx]
				s.entries = append(s.entries, entryRef{ts: t, off: off, end: len(b)})
				tb.entries++
			}
		}
	}

	for _, tb := range batches {
		for i := range tb.streams {
			e := tb.streams[i].entries
			if !slices.IsSortedFunc(e, func(a, b entryRef) int { return cmp.Compare(a.ts, b.ts) }) {
				// Ties keep their arrival order, which is their order in buf.
				slices.SortFunc(e, func(a, b entryRef) int {
					if c := cmp.Compare(a.ts, b.ts); c != 0 {
						return c
					}
					return cmp.Compare(a.off, b.off)
				})
			}
		}
	}
	return batches
}

// appendAttributes writes the record's attributes that are not labels as
// structured metadata, rendering names and values straight into b.
func (c *converter) appendAttributes(b []byte, attrs pcommon.Map, sm *smState) []byte {
	attrs.Range(func(k string, v pcommon.Value) bool {
		if c.isLogLabel(k) {
			return true
		}
		name := appendLabelName(c.nameBuf[:0], k)
		c.nameBuf = name
		var value string
		switch v.Type() {
		case pcommon.ValueTypeStr:
			value = sanitizeLabelValue(v.Str())
		case pcommon.ValueTypeInt, pcommon.ValueTypeDouble, pcommon.ValueTypeBool:
			// Rendered after the name in the same scratch buffer: ASCII,
			// valid UTF-8 already.
			switch v.Type() {
			case pcommon.ValueTypeInt:
				c.nameBuf = strconv.AppendInt(c.nameBuf, v.Int(), 10)
			case pcommon.ValueTypeDouble:
				c.nameBuf = appendFloat(c.nameBuf, v.Double())
			default:
				c.nameBuf = strconv.AppendBool(c.nameBuf, v.Bool())
			}
			if !c.fits(sm, len(c.nameBuf)) {
				return false
			}
			b = appendPair(b, c.nameBuf[:len(name)], c.nameBuf[len(name):])
			return true
		case pcommon.ValueTypeEmpty:
		default:
			value = sanitizeLabelValue(v.AsString())
		}
		if !c.fits(sm, len(name)+len(value)) {
			return false
		}
		b = appendPair(b, name, value)
		return true
	})
	return b
}

// forget drops what the scratch state still references of the batch just
// converted, so that an idle exporter does not keep it in memory.
func (c *converter) forget() {
	c.rs.resource = pcommon.Map{}
	for _, ls := range [][]label{c.lbls, c.demoted, c.rs.labels, c.rs.demoted} {
		clear(ls[:cap(ls)])
	}
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
func (c *converter) admit(lbls, demoted []label, name, value string, st *convertStats) ([]label, []label) {
	if value == "" {
		return lbls, demoted
	}
	value = sanitizeLabelValue(value)
	if reason := c.guard.admit(name, value, len(lbls)); reason != "" {
		st.demote(reason)
		return lbls, append(demoted, label{name: name, value: value})
	}
	return append(lbls, label{name: name, value: value}), demoted
}

// resource computes the per-ResourceLogs part of every entry into c.rs.
func (c *converter) resource(res pcommon.Map, st *convertStats) {
	rs := &c.rs
	rs.labels = append(rs.labels[:0], c.static...)
	rs.demoted = rs.demoted[:0]
	rs.resource = res
	for _, ls := range c.resLabels {
		if v, ok := res.Get(ls.key); ok {
			rs.labels, rs.demoted = c.admit(rs.labels, rs.demoted, ls.name, v.AsString(), st)
		}
	}
	rs.pairs, rs.pairEnds, rs.pairsSize = rs.pairs[:0], rs.pairEnds[:0], 0
	if c.cfg.StructuredMetadata.ResourceAttributes {
		res.Range(func(k string, v pcommon.Value) bool {
			if !c.isResourceLabel(k) && k != c.cfg.Tenant.ResourceAttribute {
				c.nameBuf = appendLabelName(c.nameBuf[:0], k)
				value := sanitizeLabelValue(v.AsString())
				rs.pairs = appendPair(rs.pairs, c.nameBuf, value)
				size := len(c.nameBuf) + len(value)
				rs.pairEnds = append(rs.pairEnds, pairEnd{end: len(rs.pairs), size: size})
				rs.pairsSize += size
			}
			return true
		})
	}
	rs.stream = -1
	if !c.recordLabels {
		lbls := rs.labels
		if len(lbls) == 0 {
			lbls = append(lbls, fallbackLabel)
		}
		sortLabels(lbls)
		rs.labels = lbls
		rs.selector = appendLabelsString(rs.selector[:0], lbls)
	}
}

// line renders the log line and applies the line size limit. It returns the
// line as a string, or as bytes (in c.lineBuf) for the JSON line format, and
// false when the entry must be dropped.
func (c *converter) line(lr plog.LogRecord, attrs pcommon.Map, st *convertStats) (string, []byte, bool) {
	var (
		line      string
		lineBytes []byte
	)
	if c.cfg.LineFormat == LineFormatJSON {
		b := append(c.lineBuf[:0], `{"body":`...)
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
		if res := c.rs.resource; !c.cfg.StructuredMetadata.ResourceAttributes && res.Len() > 0 {
			b = append(b, `,"resource":`...)
			b = appendJSONMap(b, res)
		}
		b = append(b, '}')
		c.lineBuf = b
		lineBytes = b
	} else {
		body := lr.Body()
		if body.Type() == pcommon.ValueTypeStr {
			line = body.Str()
		} else {
			line = body.AsString()
		}
	}
	if maxLen := c.cfg.Limits.MaxLineSize; maxLen > 0 && len(line)+len(lineBytes) > maxLen {
		if c.cfg.Limits.LineTooLong == ActionDrop {
			st.drop(dropLineTooLong, 1)
			return "", nil, false
		}
		st.truncated++
		line, lineBytes = truncateUTF8(line, maxLen), truncateUTF8(lineBytes, maxLen)
	}
	return line, lineBytes, true
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8[T ~string | ~[]byte](s T, n int) T {
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
