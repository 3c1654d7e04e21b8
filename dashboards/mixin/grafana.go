package mixin

// The subset of Grafana's dashboard JSON model (schemaVersion 39, Grafana 10.4 and later) that
// Sieve's dashboards use. Field order follows Grafana's own export so that the committed JSON
// reads like a dashboard saved from the UI.

// SchemaVersion is the dashboard schema version written into every dashboard.
const SchemaVersion = 39

// Datasource types.
const (
	PrometheusType = "prometheus"
	LokiType       = "loki"
)

// Dashboard is a Grafana dashboard.
type Dashboard struct {
	Annotations          Annotations `json:"annotations"`
	Description          string      `json:"description"`
	Editable             bool        `json:"editable"`
	FiscalYearStartMonth int         `json:"fiscalYearStartMonth"`
	GraphTooltip         int         `json:"graphTooltip"`
	ID                   *int        `json:"id"`
	Links                []Link      `json:"links"`
	Panels               []*Panel    `json:"panels"`
	Refresh              string      `json:"refresh"`
	SchemaVersion        int         `json:"schemaVersion"`
	Tags                 []string    `json:"tags"`
	Templating           Templating  `json:"templating"`
	Time                 TimeRange   `json:"time"`
	Timepicker           struct{}    `json:"timepicker"`
	Timezone             string      `json:"timezone"`
	Title                string      `json:"title"`
	UID                  string      `json:"uid"`
	Version              int         `json:"version"`
}

// Annotations holds the dashboard's annotation queries.
type Annotations struct {
	List []Annotation `json:"list"`
}

// Annotation is one annotation query.
type Annotation struct {
	BuiltIn     int         `json:"builtIn,omitempty"`
	Datasource  *Datasource `json:"datasource"`
	Enable      bool        `json:"enable"`
	Expr        string      `json:"expr,omitempty"`
	Hide        bool        `json:"hide"`
	IconColor   string      `json:"iconColor"`
	Name        string      `json:"name"`
	Step        string      `json:"step,omitempty"`
	TitleFormat string      `json:"titleFormat,omitempty"`
	Type        string      `json:"type"`
}

// Link is a dashboard link.
type Link struct {
	AsDropdown  bool     `json:"asDropdown"`
	IncludeVars bool     `json:"includeVars"`
	KeepTime    bool     `json:"keepTime"`
	Tags        []string `json:"tags"`
	Title       string   `json:"title"`
	Type        string   `json:"type"`
}

// TimeRange is the default time range.
type TimeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Datasource references a datasource; UID is a variable reference such as ${datasource}.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Templating holds the dashboard variables.
type Templating struct {
	List []*Variable `json:"list"`
}

// Variable is a template variable: a datasource, query or custom variable.
type Variable struct {
	AllValue    string           `json:"allValue,omitempty"`
	Current     map[string]any   `json:"current"`
	Datasource  *Datasource      `json:"datasource,omitempty"`
	Definition  string           `json:"definition,omitempty"`
	Description string           `json:"description,omitempty"`
	Hide        int              `json:"hide"`
	IncludeAll  bool             `json:"includeAll"`
	Label       string           `json:"label"`
	Multi       bool             `json:"multi"`
	Name        string           `json:"name"`
	Options     []VariableOption `json:"options"`
	Query       any              `json:"query"`
	Refresh     int              `json:"refresh"`
	Regex       string           `json:"regex"`
	SkipURLSync bool             `json:"skipUrlSync"`
	Sort        int              `json:"sort"`
	Type        string           `json:"type"`
}

// VariableOption is one fixed choice of a custom variable.
type VariableOption struct {
	Selected bool   `json:"selected"`
	Text     string `json:"text"`
	Value    string `json:"value"`
}

// VariableQuery is the query object of a Prometheus query variable.
type VariableQuery struct {
	Query string `json:"query"`
	RefID string `json:"refId"`
}

// Panel is a dashboard panel or row.
type Panel struct {
	Collapsed   *bool          `json:"collapsed,omitempty"`
	Datasource  *Datasource    `json:"datasource,omitempty"`
	Description string         `json:"description,omitempty"`
	FieldConfig *FieldConfig   `json:"fieldConfig,omitempty"`
	GridPos     GridPos        `json:"gridPos"`
	ID          int            `json:"id"`
	Options     map[string]any `json:"options,omitempty"`
	Panels      []*Panel       `json:"panels,omitempty"`
	Targets     []*Target      `json:"targets,omitempty"`
	Title       string         `json:"title"`
	Type        string         `json:"type"`
}

// GridPos places a panel on the 24-column grid.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// FieldConfig sets units, thresholds and per-series overrides.
type FieldConfig struct {
	Defaults  FieldDefaults `json:"defaults"`
	Overrides []Override    `json:"overrides"`
}

// FieldDefaults apply to every field of a panel.
type FieldDefaults struct {
	Color      map[string]any `json:"color"`
	Custom     map[string]any `json:"custom,omitempty"`
	Decimals   *int           `json:"decimals,omitempty"`
	Links      []DataLink     `json:"links,omitempty"`
	Mappings   []any          `json:"mappings"`
	Max        *float64       `json:"max,omitempty"`
	Min        *float64       `json:"min,omitempty"`
	Thresholds Thresholds     `json:"thresholds"`
	Unit       string         `json:"unit"`
}

// DataLink is a link shown on a data point.
type DataLink struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Thresholds colour values by step.
type Thresholds struct {
	Mode  string          `json:"mode"`
	Steps []ThresholdStep `json:"steps"`
}

// ThresholdStep starts a colour at Value (nil for the base step).
type ThresholdStep struct {
	Color string   `json:"color"`
	Value *float64 `json:"value"`
}

// Override changes properties of the fields a matcher selects.
type Override struct {
	Matcher    Matcher    `json:"matcher"`
	Properties []Property `json:"properties"`
}

// Matcher selects fields.
type Matcher struct {
	ID      string `json:"id"`
	Options string `json:"options"`
}

// Property is one overridden field property.
type Property struct {
	ID    string `json:"id"`
	Value any    `json:"value"`
}

// Target is one query of a panel.
type Target struct {
	Datasource   *Datasource `json:"datasource"`
	EditorMode   string      `json:"editorMode"`
	Exemplar     bool        `json:"exemplar,omitempty"`
	Expr         string      `json:"expr"`
	Format       string      `json:"format,omitempty"`
	Instant      bool        `json:"instant,omitempty"`
	LegendFormat string      `json:"legendFormat,omitempty"`
	QueryType    string      `json:"queryType,omitempty"`
	Range        bool        `json:"range"`
	RefID        string      `json:"refId"`
}
