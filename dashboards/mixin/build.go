package mixin

import (
	"fmt"
)

// Variable names shared by the dashboards.
const (
	VarDatasource     = "datasource"
	VarLokiDatasource = "loki_datasource"
)

var (
	promDS = &Datasource{Type: PrometheusType, UID: "${" + VarDatasource + "}"}
	lokiDS = &Datasource{Type: LokiType, UID: "${" + VarLokiDatasource + "}"}
)

// board lays panels out left to right, top to bottom, and numbers them; ids and positions only
// depend on the order panels are added, so regenerating keeps them stable.
type board struct {
	d      *Dashboard
	nextID int
	x, y   int
	rowH   int
}

func newBoard(cfg Config, uidSuffix, title, description string) *board {
	return &board{d: &Dashboard{
		Annotations: Annotations{List: []Annotation{{
			BuiltIn:    1,
			Datasource: &Datasource{Type: "grafana", UID: "-- Grafana --"},
			Enable:     true,
			Hide:       true,
			IconColor:  "rgba(0, 211, 255, 1)",
			Name:       "Annotations & Alerts",
			Type:       "dashboard",
		}}},
		Description:   description,
		Editable:      true,
		GraphTooltip:  1,
		Links:         []Link{{AsDropdown: true, IncludeVars: true, KeepTime: true, Tags: cfg.Tags, Title: "Sieve", Type: "dashboards"}},
		Refresh:       "30s",
		SchemaVersion: SchemaVersion,
		Tags:          cfg.Tags,
		Time:          TimeRange{From: "now-1h", To: "now"},
		Timezone:      "utc",
		Title:         title,
		UID:           cfg.UIDPrefix + uidSuffix,
		Version:       1,
	}, nextID: 1}
}

func (b *board) vars(v ...*Variable) { b.d.Templating.List = append(b.d.Templating.List, v...) }

func (b *board) row(title string) {
	if b.x > 0 {
		b.y += b.rowH
		b.x, b.rowH = 0, 0
	}
	collapsed := false
	b.d.Panels = append(b.d.Panels, &Panel{Collapsed: &collapsed, GridPos: GridPos{H: 1, W: 24, X: 0, Y: b.y}, ID: b.nextID, Title: title, Type: "row"})
	b.nextID++
	b.y++
}

func (b *board) add(w, h int, p *Panel) {
	if b.x+w > 24 {
		b.y += b.rowH
		b.x, b.rowH = 0, 0
	}
	p.ID = b.nextID
	b.nextID++
	p.GridPos = GridPos{H: h, W: w, X: b.x, Y: b.y}
	for i, t := range p.Targets {
		t.RefID = refID(i)
	}
	b.x += w
	if h > b.rowH {
		b.rowH = h
	}
	b.d.Panels = append(b.d.Panels, p)
}

// refID names a panel's queries A, B, ... in order.
func refID(i int) string { return string(rune('A' + i)) }

func datasourceVar(name, label, typ string) *Variable {
	return &Variable{Current: map[string]any{}, Label: label, Name: name, Options: []VariableOption{}, Query: typ, Refresh: 1, Type: "datasource"}
}

// promVar is a multi-value Prometheus label variable; "All" matches series without the label too.
func promVar(name, label, labelName, metric, selector string) *Variable {
	q := fmt.Sprintf("label_values(%s, %s)", vec(metric, selector), labelName)
	return &Variable{
		AllValue: ".*", Current: map[string]any{"selected": true, "text": []string{"All"}, "value": []string{"$__all"}},
		Datasource: promDS, Definition: q, IncludeAll: true, Label: label, Multi: true, Name: name,
		Options: []VariableOption{}, Query: VariableQuery{Query: q, RefID: "PrometheusVariableQueryEditor-VariableQuery"},
		Refresh: 2, Sort: 1, Type: "query",
	}
}

// lokiLabelVar lists the values of a Loki stream label.
func lokiLabelVar(name, label, labelName string) *Variable {
	return &Variable{
		AllValue: ".+", Current: map[string]any{"selected": true, "text": []string{"All"}, "value": []string{"$__all"}},
		Datasource: lokiDS, Definition: "label_values(" + labelName + ")", IncludeAll: true, Label: label, Multi: true, Name: name,
		Options: []VariableOption{},
		Query:   map[string]any{"label": labelName, "refId": "LokiVariableQueryEditor-VariableQuery", "stream": "", "type": 1},
		Refresh: 2, Sort: 1, Type: "query",
	}
}

func prom(expr, legend string) *Target {
	return &Target{Datasource: promDS, EditorMode: "code", Expr: expr, LegendFormat: legend, Range: true}
}

func promExemplar(expr, legend string) *Target {
	t := prom(expr, legend)
	t.Exemplar = true
	return t
}

func promInstant(expr, legend string) *Target {
	return &Target{Datasource: promDS, EditorMode: "code", Expr: expr, Format: "table", Instant: true, LegendFormat: legend}
}

func loki(expr, legend string) *Target {
	return &Target{Datasource: lokiDS, EditorMode: "code", Expr: expr, LegendFormat: legend, QueryType: "range", Range: true}
}

func f(v float64) *float64 { return &v }

func thresholds(base string, steps ...any) Thresholds {
	t := Thresholds{Mode: "absolute", Steps: []ThresholdStep{{Color: base}}}
	for i := 0; i+1 < len(steps); i += 2 {
		t.Steps = append(t.Steps, ThresholdStep{Color: steps[i+1].(string), Value: f(steps[i].(float64))})
	}
	return t
}

func timeseries(title, description, unit string, targets ...*Target) *Panel {
	ds := targets[0].Datasource
	return &Panel{
		Datasource: ds, Description: description, Title: title, Type: "timeseries", Targets: targets,
		FieldConfig: &FieldConfig{Defaults: FieldDefaults{
			Color: map[string]any{"mode": "palette-classic"},
			Custom: map[string]any{
				"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never", "spanNulls": false,
				"axisPlacement": "auto", "stacking": map[string]any{"group": "A", "mode": "none"},
				"thresholdsStyle": map[string]any{"mode": "off"},
			},
			Mappings:   []any{},
			Thresholds: thresholds("green"),
			Unit:       unit,
		}, Overrides: []Override{}},
		Options: map[string]any{
			"legend":  map[string]any{"calcs": []string{"mean", "max"}, "displayMode": "table", "placement": "bottom", "showLegend": true},
			"tooltip": map[string]any{"mode": "multi", "sort": "desc"},
		},
	}
}

// withThresholds draws the thresholds as dashed lines on a time series, or colours a stat.
func withThresholds(p *Panel, t Thresholds) *Panel {
	p.FieldConfig.Defaults.Thresholds = t
	if p.Type == "timeseries" {
		p.FieldConfig.Defaults.Custom["thresholdsStyle"] = map[string]any{"mode": "dashed"}
	}
	return p
}

// onRightAxis draws the i-th query of a time series on a right axis: a per-item size beside a
// total of the same unit would otherwise be flattened against zero.
func onRightAxis(p *Panel, i int) *Panel {
	p.FieldConfig.Overrides = append(p.FieldConfig.Overrides, Override{
		Matcher:    Matcher{ID: "byFrameRefID", Options: refID(i)},
		Properties: []Property{{ID: "custom.axisPlacement", Value: "right"}},
	})
	return p
}

func withMinMax(p *Panel, min, max *float64) *Panel {
	p.FieldConfig.Defaults.Min, p.FieldConfig.Defaults.Max = min, max
	return p
}

func stat(title, description, unit string, t Thresholds, targets ...*Target) *Panel {
	return &Panel{
		Datasource: targets[0].Datasource, Description: description, Title: title, Type: "stat", Targets: targets,
		FieldConfig: &FieldConfig{Defaults: FieldDefaults{
			Color: map[string]any{"mode": "thresholds"}, Mappings: []any{}, Thresholds: t, Unit: unit,
		}, Overrides: []Override{}},
		Options: map[string]any{
			"colorMode": "background", "graphMode": "area", "justifyMode": "auto", "orientation": "auto",
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
			"textMode":      "auto",
		},
	}
}

func table(title, description string, targets ...*Target) *Panel {
	return &Panel{
		Datasource: targets[0].Datasource, Description: description, Title: title, Type: "table", Targets: targets,
		FieldConfig: &FieldConfig{Defaults: FieldDefaults{
			Color: map[string]any{"mode": "thresholds"}, Custom: map[string]any{"align": "auto", "cellOptions": map[string]any{"type": "auto"}},
			Mappings: []any{}, Thresholds: thresholds("green"), Unit: "none",
		}, Overrides: []Override{}},
		Options: map[string]any{"cellHeight": "sm", "showHeader": true},
	}
}

func logsPanel(title, description string, t *Target) *Panel {
	return &Panel{
		Datasource: t.Datasource, Description: description, Title: title, Type: "logs", Targets: []*Target{t},
		Options: map[string]any{
			"dedupStrategy": "none", "enableLogDetails": true, "prettifyLogMessage": false, "showCommonLabels": false,
			"showLabels": false, "showTime": true, "sortOrder": "Descending", "wrapLogMessage": true,
		},
	}
}
