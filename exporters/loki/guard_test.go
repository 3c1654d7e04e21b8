package loki

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCardinalityGuard(t *testing.T) {
	cfg := CardinalityConfig{MaxLabelNamesPerStream: 2, MaxLabelNameLength: 8, MaxLabelValueLength: 5, MaxValuesPerLabel: 2, Window: time.Minute}
	type step struct {
		advance     time.Duration
		name, value string
		kept        int
		want        string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"admits up to the budget", []step{
			{name: "user", value: "a", want: ""},
			{name: "user", value: "b", want: ""},
			{name: "user", value: "c", want: demoteValueBudget},
		}},
		{"known values stay admitted over budget", []step{
			{name: "user", value: "a", want: ""},
			{name: "user", value: "b", want: ""},
			{name: "user", value: "c", want: demoteValueBudget},
			{name: "user", value: "a", want: ""},
		}},
		{"budgets are per label", []step{
			{name: "user", value: "a"}, {name: "user", value: "b"},
			{name: "region", value: "c", want: ""},
		}},
		{"window end resets the budget", []step{
			{name: "user", value: "a"}, {name: "user", value: "b"},
			{name: "user", value: "c", want: demoteValueBudget},
			{advance: time.Minute, name: "user", value: "c", want: ""},
		}},
		{"inside the window the budget holds", []step{
			{name: "user", value: "a"}, {name: "user", value: "b"},
			{advance: 59 * time.Second, name: "user", value: "c", want: demoteValueBudget},
		}},
		{"name too long", []step{{name: strings.Repeat("n", 9), value: "a", want: demoteNameTooLong}}},
		{"value too long", []step{{name: "user", value: "abcdef", want: demoteValueTooLong}}},
		{"too many labels", []step{{name: "user", value: "a", kept: 2, want: demoteTooManyLabels}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &manualClock{t: time.Unix(1000, 0)}
			g := newCardinalityGuard(cfg, clk.Now)
			g.beginBatch()
			for i, s := range tt.steps {
				if s.advance > 0 {
					clk.Advance(s.advance)
					g.beginBatch()
				}
				got := g.admit(s.name, s.value, s.kept)
				if i == len(tt.steps)-1 || s.want != "" {
					require.Equal(t, s.want, got, "step %d", i)
				}
			}
		})
	}
}

func TestGuardMemoryIsBounded(t *testing.T) {
	cfg := CardinalityConfig{MaxLabelNamesPerStream: 15, MaxLabelNameLength: 64, MaxLabelValueLength: 64, MaxValuesPerLabel: 100, Window: time.Hour}
	g := newCardinalityGuard(cfg, fixedClock(time.Unix(0, 0)))
	g.beginBatch()
	demoted := 0
	for i := 0; i < 10_000; i++ {
		if g.admit("user", strings.Repeat("x", i%50)+string(rune('a'+i%26))+string(rune(i)), 0) != "" {
			demoted++
		}
	}
	require.Len(t, g.values["user"], 100)
	require.Equal(t, 10_000-100, demoted)
}
