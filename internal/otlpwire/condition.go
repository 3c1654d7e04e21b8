package otlpwire // import "github.com/sieveobs/sieve/internal/otlpwire"

import (
	"strconv"
	"strings"
)

// Tri is a predicate's answer on the wire: true, false, or unknown when the reader cannot tell
// what OTTL would answer (the record is then decided after the normal decode).
type Tri int8

const (
	False Tri = iota
	True
	Unknown
)

// LogPredicate is an OTTL log condition compiled to the wire.
type LogPredicate func(res *Resource, rec *LogRecord) Tri

// CompileLogCondition compiles an OTTL condition in the log context to a wire predicate. It
// compiles only what the reader reads exactly:
//   - paths severity_number, severity_text, body, flags, attributes["k"] and
//     resource.attributes["k"] (also with the log. prefix);
//   - literals: integers, floats, strings, true, false, nil and the SEVERITY_NUMBER_* enums;
//   - the converter Int(...) on such a path;
//   - comparisons (==, !=, <, <=, >, >=) and `and`, `or`, `not`, parentheses.
//
// Anything else (other converters, math, nested map keys, lists) returns ok == false: the tier
// is then evaluated by OTTL after the normal decode. The caller must already have checked that
// OTTL itself accepts the condition.
func CompileLogCondition(cond string) (LogPredicate, bool) {
	toks, ok := lex(cond)
	if !ok {
		return nil, false
	}
	p := &parser{toks: toks}
	e, ok := p.expr()
	if !ok || p.pos != len(p.toks) {
		return nil, false
	}
	return func(res *Resource, rec *LogRecord) Tri { return e.eval(res, rec) }, true
}

type tokKind uint8

const (
	tIdent tokKind = iota
	tString
	tInt
	tFloat
	tOp
	tPunct
)

type token struct {
	kind tokKind
	text string
}

// lex splits a condition the way OTTL's lexer does for the compiled subset; any character the
// subset does not use fails it.
func lex(s string) ([]token, bool) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, false
			}
			toks = append(toks, token{tString, s[i : j+1]})
			i = j + 1
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			j := i
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == 'e' || s[j] == 'E' ||
				(s[j] == '-' || s[j] == '+') && j > i && (s[j-1] == 'e' || s[j-1] == 'E')) {
				j++
			}
			text := s[i:j]
			if strings.HasPrefix(text, "0x") {
				return nil, false
			}
			kind := tInt
			if strings.ContainsAny(text, ".eE") {
				kind = tFloat
			}
			toks = append(toks, token{kind, text})
			i = j
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_':
			j := i
			for j < len(s) && (s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9' || s[j] == '_') {
				j++
			}
			toks = append(toks, token{tIdent, s[i:j]})
			i = j
		case c == '=' || c == '!' || c == '<' || c == '>':
			if i+1 < len(s) && s[i+1] == '=' {
				toks = append(toks, token{tOp, s[i : i+2]})
				i += 2
				continue
			}
			if c == '=' || c == '!' {
				return nil, false
			}
			toks = append(toks, token{tOp, s[i : i+1]})
			i++
		case c == '(' || c == ')' || c == '[' || c == ']' || c == '.':
			toks = append(toks, token{tPunct, s[i : i+1]})
			i++
		default:
			return nil, false
		}
	}
	return toks, true
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek(kind tokKind, text string) bool {
	return p.pos < len(p.toks) && p.toks[p.pos].kind == kind && p.toks[p.pos].text == text
}

func (p *parser) accept(kind tokKind, text string) bool {
	if p.peek(kind, text) {
		p.pos++
		return true
	}
	return false
}

type boolNode interface {
	eval(res *Resource, rec *LogRecord) Tri
}

// orNode and andNode evaluate left to right and stop as OTTL does: an unknown operand stops
// the evaluation too, since OTTL may fail there (an error makes the whole condition fail).
type orNode []boolNode

func (n orNode) eval(res *Resource, rec *LogRecord) Tri {
	for _, c := range n {
		if r := c.eval(res, rec); r != False {
			return r
		}
	}
	return False
}

type andNode []boolNode

func (n andNode) eval(res *Resource, rec *LogRecord) Tri {
	for _, c := range n {
		if r := c.eval(res, rec); r != True {
			return r
		}
	}
	return True
}

type notNode struct{ inner boolNode }

func (n notNode) eval(res *Resource, rec *LogRecord) Tri {
	switch n.inner.eval(res, rec) {
	case True:
		return False
	case False:
		return True
	}
	return Unknown
}

type constNode bool

func (n constNode) eval(*Resource, *LogRecord) Tri {
	if n {
		return True
	}
	return False
}

func (p *parser) expr() (boolNode, bool) {
	var terms orNode
	for {
		t, ok := p.term()
		if !ok {
			return nil, false
		}
		terms = append(terms, t)
		if !p.accept(tIdent, "or") {
			break
		}
	}
	if len(terms) == 1 {
		return terms[0], true
	}
	return terms, true
}

func (p *parser) term() (boolNode, bool) {
	var vals andNode
	for {
		v, ok := p.value()
		if !ok {
			return nil, false
		}
		vals = append(vals, v)
		if !p.accept(tIdent, "and") {
			break
		}
	}
	if len(vals) == 1 {
		return vals[0], true
	}
	return vals, true
}

func (p *parser) value() (boolNode, bool) {
	if p.accept(tIdent, "not") {
		v, ok := p.atom()
		if !ok {
			return nil, false
		}
		return notNode{v}, true
	}
	return p.atom()
}

func (p *parser) atom() (boolNode, bool) {
	if p.accept(tPunct, "(") {
		e, ok := p.expr()
		if !ok || !p.accept(tPunct, ")") {
			return nil, false
		}
		return e, true
	}
	// A lone boolean literal is a condition; followed by an operator it is an operand.
	for _, b := range []string{"true", "false"} {
		if p.peek(tIdent, b) && (p.pos+1 == len(p.toks) || p.toks[p.pos+1].kind != tOp) {
			p.pos++
			return constNode(b == "true"), true
		}
	}
	left, ok := p.operand()
	if !ok || p.pos >= len(p.toks) || p.toks[p.pos].kind != tOp {
		return nil, false
	}
	op := p.toks[p.pos].text
	p.pos++
	right, ok := p.operand()
	if !ok {
		return nil, false
	}
	return &cmpNode{left: left, right: right, op: op}, true
}

// operand is one side of a comparison.
type operand struct {
	// lit is a literal (lit.Kind != KindAbsent, or isNil for nil).
	lit   Value
	isNil bool
	// get reads a path; toInt applies Int().
	get   func(res *Resource, rec *LogRecord) Value
	toInt bool
}

func (p *parser) operand() (operand, bool) {
	if p.pos >= len(p.toks) {
		return operand{}, false
	}
	t := p.toks[p.pos]
	switch t.kind {
	case tString:
		s, err := strconv.Unquote(t.text)
		if err != nil {
			return operand{}, false
		}
		p.pos++
		return operand{lit: Value{Kind: KindStr, Str: []byte(s)}}, true
	case tInt:
		n, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			return operand{}, false
		}
		p.pos++
		return operand{lit: Value{Kind: KindInt, Int: n}}, true
	case tFloat:
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return operand{}, false
		}
		p.pos++
		return operand{lit: Value{Kind: KindDouble, Double: f}}, true
	case tIdent:
	default:
		return operand{}, false
	}
	switch t.text {
	case "nil":
		p.pos++
		return operand{isNil: true}, true
	case "true", "false":
		p.pos++
		return operand{lit: Value{Kind: KindBool, Bool: t.text == "true"}}, true
	case "Int":
		p.pos++
		if !p.accept(tPunct, "(") {
			return operand{}, false
		}
		get, ok := p.path()
		if !ok || !p.accept(tPunct, ")") {
			return operand{}, false
		}
		return operand{get: get, toInt: true}, true
	}
	if n, ok := severityEnum(t.text); ok {
		p.pos++
		return operand{lit: Value{Kind: KindInt, Int: n}}, true
	}
	get, ok := p.path()
	if !ok {
		return operand{}, false
	}
	return operand{get: get}, true
}

// path reads one of the supported paths.
func (p *parser) path() (func(*Resource, *LogRecord) Value, bool) {
	var segs []string
	for {
		if p.pos >= len(p.toks) || p.toks[p.pos].kind != tIdent {
			return nil, false
		}
		segs = append(segs, p.toks[p.pos].text)
		p.pos++
		if !p.accept(tPunct, ".") {
			break
		}
	}
	if len(segs) > 1 && segs[0] == "log" {
		segs = segs[1:]
	}
	var key string
	hasKey := false
	if p.accept(tPunct, "[") {
		if p.pos >= len(p.toks) || p.toks[p.pos].kind != tString {
			return nil, false
		}
		k, err := strconv.Unquote(p.toks[p.pos].text)
		if err != nil {
			return nil, false
		}
		p.pos++
		if !p.accept(tPunct, "]") || p.peek(tPunct, "[") {
			return nil, false
		}
		key, hasKey = k, true
	}
	switch strings.Join(segs, ".") {
	case "attributes":
		if !hasKey {
			return nil, false
		}
		return func(_ *Resource, rec *LogRecord) Value { return rec.Attr(key) }, true
	case "resource.attributes":
		if !hasKey {
			return nil, false
		}
		return func(res *Resource, _ *LogRecord) Value { return res.Attr(key) }, true
	}
	if hasKey {
		return nil, false
	}
	switch strings.Join(segs, ".") {
	case "severity_number":
		return func(_ *Resource, rec *LogRecord) Value { return Value{Kind: KindInt, Int: rec.SeverityNumber} }, true
	case "severity_text":
		return func(_ *Resource, rec *LogRecord) Value { return Value{Kind: KindStr, Str: rec.SeverityText} }, true
	case "flags":
		return func(_ *Resource, rec *LogRecord) Value { return Value{Kind: KindInt, Int: int64(rec.Flags)} }, true
	case "body":
		return func(_ *Resource, rec *LogRecord) Value { return rec.Body }, true
	}
	return nil, false
}

var severityNames = []string{"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}

// severityEnum maps OTTL's SEVERITY_NUMBER_* symbols to their numbers.
func severityEnum(s string) (int64, bool) {
	name, ok := strings.CutPrefix(s, "SEVERITY_NUMBER_")
	if !ok {
		return 0, false
	}
	if name == "UNSPECIFIED" {
		return 0, true
	}
	for i, n := range severityNames {
		for k := 1; k <= 4; k++ {
			sym := n
			if k > 1 {
				sym += strconv.Itoa(k)
			}
			if name == sym {
				return int64(i*4 + k), true
			}
		}
	}
	return 0, false
}

type cmpNode struct {
	left, right operand
	op          string
}

// scalar is an operand's value in OTTL's terms: nil, or one of the four scalar kinds.
func (o *operand) scalar(res *Resource, rec *LogRecord) (Value, bool) {
	if o.isNil {
		return Value{Kind: KindEmpty}, true
	}
	if o.get == nil {
		return o.lit, true
	}
	v := o.get(res, rec)
	if !o.toInt {
		switch v.Kind {
		case KindAbsent:
			v.Kind = KindEmpty
		case KindOther:
			return v, false
		}
		return v, true
	}
	// Int(): OTTL's IntLikeGetter.
	switch v.Kind {
	case KindAbsent, KindEmpty:
		return Value{Kind: KindEmpty}, true
	case KindInt:
		return v, true
	case KindDouble:
		return Value{Kind: KindInt, Int: int64(v.Double)}, true
	case KindBool:
		if v.Bool {
			return Value{Kind: KindInt, Int: 1}, true
		}
		return Value{Kind: KindInt, Int: 0}, true
	case KindStr:
		n, err := strconv.ParseInt(string(v.Str), 10, 64)
		if err != nil {
			return Value{Kind: KindEmpty}, true
		}
		return Value{Kind: KindInt, Int: n}, true
	}
	// Int() of bytes, a map or a list is an error in OTTL.
	return v, false
}

func (n *cmpNode) eval(res *Resource, rec *LogRecord) Tri {
	a, ok := n.left.scalar(res, rec)
	if !ok {
		return Unknown
	}
	b, ok := n.right.scalar(res, rec)
	if !ok {
		return Unknown
	}
	if compare(a, b, n.op) {
		return True
	}
	return False
}

// compare follows OTTL's comparison rules for nil and the four scalar kinds: numbers compare
// across int and float, strings and booleans only with their own kind, and any other pairing
// is only "!=".
func compare(a, b Value, op string) bool {
	if a.Kind == KindEmpty && b.Kind == KindEmpty {
		return op == "==" || op == "<=" || op == ">="
	}
	if a.Kind == KindEmpty || b.Kind == KindEmpty {
		return op == "!="
	}
	switch a.Kind {
	case KindInt:
		switch b.Kind {
		case KindInt:
			return ordered(a.Int, b.Int, op)
		case KindDouble:
			return ordered(float64(a.Int), b.Double, op)
		}
	case KindDouble:
		switch b.Kind {
		case KindInt:
			return ordered(a.Double, float64(b.Int), op)
		case KindDouble:
			return ordered(a.Double, b.Double, op)
		}
	case KindStr:
		if b.Kind == KindStr {
			return ordered(string(a.Str), string(b.Str), op)
		}
	case KindBool:
		if b.Kind == KindBool {
			x, y := a.Bool, b.Bool
			switch op {
			case "==":
				return x == y
			case "!=":
				return x != y
			case "<":
				return !x && y
			case "<=":
				return !x || y
			case ">=":
				return x || !y
			case ">":
				return x && !y
			}
			return false
		}
	}
	return op == "!="
}

func ordered[T int64 | float64 | string](a, b T, op string) bool {
	switch op {
	case "==":
		return a == b
	case "!=":
		return a != b
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">=":
		return a >= b
	case ">":
		return a > b
	}
	return false
}
