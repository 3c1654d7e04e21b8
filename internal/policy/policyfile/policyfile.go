// Package policyfile defines Sieve's sampling policy document and parses it from Sieve's own
// YAML/JSON format or from a Jaeger sampling strategies file.
package policyfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"go.yaml.in/yaml/v3"

	"github.com/sieveobs/sieve/internal/policy"
)

// MaxSize bounds a policy document so a runaway source cannot exhaust memory.
const MaxSize = 4 << 20

// Limits keep the compiled policy, its per-service state and its metrics bounded.
const (
	MaxServices   = 10000
	MaxOperations = 2000 // per service
	MaxRules      = 256
	MaxLogTiers   = 64
)

// Policy is one version of Sieve's sampling policy.
type Policy struct {
	// Version names the policy in logs, metrics and /policy; the content hash is used when empty.
	Version string `json:"version,omitempty" yaml:"version,omitempty"`
	// DefaultRate is the keep probability for services without their own rate.
	DefaultRate *float64 `json:"default_rate" yaml:"default_rate"`
	// Services holds per-service rates and per-operation rates.
	Services map[string]Service `json:"services,omitempty" yaml:"services,omitempty"`
	// Rules are always/never rules, evaluated in order before any rate.
	Rules []Rule `json:"rules,omitempty" yaml:"rules,omitempty"`
	// Adaptive rules adjust a service's rate from its observed traffic.
	Adaptive []Adaptive `json:"adaptive,omitempty" yaml:"adaptive,omitempty"`
	// LogTiers are served to the tiered_sampling processor.
	LogTiers []policy.LogTier `json:"log_tiers,omitempty" yaml:"log_tiers,omitempty"`
	// LatencyThreshold makes a trace slow, for tail sampling, when one of its spans lasts longer;
	// services and operations may set their own. Zero: no default threshold.
	LatencyThreshold Duration `json:"latency_threshold,omitempty" yaml:"latency_threshold,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("750ms") in YAML and JSON.
type Duration time.Duration

// MarshalText writes the duration as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Service is the rate of one service.
type Service struct {
	// Rate is the keep probability of the service; DefaultRate when nil.
	Rate *float64 `json:"rate,omitempty" yaml:"rate,omitempty"`
	// Operations maps a span name to its keep probability.
	Operations map[string]float64 `json:"operations,omitempty" yaml:"operations,omitempty"`
	// LatencyThreshold replaces the policy's latency_threshold for the service's spans.
	LatencyThreshold Duration `json:"latency_threshold,omitempty" yaml:"latency_threshold,omitempty"`
	// OperationLatencyThresholds maps a span name to its own latency threshold.
	OperationLatencyThresholds map[string]Duration `json:"operation_latency_thresholds,omitempty" yaml:"operation_latency_thresholds,omitempty"`
}

// Action of an always/never rule.
const (
	ActionAlways = "always"
	ActionNever  = "never"
)

// Rule keeps (always) or drops (never) every span it matches: the spans for which Condition, an
// OTTL condition in the span context, is true. The other matchers are a shorthand for common
// conditions (see ConditionOf); all set matchers must match. A rule has a condition or
// shorthand matchers, not both.
type Rule struct {
	Name           string `json:"name" yaml:"name"`
	Action         string `json:"action" yaml:"action"`
	Condition      string `json:"condition,omitempty" yaml:"condition,omitempty"`
	Service        string `json:"service,omitempty" yaml:"service,omitempty"`
	SpanName       string `json:"span_name,omitempty" yaml:"span_name,omitempty"`
	SpanNamePrefix string `json:"span_name_prefix,omitempty" yaml:"span_name_prefix,omitempty"`
	// Attribute is a span attribute key; with Value empty its presence matches.
	Attribute string `json:"attribute,omitempty" yaml:"attribute,omitempty"`
	Value     string `json:"value,omitempty" yaml:"value,omitempty"`
}

// Adaptive lowers a service's rate to meet a target throughput and raises it on errors.
type Adaptive struct {
	// Service is the service the rule applies to; empty means the default bucket.
	Service string `json:"service" yaml:"service"`
	// TargetSpansPerSecond is the kept spans/s the rate is lowered to meet (0 = no target).
	TargetSpansPerSecond float64 `json:"target_spans_per_second,omitempty" yaml:"target_spans_per_second,omitempty"`
	// TargetTracesPerSecond counts local root spans instead of spans (Jaeger ratelimiting).
	TargetTracesPerSecond float64 `json:"target_traces_per_second,omitempty" yaml:"target_traces_per_second,omitempty"`
	// ErrorRatio above which the rate is raised towards MaxRate; 0.05 when nil.
	ErrorRatio *float64 `json:"error_ratio,omitempty" yaml:"error_ratio,omitempty"`
	// MinRate is the lowest rate the controller sets; MinSamplingProbability when zero.
	MinRate float64 `json:"min_rate,omitempty" yaml:"min_rate,omitempty"`
	// MaxRate caps the error boost; 1 when zero.
	MaxRate float64 `json:"max_rate,omitempty" yaml:"max_rate,omitempty"`
}

// DefaultErrorRatio is the error ratio above which adaptive rules boost a service.
const DefaultErrorRatio = 0.05

// ErrFormat marks documents that are not YAML/JSON or do not match the format, as opposed to
// well-formed documents that fail validation.
var ErrFormat = errors.New("policy format")

// Document is a parsed and validated policy with its identity.
type Document struct {
	Policy Policy
	// Hash is the hex SHA-256 of the raw bytes, so equal content is recognised across sources.
	Hash string
	// Format is "sieve" or "jaeger".
	Format string
}

// Parse decodes and validates a policy. YAML and JSON are both accepted; a document whose top
// level has service_strategies or default_strategy is read as a Jaeger strategies file.
func Parse(raw []byte) (*Document, error) {
	if len(raw) > MaxSize {
		return nil, fmt.Errorf("policy is %d bytes, more than the %d allowed", len(raw), MaxSize)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, fmt.Errorf("%w: empty document", ErrFormat)
	}
	// JSON is read as YAML so that both spell the same keys the same way, except where YAML's
	// limits refuse valid JSON (a YAML implicit key is at most 1024 characters, and the policy
	// Sieve serves as JSON may hold longer operation names): such documents are read as JSON.
	decode := strictDecode
	var probe map[string]any
	if err := yaml.Unmarshal(raw, &probe); err != nil {
		if !json.Valid(raw) {
			return nil, fmt.Errorf("%w: not valid YAML/JSON: %v", ErrFormat, err)
		}
		probe = nil
		if err := json.Unmarshal(raw, &probe); err != nil {
			return nil, fmt.Errorf("%w: not a JSON object: %v", ErrFormat, err)
		}
		decode = strictDecodeJSON
	}
	sum := sha256.Sum256(raw)
	doc := &Document{Hash: hex.EncodeToString(sum[:])}
	_, js := probe["service_strategies"]
	_, jd := probe["default_strategy"]
	if js || jd {
		var j JaegerStrategies
		if err := decode(raw, &j); err != nil {
			return nil, err
		}
		p, err := j.toPolicy()
		if err != nil {
			return nil, err
		}
		doc.Policy, doc.Format = p, "jaeger"
	} else {
		if err := decode(raw, &doc.Policy); err != nil {
			return nil, err
		}
		doc.Format = "sieve"
	}
	if err := doc.Policy.Validate(); err != nil {
		return nil, err
	}
	if doc.Policy.Version == "" {
		doc.Policy.Version = "sha256:" + doc.Hash[:12]
	}
	return doc, nil
}

func strictDecode(raw []byte, out any) error {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return nil
}

func strictDecodeJSON(raw []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return nil
}

// ValidRate reports whether a keep probability can be expressed as a threshold.
func ValidRate(r float64) bool {
	return r == 0 || (r >= sampling.MinSamplingProbability && r <= 1)
}

func checkRate(key string, r float64) error {
	if math.IsNaN(r) || !ValidRate(r) {
		return fmt.Errorf("%s: rate %v must be 0 or within [2^-56, 1]", key, r)
	}
	return nil
}

// Validate checks the policy and names the offending key. It never fills in values.
func (p *Policy) Validate() error {
	if p.DefaultRate == nil {
		return errors.New("default_rate: required")
	}
	if err := checkRate("default_rate", *p.DefaultRate); err != nil {
		return err
	}
	if p.LatencyThreshold < 0 {
		return fmt.Errorf("latency_threshold: %v must not be negative", time.Duration(p.LatencyThreshold))
	}
	if len(p.Services) > MaxServices {
		return fmt.Errorf("services: %d services, more than %d", len(p.Services), MaxServices)
	}
	for _, name := range sortedKeys(p.Services) {
		s := p.Services[name]
		if name == "" {
			return errors.New("services: empty service name")
		}
		if s.Rate != nil {
			if err := checkRate(fmt.Sprintf("services.%s.rate", name), *s.Rate); err != nil {
				return err
			}
		}
		if s.LatencyThreshold < 0 {
			return fmt.Errorf("services.%s.latency_threshold: %v must not be negative", name, time.Duration(s.LatencyThreshold))
		}
		if len(s.OperationLatencyThresholds) > MaxOperations {
			return fmt.Errorf("services.%s.operation_latency_thresholds: %d operations, more than %d", name, len(s.OperationLatencyThresholds), MaxOperations)
		}
		for _, op := range sortedKeys(s.OperationLatencyThresholds) {
			if op == "" {
				return fmt.Errorf("services.%s.operation_latency_thresholds: empty operation name", name)
			}
			if d := s.OperationLatencyThresholds[op]; d < 0 {
				return fmt.Errorf("services.%s.operation_latency_thresholds[%q]: %v must not be negative", name, op, time.Duration(d))
			}
		}
		if len(s.Operations) > MaxOperations {
			return fmt.Errorf("services.%s.operations: %d operations, more than %d", name, len(s.Operations), MaxOperations)
		}
		for _, op := range sortedKeys(s.Operations) {
			if op == "" {
				return fmt.Errorf("services.%s.operations: empty operation name", name)
			}
			if err := checkRate(fmt.Sprintf("services.%s.operations[%q]", name, op), s.Operations[op]); err != nil {
				return err
			}
		}
	}
	if len(p.Rules) > MaxRules {
		return fmt.Errorf("rules: %d rules, more than %d", len(p.Rules), MaxRules)
	}
	names := map[string]bool{}
	for i, r := range p.Rules {
		key := fmt.Sprintf("rules[%d]", i)
		if r.Name == "" {
			return fmt.Errorf("%s.name: required", key)
		}
		if names[r.Name] {
			return fmt.Errorf("%s.name: duplicate rule name %q", key, r.Name)
		}
		names[r.Name] = true
		if r.Action != ActionAlways && r.Action != ActionNever {
			return fmt.Errorf("%s.action: %q must be always or never", key, r.Action)
		}
		if r.Condition != "" && r.shorthand() {
			return fmt.Errorf("%s.condition: a rule has a condition or the shorthand service, span_name, span_name_prefix, attribute and value, not both", key)
		}
		if r.Condition != "" {
			if _, err := ParseSpanCondition(r.Condition); err != nil {
				return fmt.Errorf("%s.condition: %w", key, err)
			}
		}
		if r.Condition == "" && r.Service == "" && r.SpanName == "" && r.SpanNamePrefix == "" && r.Attribute == "" {
			return fmt.Errorf("%s: needs a condition or at least one of service, span_name, span_name_prefix, attribute", key)
		}
		if r.SpanName != "" && r.SpanNamePrefix != "" {
			return fmt.Errorf("%s: span_name and span_name_prefix are exclusive", key)
		}
		if r.Value != "" && r.Attribute == "" {
			return fmt.Errorf("%s.value: needs attribute", key)
		}
	}
	seen := map[string]bool{}
	for i, a := range p.Adaptive {
		key := fmt.Sprintf("adaptive[%d]", i)
		if seen[a.Service] {
			return fmt.Errorf("%s.service: duplicate adaptive rule for %q", key, a.Service)
		}
		seen[a.Service] = true
		if !finiteNonNegative(a.TargetSpansPerSecond) {
			return fmt.Errorf("%s.target_spans_per_second: must be a finite number >= 0", key)
		}
		if !finiteNonNegative(a.TargetTracesPerSecond) {
			return fmt.Errorf("%s.target_traces_per_second: must be a finite number >= 0", key)
		}
		if a.TargetSpansPerSecond > 0 && a.TargetTracesPerSecond > 0 {
			return fmt.Errorf("%s: target_spans_per_second and target_traces_per_second are exclusive", key)
		}
		if a.ErrorRatio != nil && (*a.ErrorRatio <= 0 || *a.ErrorRatio > 1 || math.IsNaN(*a.ErrorRatio)) {
			return fmt.Errorf("%s.error_ratio: %v must be within (0, 1]", key, *a.ErrorRatio)
		}
		if a.MinRate != 0 {
			if err := checkRate(key+".min_rate", a.MinRate); err != nil {
				return err
			}
		}
		if a.MaxRate != 0 {
			if err := checkRate(key+".max_rate", a.MaxRate); err != nil {
				return err
			}
		}
		if a.MinRate != 0 && a.MaxRate != 0 && a.MinRate > a.MaxRate {
			return fmt.Errorf("%s.min_rate: %v above max_rate %v", key, a.MinRate, a.MaxRate)
		}
	}
	if len(p.LogTiers) > MaxLogTiers {
		return fmt.Errorf("log_tiers: %d tiers, more than %d", len(p.LogTiers), MaxLogTiers)
	}
	tiers := map[string]bool{}
	for i, t := range p.LogTiers {
		key := fmt.Sprintf("log_tiers[%d]", i)
		if t.Name == "" {
			return fmt.Errorf("%s.name: required", key)
		}
		if tiers[t.Name] {
			return fmt.Errorf("%s.name: duplicate tier %q", key, t.Name)
		}
		tiers[t.Name] = true
		if t.Percent < 0 || t.Percent > 100 || math.IsNaN(t.Percent) {
			return fmt.Errorf("%s.percent: %v must be within [0, 100]", key, t.Percent)
		}
		if !finiteNonNegative(t.RateLimit) {
			return fmt.Errorf("%s.rate_limit: must be a finite number >= 0", key)
		}
	}
	return nil
}

// finiteNonNegative refuses NaN and infinities as well as negatives: a policy that passes
// validation must also be servable as JSON, which has no infinities.
func finiteNonNegative(v float64) bool { return v >= 0 && !math.IsInf(v, 1) }

// RateOf returns the configured rate of a service (its own or the default).
func (p *Policy) RateOf(service string) float64 {
	if s, ok := p.Services[service]; ok && s.Rate != nil {
		return *s.Rate
	}
	return *p.DefaultRate
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
