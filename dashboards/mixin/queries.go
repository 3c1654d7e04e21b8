package mixin

import (
	"regexp"
	"sort"
	"strings"
)

// Query is one panel query, with what a test needs to run it.
type Query struct {
	Dashboard string
	Panel     string
	PanelType string
	RefID     string
	// Datasource is PrometheusType or LokiType.
	Datasource string
	Expr       string
	// Instant queries render a table of the latest values; the others plot a range.
	Instant bool
	// LogQuery is a LogQL log (stream) query rather than a metric query.
	LogQuery bool
}

// Queries lists every query of every panel of d, rows included, and of its annotations.
func Queries(d *Dashboard) []Query {
	var out []Query
	var walk func(ps []*Panel)
	walk = func(ps []*Panel) {
		for _, p := range ps {
			walk(p.Panels)
			for _, t := range p.Targets {
				q := Query{Dashboard: d.UID, Panel: p.Title, PanelType: p.Type, RefID: t.RefID, Datasource: t.Datasource.Type, Expr: t.Expr, Instant: t.Instant}
				q.LogQuery = q.Datasource == LokiType && !strings.Contains(t.Expr, "rate(") && !strings.Contains(t.Expr, "_over_time(")
				out = append(out, q)
			}
		}
	}
	walk(d.Panels)
	for _, a := range d.Annotations.List {
		if a.Expr != "" {
			out = append(out, Query{Dashboard: d.UID, Panel: "annotation " + a.Name, PanelType: "annotation", RefID: "A", Datasource: a.Datasource.Type, Expr: a.Expr})
		}
	}
	return out
}

var identRE = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)

// MetricsIn returns the catalogue metrics an expression reads, directly or through the
// recording rules of RecordingRules(cfg), sorted by name.
func MetricsIn(cfg Config, expr string) []Metric {
	byName := map[string]Metric{}
	for _, m := range Catalog() {
		byName[m.Name] = m
		if m.Histogram {
			byName[m.Bucket()], byName[m.Sum()], byName[m.Count()] = m, m, m
		}
	}
	recorded := map[string]string{}
	for _, g := range RecordingRules(cfg).Groups {
		for _, r := range g.Rules {
			recorded[r.Record] = r.Expr
		}
	}
	found := map[string]Metric{}
	var scan func(string)
	scan = func(e string) {
		for _, id := range identRE.FindAllString(e, -1) {
			if m, ok := byName[id]; ok {
				found[m.Name] = m
			}
			if src, ok := recorded[id]; ok {
				scan(src)
			}
		}
	}
	scan(expr)
	out := make([]Metric, 0, len(found))
	for _, m := range found {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// VariableRefs returns the names of the variables an expression references ($name, ${name} or
// ${name:format}), Grafana's global $__ variables excluded.
func VariableRefs(expr string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range varRE.FindAllStringSubmatch(expr, -1) {
		name := m[1]
		if name == "" {
			name = m[2]
		}
		if strings.HasPrefix(name, "__") || seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, name)
	}
	return out
}

var varRE = regexp.MustCompile(`\$(?:([a-zA-Z_][a-zA-Z0-9_]*)|\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?\})`)

// QueryText returns the query text of a query variable (empty for other kinds).
func (v *Variable) QueryText() string {
	switch q := v.Query.(type) {
	case VariableQuery:
		return q.Query
	case string:
		if v.Type == "query" {
			return q
		}
	}
	return v.Definition
}

// Substitute replaces variable references the way Grafana interpolates them before sending a
// query: vars holds each dashboard variable's value (a regex for multi-value variables), and
// Grafana's interval variables take the given range.
func Substitute(expr string, vars map[string]string, interval string) string {
	global := map[string]string{"__rate_interval": interval, "__interval": interval, "__range": interval, "__auto": interval}
	return varRE.ReplaceAllStringFunc(expr, func(ref string) string {
		m := varRE.FindStringSubmatch(ref)
		name := m[1]
		if name == "" {
			name = m[2]
		}
		if v, ok := global[name]; ok {
			return v
		}
		if v, ok := vars[name]; ok {
			return v
		}
		return ref
	})
}
