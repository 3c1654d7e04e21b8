package policyfile

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottlspan"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/ottlfuncs"
	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"
)

// SpanCondition is a compiled rule condition in OTTL's span context.
type SpanCondition = ottl.Condition[*ottlspan.TransformContext]

var (
	parserOnce sync.Once
	parser     ottl.Parser[*ottlspan.TransformContext]
	parserErr  error
)

// ParseSpanCondition compiles an OTTL condition in the span context with the standard converters,
// as the log tiers are compiled in the log context.
func ParseSpanCondition(cond string) (*SpanCondition, error) {
	parserOnce.Do(func() {
		parser, parserErr = ottlspan.NewParser(ottlfuncs.StandardConverters[*ottlspan.TransformContext](),
			component.TelemetrySettings{Logger: zap.NewNop()})
	})
	if parserErr != nil {
		return nil, parserErr
	}
	return parser.ParseCondition(cond)
}

// ConditionOf returns the rule's OTTL condition: its own, or the one its shorthand fields stand
// for. service is the resource's service.name, span_name the span's name, span_name_prefix a
// prefix of it; attribute alone is the span attribute's presence, with value its value as text
// (String() gives "true" for a boolean true and "200" for an integer 200).
func (r Rule) ConditionOf() string {
	if r.Condition != "" {
		return r.Condition
	}
	var parts []string
	if r.Service != "" {
		parts = append(parts, fmt.Sprintf(`resource.attributes["service.name"] == %s`, strconv.Quote(r.Service)))
	}
	if r.SpanName != "" {
		parts = append(parts, fmt.Sprintf(`name == %s`, strconv.Quote(r.SpanName)))
	}
	if r.SpanNamePrefix != "" {
		parts = append(parts, fmt.Sprintf(`HasPrefix(name, %s)`, strconv.Quote(r.SpanNamePrefix)))
	}
	if r.Attribute != "" {
		key := strconv.Quote(r.Attribute)
		if r.Value == "" {
			parts = append(parts, fmt.Sprintf(`attributes[%s] != nil`, key))
		} else {
			parts = append(parts, fmt.Sprintf(`String(attributes[%s]) == %s`, key, strconv.Quote(r.Value)))
		}
	}
	return strings.Join(parts, " and ")
}

// shorthand reports whether the rule uses the shorthand fields.
func (r Rule) shorthand() bool {
	return r.Service != "" || r.SpanName != "" || r.SpanNamePrefix != "" || r.Attribute != "" || r.Value != ""
}
