package mixin

import (
	"regexp"
	"sort"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/loki"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
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
	panel := func(p *dashboard.Panel) {
		for _, t := range p.Targets {
			q := Query{Dashboard: deref(d.Uid), Panel: deref(p.Title), PanelType: p.Type}
			switch t := t.(type) {
			case prometheus.Dataquery:
				q.RefID, q.Datasource, q.Expr, q.Instant = deref(t.RefId), PrometheusType, t.Expr, deref(t.Instant)
			case loki.Dataquery:
				q.RefID, q.Datasource, q.Expr = deref(t.RefId), LokiType, t.Expr
				q.LogQuery = !strings.Contains(t.Expr, "rate(") && !strings.Contains(t.Expr, "_over_time(")
			default:
				// Every panel query is built by target.build; another type is a generator bug
				// that the structure test reports through the JSON.
				continue
			}
			out = append(out, q)
		}
	}
	for _, p := range d.Panels {
		if p.Panel != nil {
			panel(p.Panel)
		}
		if p.RowPanel != nil {
			for i := range p.RowPanel.Panels {
				panel(&p.RowPanel.Panels[i])
			}
		}
	}
	for _, a := range d.Annotations.List {
		if deref(a.Expr) != "" && a.Datasource != nil {
			out = append(out, Query{Dashboard: deref(d.Uid), Panel: "annotation " + a.Name, PanelType: "annotation", RefID: "A", Datasource: deref(a.Datasource.Type), Expr: *a.Expr})
		}
	}
	return out
}

// Variable is what the tests need of a dashboard variable.
type Variable struct {
	Name string
	// Type is query, datasource or custom.
	Type string
	// Datasource is the datasource type a query variable reads (PrometheusType or LokiType),
	// or the type a datasource variable lists.
	Datasource string
	// Query is a query variable's label_values(...) text, or a custom variable's comma-separated
	// values.
	Query string
	// AllValue is what "All" expands to.
	AllValue string
}

// Variables lists the variables of d in their order on the dashboard.
func Variables(d *Dashboard) []Variable {
	var out []Variable
	for _, v := range d.Templating.List {
		x := Variable{Name: v.Name, Type: string(v.Type), AllValue: deref(v.AllValue), Query: deref(v.Definition)}
		if v.Datasource != nil {
			x.Datasource = deref(v.Datasource.Type)
		}
		if v.Query != nil && v.Query.String != nil {
			switch v.Type {
			case dashboard.VariableTypeDatasource:
				x.Datasource = *v.Query.String
			case dashboard.VariableTypeCustom:
				x.Query = *v.Query.String
			}
		}
		out = append(out, x)
	}
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
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
