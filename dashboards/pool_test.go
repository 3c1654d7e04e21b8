package dashboards_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sieveobs/sieve/dashboards/mixin"
)

// TestSpanQueriesAggregateAcrossGateways: each gateway of a pool writes its own span_duration
// series (fine_histogram's collector_instance_id label), every one holding a share of each
// service's spans. A panel, rule or alert that read one series as "the" histogram would show a
// fraction of the traffic, so every selection of it must sit under a sum by labels that drop the
// producing collector.
func TestSpanQueriesAggregateAcrossGateways(t *testing.T) {
	cfg := mixin.Defaults()
	names := []string{mixin.SpanDuration.Name, mixin.SpanDuration.Bucket(), mixin.SpanDuration.Count(), mixin.SpanDuration.Sum()}
	p := parser.NewParser(parser.Options{})
	checked := 0
	for where, e := range promExprs(t, cfg) {
		if strings.Contains(where, "variable") {
			continue // label_values() lists label values; it reads no counts
		}
		expr, err := p.ParseExpr(e)
		require.NoError(t, err, "%s: %s", where, e)
		parser.Inspect(expr, func(n parser.Node, path []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok || !slices.Contains(names, vs.Name) {
				return nil
			}
			checked++
			var agg *parser.AggregateExpr
			for i := len(path) - 1; i >= 0; i-- {
				if a, ok := path[i].(*parser.AggregateExpr); ok {
					agg = a
					break
				}
			}
			if !assert.NotNil(t, agg, "%s reads %s without aggregating it: %s", where, vs.Name, e) {
				return nil
			}
			assert.Equal(t, "sum", agg.Op.String(), "%s: %s", where, e)
			assert.False(t, agg.Without, "%s: `sum without` keeps labels it does not name, the producing collector's among them: %s", where, e)
			for _, l := range agg.Grouping {
				assert.NotContains(t, []string{"collector_instance_id", "instance"}, l, "%s groups by the producing collector: %s", where, e)
			}
			return nil
		})
	}
	require.Positive(t, checked, "no query reads %s", mixin.SpanDuration.Name)
}
