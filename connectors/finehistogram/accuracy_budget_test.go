package finehistogram

import (
	"fmt"
	"strings"
	"testing"
)

// TestAccuracyBudgets logs, per data set and bucket budget, the scale each layout reaches and
// its P99 and P99.9 errors (full stream): the budget a 0.1% error needs on each shape.
func TestAccuracyBudgets(t *testing.T) {
	if testing.Short() {
		t.Skip("needs 3M observations; run without -short")
	}
	var b strings.Builder
	b.WriteString("| data set | max_size | layout | populated | scale | P99 | P99.9 |\n|---|---:|---|---:|---:|---:|---:|\n")
	for _, d := range []*accuracyDataset{
		newAccuracyDataset(t, lognormalName, lognormal(0.05, 0.6), 1),
		newAccuracyDataset(t, bimodalName, bimodal, 2),
		newAccuracyDataset(t, trimodalName, trimodal, 3),
	} {
		for _, size := range []int32{160, 320, 640} {
			for _, layout := range []string{LayoutDense, LayoutSparse} {
				r := measure(t, d, accuracySetup{name: layout, mutate: func(c *Config) {
					c.Histogram.Kind = KindExponential
					c.Histogram.Exponential.Layout = layout
					c.Histogram.Exponential.MaxSize = size
				}}, accuracyModes[0])
				fmt.Fprintf(&b, "| %s | %d | %s | %d | %d | %+.3f%% | %+.3f%% |\n", d.name, size, layout, r.buckets, r.scale, 100*r.relErr[2], 100*r.relErr[3])
			}
		}
	}
	t.Log("\n" + b.String())
}
