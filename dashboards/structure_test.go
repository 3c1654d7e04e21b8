package dashboards_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sieveobs/sieve/dashboards/mixin"
)

// wantUIDs pins every dashboard's UID: links, bookmarks and provisioning refer to them, so a
// change must be deliberate.
var wantUIDs = map[string]string{
	"sieve-latency.json":  "sieve-latency",
	"sieve-sampling.json": "sieve-sampling",
	"sieve-pipeline.json": "sieve-pipeline",
	"sieve-logs.json":     "sieve-logs",
}

// Grafana's built-in variables a query may use without declaring them.
var grafanaGlobals = map[string]bool{
	"__rate_interval": true, "__interval": true, "__interval_ms": true, "__range": true,
	"__range_s": true, "__auto": true, "__from": true, "__to": true, "__dashboard": true,
}

var knownPanelTypes = map[string]bool{"row": true, "timeseries": true, "stat": true, "table": true, "logs": true, "gauge": true, "bargauge": true, "heatmap": true, "text": true}

type jsonObj = map[string]any

func loadDashboards(t *testing.T) map[string]jsonObj {
	t.Helper()
	files, err := filepath.Glob("*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files, "no dashboards committed under dashboards/")
	out := map[string]jsonObj{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var d jsonObj
		require.NoError(t, json.Unmarshal(b, &d), f)
		out[f] = d
	}
	return out
}

func str(o jsonObj, k string) string { s, _ := o[k].(string); return s }
func num(o jsonObj, k string) (float64, bool) {
	v, ok := o[k].(float64)
	return v, ok
}
func list(o jsonObj, k string) []any { l, _ := o[k].([]any); return l }
func obj(o jsonObj, k string) jsonObj {
	v, _ := o[k].(map[string]any)
	return v
}

var varRefRE = regexp.MustCompile(`\$(?:([a-zA-Z_][a-zA-Z0-9_]*)|\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?\})`)

func refs(s string) []string {
	var out []string
	for _, m := range varRefRE.FindAllStringSubmatch(s, -1) {
		if m[1] != "" {
			out = append(out, m[1])
		} else {
			out = append(out, m[2])
		}
	}
	return out
}

// TestDashboardStructure checks each committed dashboard against Grafana's dashboard JSON model
// (schemaVersion 39): the fields Grafana requires, panel ids and grid positions, datasources
// given by variables, and every variable reference resolvable.
func TestDashboardStructure(t *testing.T) {
	dashboards := loadDashboards(t)
	got := map[string]string{}
	for file, d := range dashboards {
		got[file] = str(d, "uid")
	}
	assert.Equal(t, wantUIDs, got, "dashboard files and UIDs")

	titles := map[string]string{}
	for file, d := range dashboards {
		t.Run(file, func(t *testing.T) {
			for _, k := range []string{"uid", "title", "schemaVersion", "panels", "templating", "time", "annotations", "editable", "version", "tags", "timezone", "refresh"} {
				assert.Contains(t, d, k, "required field %q", k)
			}
			uid := str(d, "uid")
			assert.Regexp(t, `^[a-zA-Z0-9_-]{1,40}$`, uid, "uid must be 1-40 URL-safe characters")
			sv, _ := num(d, "schemaVersion")
			assert.GreaterOrEqual(t, sv, float64(39), "schemaVersion of Grafana 10.4+")
			assert.Nil(t, d["id"], "id must be null so that import creates the dashboard")
			assert.NotEmpty(t, str(obj(d, "time"), "from"))
			title := str(d, "title")
			assert.NotEmpty(t, title)
			if prev, dup := titles[title]; dup {
				t.Errorf("title %q also used by %s", title, prev)
			}
			titles[title] = file

			// Variables: unique names; datasource variables typed; query variables read from
			// a datasource variable; every reference inside a variable query resolves to a
			// variable declared before it (Grafana resolves them in order).
			vars := map[string]jsonObj{}
			dsVarType := map[string]string{}
			for i, v := range list(obj(d, "templating"), "list") {
				vo := v.(map[string]any)
				name := str(vo, "name")
				require.NotEmpty(t, name, "variable %d has no name", i)
				_, dup := vars[name]
				assert.False(t, dup, "variable %q declared twice", name)
				switch typ := str(vo, "type"); typ {
				case "datasource":
					q, _ := vo["query"].(string)
					assert.Contains(t, []string{mixin.PrometheusType, mixin.LokiType}, q, "datasource variable %q type", name)
					dsVarType[name] = q
				case "query":
					ds := obj(vo, "datasource")
					require.NotNil(t, ds, "query variable %q has no datasource", name)
					assertDSRef(t, ds, dsVarType, "variable "+name)
					def := str(vo, "definition")
					assert.NotEmpty(t, def, "query variable %q has no definition", name)
					for _, r := range refs(def) {
						_, ok := vars[r]
						assert.True(t, ok || grafanaGlobals[r], "variable %q references $%s, not declared before it", name, r)
					}
				case "custom":
					assert.NotEmpty(t, vo["query"], "custom variable %q has no values", name)
				default:
					t.Errorf("variable %q has unexpected type %q", name, typ)
				}
				if vo["includeAll"] == true {
					assert.NotEmpty(t, str(vo, "allValue"), "variable %q: All must expand to a regex, not to a list that can exceed URL limits", name)
				}
				vars[name] = vo
			}

			// Annotation queries read from a datasource variable and use declared variables.
			for _, av := range list(obj(d, "annotations"), "list") {
				a := av.(map[string]any)
				if b, _ := num(a, "builtIn"); b == 1 {
					continue // Grafana's own annotations and alerts
				}
				ds := obj(a, "datasource")
				require.NotNil(t, ds, "annotation %q has no datasource", str(a, "name"))
				assertDSRef(t, ds, dsVarType, "annotation "+str(a, "name"))
				for _, r := range refs(str(a, "expr")) {
					_, ok := vars[r]
					assert.True(t, ok || grafanaGlobals[r], "annotation %q references undeclared $%s", str(a, "name"), r)
				}
			}

			// Panels: unique ids, valid grid positions without overlaps, targets on a
			// datasource variable, known variables only.
			ids := map[float64]string{}
			type rect struct {
				title      string
				x, y, w, h int
			}
			var rects []rect
			used := map[string]bool{}
			var walk func(ps []any)
			walk = func(ps []any) {
				for _, pv := range ps {
					p := pv.(map[string]any)
					title := str(p, "title")
					id, ok := num(p, "id")
					require.True(t, ok, "panel %q has no id", title)
					if prev, dup := ids[id]; dup {
						t.Errorf("panel id %v used by %q and %q", id, prev, title)
					}
					ids[id] = title
					typ := str(p, "type")
					assert.True(t, knownPanelTypes[typ], "panel %q has unknown type %q", title, typ)
					assert.NotEmpty(t, title, "panel %v has no title", id)
					gp := obj(p, "gridPos")
					require.NotNil(t, gp, "panel %q has no gridPos", title)
					x, _ := num(gp, "x")
					y, _ := num(gp, "y")
					w, _ := num(gp, "w")
					h, _ := num(gp, "h")
					assert.True(t, w >= 1 && x >= 0 && x+w <= 24 && h >= 1 && y >= 0, "panel %q gridPos %v out of the 24-column grid", title, gp)
					rects = append(rects, rect{title, int(x), int(y), int(w), int(h)})
					walk(list(p, "panels"))
					if typ == "row" {
						continue
					}
					assert.NotEmpty(t, str(p, "description"), "panel %q has no description", title)
					if typ != "logs" {
						fc := obj(p, "fieldConfig")
						require.NotNil(t, fc, "panel %q has no fieldConfig", title)
						assert.NotEmpty(t, str(obj(fc, "defaults"), "unit"), "panel %q has no unit", title)
						steps := list(obj(obj(fc, "defaults"), "thresholds"), "steps")
						assert.NotEmpty(t, steps, "panel %q has no threshold steps", title)
					}
					pds := obj(p, "datasource")
					require.NotNil(t, pds, "panel %q has no datasource", title)
					assertDSRef(t, pds, dsVarType, "panel "+title)
					targets := list(p, "targets")
					assert.NotEmpty(t, targets, "panel %q has no queries", title)
					refIDs := map[string]bool{}
					for _, tv := range targets {
						tg := tv.(map[string]any)
						ref := str(tg, "refId")
						assert.NotEmpty(t, ref, "panel %q: query without refId", title)
						assert.False(t, refIDs[ref], "panel %q: refId %s twice", title, ref)
						refIDs[ref] = true
						tds := obj(tg, "datasource")
						require.NotNil(t, tds, "panel %q query %s has no datasource", title, ref)
						assertDSRef(t, tds, dsVarType, "panel "+title)
						expr := str(tg, "expr")
						assert.NotEmpty(t, strings.TrimSpace(expr), "panel %q query %s is empty", title, ref)
						for _, r := range append(refs(expr), refs(str(tg, "legendFormat"))...) {
							used[r] = true
							_, ok := vars[r]
							assert.True(t, ok || grafanaGlobals[r], "panel %q query %s references undeclared $%s", title, ref, r)
						}
						for _, r := range refs(str(tds, "uid")) {
							used[r] = true
						}
					}
				}
			}
			walk(list(d, "panels"))
			for i := range rects {
				for j := i + 1; j < len(rects); j++ {
					a, b := rects[i], rects[j]
					if a.x < b.x+b.w && b.x < a.x+a.w && a.y < b.y+b.h && b.y < a.y+a.h {
						t.Errorf("panels %q and %q overlap", a.title, b.title)
					}
				}
			}
			// A variable nothing uses is a selector that silently does nothing.
			for name, vo := range vars {
				if used[name] {
					continue
				}
				for _, other := range vars {
					for _, r := range refs(str(other, "definition")) {
						if r == name {
							used[name] = true
						}
					}
				}
				assert.True(t, used[name], "variable %q (%s) is not used by any query", name, str(vo, "type"))
			}
		})
	}
}

// assertDSRef checks that a datasource reference points at a datasource variable of its type.
func assertDSRef(t *testing.T, ds jsonObj, dsVarType map[string]string, where string) {
	t.Helper()
	uid := str(ds, "uid")
	r := refs(uid)
	if !assert.Len(t, r, 1, "%s: datasource uid %q must be a datasource variable", where, uid) {
		return
	}
	typ, ok := dsVarType[r[0]]
	if assert.True(t, ok, "%s: datasource $%s is not a declared datasource variable", where, r[0]) {
		assert.Equal(t, typ, str(ds, "type"), "%s: datasource type", where)
	}
}

// TestDashboardsMatchModel checks that the generator's Go model and the JSON agree on what the
// e2e and metric tests rely on: every panel query is listed by mixin.Queries.
func TestDashboardsMatchModel(t *testing.T) {
	dashboards := loadDashboards(t)
	model, err := mixin.Dashboards(mixin.Defaults())
	require.NoError(t, err)
	for file, d := range model {
		jd, ok := dashboards[file]
		require.True(t, ok, "%s not committed", file)
		var want []string
		for _, q := range mixin.Queries(d) {
			want = append(want, q.Expr)
		}
		var got []string
		for _, pv := range list(jd, "panels") {
			for _, tv := range list(pv.(map[string]any), "targets") {
				got = append(got, str(tv.(map[string]any), "expr"))
			}
		}
		for _, av := range list(obj(jd, "annotations"), "list") {
			if e := str(av.(map[string]any), "expr"); e != "" {
				got = append(got, e)
			}
		}
		sort.Strings(want)
		sort.Strings(got)
		assert.Equal(t, want, got, file)
	}
}
