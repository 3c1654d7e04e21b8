// Package policy holds the contracts between the sampling_policy extension, which owns Sieve's
// live sampling policy, and the processors that enforce it (trace_sampling, tiered_sampling).
// It is deliberately tiny and free of collector dependencies beyond pdata so that either side
// can be built and tested without the other.
package policy

import "go.opentelemetry.io/collector/pdata/pcommon"

// LogTier is one tier of the tiered log policy as carried by a live policy.
// The processor compiles Condition with OTTL (log context); an empty Condition matches every record.
type LogTier struct {
	// Name identifies the tier in metrics and must be unique within a policy.
	Name string `json:"name" yaml:"name"`
	// Condition is an OTTL boolean expression in the log context.
	Condition string `json:"condition,omitempty" yaml:"condition,omitempty"`
	// Percent is the keep rate in percent, 0 to 100.
	Percent float64 `json:"percent" yaml:"percent"`
	// Drop drops every matching record; Percent is then ignored.
	Drop bool `json:"drop,omitempty" yaml:"drop,omitempty"`
	// RateLimit caps kept records per second per value of RateLimitKey (0 = no limit).
	RateLimit float64 `json:"rate_limit,omitempty" yaml:"rate_limit,omitempty"`
	// RateLimitKey is the attribute (record first, then resource) keying the rate limit.
	RateLimitKey string `json:"rate_limit_key,omitempty" yaml:"rate_limit_key,omitempty"`
}

// LogTiers is one version of the log tiers. Version identifies it in logs and metrics.
type LogTiers struct {
	Version string
	Tiers   []LogTier
}

// LogTiersSource is implemented by extensions that supply log tiers at runtime.
type LogTiersSource interface {
	// WatchLogTiers calls apply with the current tiers (when there are any) and with every later
	// version, one call at a time. apply returns an error to refuse a version it cannot enforce
	// (e.g. an OTTL condition that does not compile); the consumer then keeps its previous tiers
	// and the source counts the refusal. The returned function stops the calls.
	WatchLogTiers(apply func(LogTiers) error) (stop func())
}

// TraceDecider is implemented by extensions that know the live trace sampling decision, so that
// logs can follow the traces that are kept.
type TraceDecider interface {
	// TraceKept reports whether the trace sampler keeps (or would keep) the trace with this ID,
	// given the service.name of the resource that emitted the record. It must be safe for
	// concurrent use, lock-free and allocation-free.
	TraceKept(traceID pcommon.TraceID, service string) bool
}

// Decision is a tail sampler's verdict on a whole trace.
type Decision struct {
	TraceID pcommon.TraceID
	Kept    bool
	// Reason is the sampler's own code for why, so its late spans are counted alike.
	Reason uint8
	// TValue is the OTel threshold written on the trace's kept spans when the trace was kept by
	// probability; empty when it was kept for a reason that is not a draw.
	TValue string
}

// TailDecisions is implemented by extensions through which a tail sampler publishes its
// decisions on whole traces, so that the trace's log records and exemplars can follow them.
type TailDecisions interface {
	// TailActive reports whether a tail sampler publishes decisions; until one does, holding
	// data for a decision would only delay it.
	TailActive() bool
	// TraceDecision returns the decision on a trace when one is remembered.
	TraceDecision(traceID pcommon.TraceID) (Decision, bool)
	// SubscribeDecisions calls f with every later batch of decisions, after they are
	// remembered; f must not block. The returned function ends the subscription.
	SubscribeDecisions(f func([]Decision)) (stop func())
}
