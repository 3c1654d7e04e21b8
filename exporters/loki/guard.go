package loki // import "github.com/sieveobs/sieve/exporters/loki"

import (
	"strings"
	"time"
)

// Demotion reasons, used as the reason attribute of labels_demoted.
const (
	demoteTooManyLabels = "too_many_labels"
	demoteNameTooLong   = "name_too_long"
	demoteValueTooLong  = "value_too_long"
	demoteValueBudget   = "value_budget"
)

// cardinalityGuard keeps, per label, the distinct values admitted in the
// current window. The sets are capped at maxValues each and label names come
// from the configuration, so memory is bounded by
// labels × max_values_per_label × max_label_value_length.
//
// It is not safe for concurrent use: the exporter calls it with its own lock
// held, once per batch rather than once per entry.
type cardinalityGuard struct {
	maxNames    int
	maxNameLen  int
	maxValueLen int
	maxValues   int
	window      time.Duration
	now         func() time.Time

	windowStart time.Time
	values      map[string]map[string]struct{}
}

func newCardinalityGuard(c CardinalityConfig, now func() time.Time) *cardinalityGuard {
	return &cardinalityGuard{
		maxNames:    c.MaxLabelNamesPerStream,
		maxNameLen:  c.MaxLabelNameLength,
		maxValueLen: c.MaxLabelValueLength,
		maxValues:   c.MaxValuesPerLabel,
		window:      c.Window,
		now:         now,
		values:      map[string]map[string]struct{}{},
	}
}

// beginBatch rolls the window over when it has elapsed. Checking the clock
// once per batch keeps time.Now off the per-entry path.
func (g *cardinalityGuard) beginBatch() {
	now := g.now()
	if g.windowStart.IsZero() || now.Sub(g.windowStart) >= g.window || now.Before(g.windowStart) {
		g.windowStart = now
		clear(g.values)
	}
}

// admit decides whether the candidate label may be a stream label; it
// returns "" when admitted, or the demotion reason. kept is the number of
// labels already admitted to this stream.
func (g *cardinalityGuard) admit(name, value string, kept int) string {
	if len(name) > g.maxNameLen {
		return demoteNameTooLong
	}
	if len(value) > g.maxValueLen {
		return demoteValueTooLong
	}
	if kept >= g.maxNames {
		return demoteTooManyLabels
	}
	set, ok := g.values[name]
	if !ok {
		set = make(map[string]struct{})
		g.values[name] = set
	}
	if _, ok := set[value]; ok {
		return ""
	}
	if len(set) >= g.maxValues {
		return demoteValueBudget
	}
	// Clone so the window does not pin the batch the value came from.
	set[strings.Clone(value)] = struct{}{}
	return ""
}
