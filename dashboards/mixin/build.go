package mixin

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/logs"
	"github.com/grafana/grafana-foundation-sdk/go/loki"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Dashboard is a Grafana dashboard as the Grafana Foundation SDK models it; its JSON encoding is
// what Grafana imports.
type Dashboard = dashboard.Dashboard

// SchemaVersion is the dashboard schema version written into every dashboard. The SDK models a
// newer schema, but the dashboards use nothing Grafana 10.4 (schema 39) lacks: declaring 39
// keeps them importable there as they are, and newer Grafana versions migrate them up on load.
const SchemaVersion = 39

// Datasource types.
const (
	PrometheusType = "prometheus"
	LokiType       = "loki"
)

// Variable names shared by the dashboards.
const (
	VarDatasource     = "datasource"
	VarLokiDatasource = "loki_datasource"
)

var (
	promDS = dsRef(PrometheusType, "${"+VarDatasource+"}")
	lokiDS = dsRef(LokiType, "${"+VarLokiDatasource+"}")
)

func dsRef(typ, uid string) common.DataSourceRef {
	return common.DataSourceRef{Type: &typ, Uid: &uid}
}

// board numbers panels in the order they are added and gives each its size; the SDK's
// dashboard builder places them left to right, top to bottom. Ids and positions only depend on
// the order, so regenerating keeps them stable. The builder starts a new line only once a line
// is full, so the widths of each line add up to 24 (the structure test fails on a panel past
// the grid's edge).
type board struct {
	d      *dashboard.DashboardBuilder
	nextID uint32
}

func newBoard(cfg Config, uidSuffix, title, description string) *board {
	d := dashboard.NewDashboardBuilder(title).
		Uid(cfg.UIDPrefix+uidSuffix).
		Description(description).
		Tags(cfg.Tags).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Refresh("30s").
		Time("now-1h", "now").
		Timezone("utc").
		Version(1).
		Link(dashboard.NewDashboardLinkBuilder("Sieve").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags(cfg.Tags).
			AsDropdown(true).
			IncludeVars(true).
			KeepTime(true)).
		Annotation(dashboard.NewAnnotationQueryBuilder().
			Name("Annotations & Alerts").
			BuiltIn(1).
			Datasource(dsRef("grafana", "-- Grafana --")).
			Enable(true).
			Hide(true).
			IconColor("rgba(0, 211, 255, 1)").
			Type("dashboard"))
	return &board{d: d, nextID: 1}
}

func (b *board) vars(v ...cog.Builder[dashboard.VariableModel]) {
	for _, x := range v {
		b.d.WithVariable(x)
	}
}

func (b *board) row(title string) {
	b.d.WithRow(dashboard.NewRowBuilder(title).Id(b.nextID))
	b.nextID++
}

func (b *board) add(w, h uint32, p cog.Builder[dashboard.Panel]) {
	b.d.WithPanel(sized{p: p, id: b.nextID, w: w, h: h})
	b.nextID++
}

func (b *board) build() (*Dashboard, error) {
	d, err := b.d.Build()
	if err != nil {
		return nil, err
	}
	d.SchemaVersion = SchemaVersion
	return &d, nil
}

// sized gives a panel its id and size, leaving its position to the dashboard builder. The SDK's
// panel builders each have their own type, so this is done on the built panel.
type sized struct {
	p    cog.Builder[dashboard.Panel]
	id   uint32
	w, h uint32
}

func (s sized) Build() (dashboard.Panel, error) {
	p, err := s.p.Build()
	if err != nil {
		return p, err
	}
	p.Id = &s.id
	p.GridPos = &dashboard.GridPos{W: s.w, H: s.h}
	return p, nil
}

// refID names a panel's queries A, B, ... in order.
func refID(i int) string { return string(rune('A' + i)) }

func datasourceVar(name, label, typ string) *dashboard.DatasourceVariableBuilder {
	return dashboard.NewDatasourceVariableBuilder(name).Label(label).Type(typ)
}

var allSelected = dashboard.VariableOption{
	Selected: cog.ToPtr(true),
	Text:     dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
	Value:    dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
}

// promVar is a multi-value Prometheus label variable; "All" matches series without the label too.
func promVar(name, label, labelName, metric, selector string) *dashboard.QueryVariableBuilder {
	q := fmt.Sprintf("label_values(%s, %s)", vec(metric, selector), labelName)
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(promDS).
		Definition(q).
		Query(dashboard.StringOrMap{Map: map[string]any{"query": q, "refId": "PrometheusVariableQueryEditor-VariableQuery"}}).
		Current(allSelected).
		Multi(true).
		IncludeAll(true).
		AllValue(".*").
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc)
}

// lokiLabelVar lists the values of a Loki stream label.
func lokiLabelVar(name, label, labelName string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(lokiDS).
		Definition("label_values(" + labelName + ")").
		Query(dashboard.StringOrMap{Map: map[string]any{"label": labelName, "refId": "LokiVariableQueryEditor-VariableQuery", "stream": "", "type": 1}}).
		Current(allSelected).
		Multi(true).
		IncludeAll(true).
		AllValue(".+").
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc)
}

// target is one panel query; the panel builders turn it into the SDK's query type of its
// datasource once they know its position (refId).
type target struct {
	ds       string
	expr     string
	legend   string
	instant  bool
	exemplar bool
}

func prom(expr, legend string) target { return target{ds: PrometheusType, expr: expr, legend: legend} }

func promExemplar(expr, legend string) target {
	t := prom(expr, legend)
	t.exemplar = true
	return t
}

func promInstant(expr, legend string) target {
	t := prom(expr, legend)
	t.instant = true
	return t
}

func lokiQuery(expr, legend string) target { return target{ds: LokiType, expr: expr, legend: legend} }

func (t target) datasource() common.DataSourceRef {
	if t.ds == LokiType {
		return lokiDS
	}
	return promDS
}

func (t target) build(i int) cog.Builder[variants.Dataquery] {
	if t.ds == LokiType {
		q := loki.NewDataqueryBuilder().Datasource(lokiDS).EditorMode(loki.QueryEditorModeCode).
			Expr(t.expr).QueryType("range").Range(true).RefId(refID(i))
		if t.legend != "" {
			q.LegendFormat(t.legend)
		}
		return q
	}
	q := prometheus.NewDataqueryBuilder().Datasource(promDS).EditorMode(prometheus.QueryEditorModeCode).
		Expr(t.expr).RefId(refID(i))
	if t.instant {
		q.Instant().Format(prometheus.PromQueryFormatTable)
	} else {
		q.Range()
	}
	if t.exemplar {
		q.Exemplar(true)
	}
	if t.legend != "" {
		q.LegendFormat(t.legend)
	}
	return q
}

// thresholds starts at the base colour; steps are value, colour pairs.
func thresholds(base string, steps ...any) *dashboard.ThresholdsConfigBuilder {
	s := []dashboard.Threshold{{Color: base}}
	for i := 0; i+1 < len(steps); i += 2 {
		s = append(s, dashboard.Threshold{Color: steps[i+1].(string), Value: cog.ToPtr(steps[i].(float64))})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(s)
}

func timeseriesPanel(title, description, unit string, targets ...target) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(targets[0].datasource()).
		Unit(unit).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdPaletteClassic)).
		Thresholds(thresholds("green")).
		DrawStyle(common.GraphDrawStyleLine).
		LineWidth(1).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		SpanNulls(common.BoolOrFloat64{Bool: cog.ToPtr(false)}).
		AxisPlacement(common.AxisPlacementAuto).
		Stacking(common.NewStackingConfigBuilder().Group("A").Mode(common.StackingModeNone)).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeOff)).
		Legend(common.NewVizLegendOptionsBuilder().
			Calcs([]string{"mean", "max"}).
			DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true)).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending))
	for i, t := range targets {
		p.WithTarget(t.build(i))
	}
	return p
}

// withThresholds draws the thresholds as dashed lines on a time series.
func withThresholds(p *timeseries.PanelBuilder, t *dashboard.ThresholdsConfigBuilder) *timeseries.PanelBuilder {
	return p.Thresholds(t).ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed))
}

// onRightAxis draws the i-th query of a time series on a right axis: a per-item size beside a
// total of the same unit would otherwise be flattened against zero.
func onRightAxis(p *timeseries.PanelBuilder, i int) *timeseries.PanelBuilder {
	return p.OverrideByQuery(refID(i), []dashboard.DynamicConfigValue{{Id: "custom.axisPlacement", Value: common.AxisPlacementRight}})
}

func statPanel(title, description, unit string, t *dashboard.ThresholdsConfigBuilder, targets ...target) *stat.PanelBuilder {
	p := stat.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(targets[0].datasource()).
		Unit(unit).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdThresholds)).
		Thresholds(t).
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeArea).
		JustifyMode(common.BigValueJustifyModeAuto).
		Orientation(common.VizOrientationAuto).
		TextMode(common.BigValueTextModeAuto).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Fields("").Values(false))
	for i, t := range targets {
		p.WithTarget(t.build(i))
	}
	return p
}

func tablePanel(title, description string, targets ...target) *table.PanelBuilder {
	p := table.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(targets[0].datasource()).
		Unit("none").
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdThresholds)).
		Thresholds(thresholds("green")).
		Align(common.FieldTextAlignmentAuto).
		CellOptions(common.TableCellOptions{TableAutoCellOptions: &common.TableAutoCellOptions{Type: common.TableCellDisplayModeAuto}}).
		CellHeight(common.TableCellHeightSm).
		ShowHeader(true)
	for i, t := range targets {
		p.WithTarget(t.build(i))
	}
	return p
}

func logsPanel(title, description string, t target) *logs.PanelBuilder {
	return logs.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(t.datasource()).
		DedupStrategy(common.LogsDedupStrategyNone).
		EnableLogDetails(true).
		PrettifyLogMessage(false).
		ShowCommonLabels(false).
		ShowLabels(false).
		ShowTime(true).
		SortOrder(common.LogsSortOrderDescending).
		WrapLogMessage(true).
		WithTarget(t.build(0))
}
