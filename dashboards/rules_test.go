package dashboards_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/sieveobs/sieve/dashboards/mixin"
)

// promtool comes with the Prometheus package that testbed/scripts/install-deps.sh installs; a
// missing promtool is a broken setup, not a reason to skip the rule tests.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	require.NoError(t, err, "promtool not found: run `bash testbed/scripts/install-deps.sh`")
	return p
}

func TestRulesCheck(t *testing.T) {
	files, err := filepath.Glob("rules/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out, err := exec.Command(promtool(t), append([]string{"check", "rules"}, files...)...).CombinedOutput()
	require.NoError(t, err, "promtool check rules:\n%s", out)
}

func TestRulesUnit(t *testing.T) {
	files, err := filepath.Glob("rules/tests/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out, err := exec.Command(promtool(t), append([]string{"test", "rules"}, files...)...).CombinedOutput()
	require.NoError(t, err, "promtool test rules:\n%s", out)
}

// TestEveryAlertUnitTested requires, for every alert, a promtool case where it fires and one
// where it stays silent, and the severity, summary and description every alert must carry.
func TestEveryAlertUnitTested(t *testing.T) {
	type alertTest struct {
		Alertname string           `yaml:"alertname"`
		ExpAlerts []map[string]any `yaml:"exp_alerts"`
	}
	type suite struct {
		Tests []struct {
			AlertRuleTest []alertTest `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	var suites []suite
	files, err := filepath.Glob("rules/tests/*.yaml")
	require.NoError(t, err)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var s suite
		require.NoError(t, yaml.Unmarshal(b, &s), f)
		suites = append(suites, s)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, s := range suites {
		for _, tc := range s.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					fires[a.Alertname] = true
				} else {
					silent[a.Alertname] = true
				}
			}
		}
	}
	var n int
	for _, g := range mixin.AlertingRules(mixin.Defaults()).Groups {
		for _, r := range g.Rules {
			n++
			assert.True(t, fires[r.Alert], "%s: no promtool test where it fires", r.Alert)
			assert.True(t, silent[r.Alert], "%s: no promtool test where it stays silent", r.Alert)
			assert.Contains(t, []string{"critical", "warning", "info"}, r.Labels["severity"], "%s severity", r.Alert)
			assert.NotEmpty(t, r.Annotations["summary"], "%s summary", r.Alert)
			assert.NotEmpty(t, r.Annotations["description"], "%s description", r.Alert)
		}
	}
	require.Positive(t, n)
}

// TestThresholdsFile checks the shape of the hand-edited rules/thresholds.yaml, whatever values
// it holds: only the threshold series the latency alerts read, constant, labelled by service at
// most, and one rule per series (two would overwrite each other's samples).
func TestThresholdsFile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("rules", "thresholds.yaml"))
	require.NoError(t, err)
	var rf mixin.RuleFile
	require.NoError(t, yaml.Unmarshal(b, &rf))
	p := parser.NewParser(parser.Options{})
	seen := map[string]bool{}
	defaults := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			assert.Empty(t, r.Alert, "thresholds.yaml holds no alerts: %s", r.Alert)
			assert.Contains(t, mixin.ThresholdRecords, r.Record, "thresholds.yaml records a series no alert reads")
			for l := range r.Labels {
				assert.Equal(t, mixin.SpanServiceLabel, l, "%s: the alerts read only the %s label", r.Record, mixin.SpanServiceLabel)
			}
			service := r.Labels[mixin.SpanServiceLabel]
			key := r.Record + "{" + service + "}"
			assert.False(t, seen[key], "%s: more than one rule for service %q", r.Record, service)
			seen[key] = true
			if service == "" {
				defaults[r.Record] = true
			}
			expr, err := p.ParseExpr(r.Expr)
			if !assert.NoError(t, err, "%s: %s", r.Record, r.Expr) {
				continue
			}
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				_, isSel := n.(*parser.VectorSelector)
				assert.False(t, isSel, "%s: a threshold is a constant such as vector(0.5), not %s", r.Record, r.Expr)
				return nil
			})
		}
	}
	for _, r := range mixin.ThresholdRecords {
		if !defaults[r] {
			t.Logf("%s has no default in thresholds.yaml: the alert uses its built-in one", r)
		}
	}
}
