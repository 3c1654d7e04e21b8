package dashboards_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/sieveobs/sieve/dashboards/mixin"
)

// promExprs returns every PromQL expression of the dashboards (variables interpolated as
// Grafana would with "All" selected) and of the rules, by where it is used.
func promExprs(t *testing.T, cfg mixin.Config) map[string]string {
	t.Helper()
	out := map[string]string{}
	dashboards, err := mixin.Dashboards(cfg)
	require.NoError(t, err)
	for file, d := range dashboards {
		vars := map[string]string{}
		for _, v := range mixin.Variables(d) {
			vars[v.Name] = v.AllValue
		}
		for _, q := range mixin.Queries(d) {
			if q.Datasource == mixin.PrometheusType {
				out[fmt.Sprintf("%s %q %s", file, q.Panel, q.RefID)] = mixin.Substitute(q.Expr, vars, "1m")
			}
		}
		for _, v := range mixin.Variables(d) {
			if v.Type == "query" && v.Datasource == mixin.PrometheusType {
				// label_values(selector, label) reads the series of its selector.
				def := v.Query
				sel := strings.TrimSuffix(strings.TrimPrefix(def, "label_values("), ")")
				sel = sel[:strings.LastIndex(sel, ",")]
				out[fmt.Sprintf("%s variable %s", file, v.Name)] = mixin.Substitute(sel, vars, "1m")
			}
		}
	}
	for _, rf := range []mixin.RuleFile{mixin.AlertingRules(cfg), mixin.RecordingRules(cfg)} {
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				out["rule "+r.Alert+r.Record] = r.Expr
			}
		}
	}
	return out
}

// TestQueriesUseCataloguedMetrics parses every PromQL query and requires each metric it selects
// to be in the catalogue (metrics.go) or a recording rule of recording.yaml, so that the
// catalogue checks below and the end-to-end test cover every name the dashboards use.
func TestQueriesUseCataloguedMetrics(t *testing.T) {
	cfg := mixin.Defaults()
	known := map[string]bool{}
	for _, m := range mixin.Catalog() {
		known[m.Name] = true
		if m.Histogram {
			known[m.Bucket()], known[m.Sum()], known[m.Count()] = true, true, true
		}
	}
	for _, g := range mixin.RecordingRules(cfg).Groups {
		for _, r := range g.Rules {
			known[r.Record] = true
		}
	}
	// The latency alerts' thresholds, recorded by the hand-edited rules/thresholds.yaml.
	for _, r := range mixin.ThresholdRecords {
		known[r] = true
	}
	p := parser.NewParser(parser.Options{})
	exprs := promExprs(t, cfg)
	require.NotEmpty(t, exprs)
	for where, e := range exprs {
		expr, err := p.ParseExpr(e)
		if !assert.NoError(t, err, "%s: %s", where, e) {
			continue
		}
		var names []string
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				names = append(names, vs.Name)
			}
			return nil
		})
		assert.NotEmpty(t, names, "%s selects no metric: %s", where, e)
		for _, n := range names {
			assert.True(t, known[n], "%s uses %q, which is not in dashboards/mixin/metrics.go", where, n)
		}
		assert.NotEmpty(t, mixin.MetricsIn(cfg, e), "%s: no catalogued source metric found", where)
	}
}

type metadataFile struct {
	Telemetry struct {
		Metrics map[string]metadataMetric `yaml:"metrics"`
	} `yaml:"telemetry"`
	Metrics map[string]metadataMetric `yaml:"metrics"`
}

type metadataMetric struct {
	Unit string `yaml:"unit"`
}

func readMetadata(t *testing.T, path string) metadataFile {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var md metadataFile
	require.NoError(t, yaml.Unmarshal(b, &md), path)
	return md
}

// upstreamMetadata are the upstream modules whose metadata.yaml declares the collector metrics
// the dashboards use.
var upstreamMetadata = []string{
	"go.opentelemetry.io/collector/service",
	"go.opentelemetry.io/collector/receiver/receiverhelper",
	"go.opentelemetry.io/collector/processor/processorhelper",
	"go.opentelemetry.io/collector/exporter/exporterhelper",
}

// upstreamNames reads the upstream declarations at the versions bin/sieve is built with
// (cmd/collector/go.mod).
func upstreamNames(t *testing.T) map[string]string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-m", "-f", "{{.Path}} {{.Dir}}"}, upstreamMetadata...)...)
	cmd.Dir = filepath.Join("..", "cmd", "collector")
	out, err := cmd.Output()
	require.NoError(t, err, "go list -m in cmd/collector")
	names := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, dir, ok := strings.Cut(line, " ")
		require.True(t, ok && dir != "", "module %s is not in the module cache: run `cd cmd/collector && go mod download`", path)
		md := readMetadata(t, filepath.Join(dir, "metadata.yaml"))
		for key := range md.Telemetry.Metrics {
			names[key] = mixin.TelemetryName(key)
		}
	}
	return names
}

// TestCatalogueMatchesDeclarations checks every catalogued name against its declaration: the
// metadata.yaml of Sieve's component, or the upstream collector's metadata.yaml. Components
// whose metadata.yaml does not exist yet are listed and skipped; the end-to-end test then checks
// the names against what bin/sieve exports.
func TestCatalogueMatchesDeclarations(t *testing.T) {
	upstream := upstreamNames(t)
	var pending []string
	for _, m := range mixin.Catalog() {
		switch m.Origin {
		case mixin.OriginCollector:
			want, ok := upstream[m.MetadataKey]
			if assert.True(t, ok, "%s: key %q not declared upstream", m.Name, m.MetadataKey) {
				assert.Equal(t, want, m.Name, "name of upstream metric %s", m.MetadataKey)
			}
		case mixin.OriginSieve:
			path := filepath.Join("..", m.MetadataDir, "metadata.yaml")
			if _, err := os.Stat(path); os.IsNotExist(err) {
				pending = append(pending, fmt.Sprintf("%s (%s has no metadata.yaml yet)", m.Name, m.MetadataDir))
				continue
			}
			md := readMetadata(t, path)
			if _, ok := md.Telemetry.Metrics[m.MetadataKey]; ok {
				assert.Equal(t, mixin.TelemetryName(m.MetadataKey), m.Name, "%s: name derived from %s", m.MetadataKey, path)
				continue
			}
			// The data a connector produces is configured, not declared as internal telemetry:
			// its default name must appear in the component's factory or documentation.
			if _, ok := md.Metrics[m.MetadataKey]; ok {
				continue
			}
			var found bool
			for _, f := range []string{"factory.go", "README.md", "documentation.md"} {
				b, _ := os.ReadFile(filepath.Join("..", m.MetadataDir, f))
				found = found || strings.Contains(string(b), `"`+m.MetadataKey+`"`) || strings.Contains(string(b), m.Name)
			}
			assert.True(t, found, "%s: %s declares no metric %q and the component's factory and docs do not name it", m.Name, path, m.MetadataKey)
		case mixin.OriginService:
			// Emitted by the services, not declared by Sieve: only the end-to-end test sees them.
		}
	}
	sort.Strings(pending)
	if len(pending) > 0 {
		t.Logf("metrics not checked until their component declares them:\n  %s", strings.Join(pending, "\n  "))
	}
}
