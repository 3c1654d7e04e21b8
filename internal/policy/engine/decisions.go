package engine

import (
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/sieveobs/sieve/internal/policy"
)

// decisionShards spreads the table's locks so that the trace sampler's writes and the readers
// on the log and histogram paths rarely meet.
const decisionShards = 64

// decisionTable remembers the latest tail decisions, bounded: a direct-mapped table in which a
// newer trace overwrites an older one in the same slot. A slot stores the full trace ID, so an
// answer is never another trace's.
type decisionTable struct {
	mask   uint64
	slots  []decisionSlot
	shards [decisionShards]sync.Mutex
}

type decisionSlot struct {
	id   pcommon.TraceID
	used bool
	d    policy.Decision
}

func newDecisionTable(size int) *decisionTable {
	n := 1
	for n < size {
		n <<= 1
	}
	return &decisionTable{mask: uint64(n - 1), slots: make([]decisionSlot, n)}
}

func slotOf(id pcommon.TraceID) uint64 {
	// Trace IDs are random in their low 56 bits (W3C level 2); the high half is mixed in for
	// IDs from older generators.
	var k uint64
	for i := 0; i < 8; i++ {
		k = k<<8 | uint64(id[i]^id[i+8])
	}
	return k
}

func (t *decisionTable) put(d policy.Decision) {
	i := slotOf(d.TraceID) & t.mask
	mu := &t.shards[i%decisionShards]
	mu.Lock()
	t.slots[i] = decisionSlot{id: d.TraceID, used: true, d: d}
	mu.Unlock()
}

func (t *decisionTable) get(id pcommon.TraceID) (policy.Decision, bool) {
	i := slotOf(id) & t.mask
	mu := &t.shards[i%decisionShards]
	mu.Lock()
	s := t.slots[i]
	mu.Unlock()
	if !s.used || s.id != id {
		return policy.Decision{}, false
	}
	return s.d, true
}

// tailState is shared between a tail sampler and the components that follow its decisions.
// Subscriptions may come before the sampler enables the table: components start in any order.
type tailState struct {
	table atomic.Pointer[decisionTable]
	mu    sync.Mutex
	subs  map[int]func([]policy.Decision)
	next  int
}

// EnableTail makes the engine hold tail decisions, remembering at least size traces. The first
// call decides the size; later calls share the same table.
func (e *Engine) EnableTail(size int) {
	if e.tail.table.Load() == nil {
		e.tail.table.CompareAndSwap(nil, newDecisionTable(size))
	}
}

// TailActive reports whether a tail sampler publishes decisions through this engine.
func (e *Engine) TailActive() bool { return e.tail.table.Load() != nil }

// PublishDecisions records decisions and then hands them to every subscriber, in that order, so
// a subscriber that checks TraceDecision under its own lock before holding data cannot miss one.
func (e *Engine) PublishDecisions(ds []policy.Decision) {
	e.RecordDecisions(ds)
	e.NotifyDecisions(ds)
}

// RecordDecisions makes decisions visible to TraceDecision. A tail sampler calls it while it
// still holds the lock under which it took the traces out of its buffer, so a span arriving in
// between finds either the held trace or its decision, never neither.
func (e *Engine) RecordDecisions(ds []policy.Decision) {
	t := e.tail.table.Load()
	if t == nil {
		return
	}
	for _, d := range ds {
		t.put(d)
	}
}

// RecordDecision is RecordDecisions for one decision, without a slice.
func (e *Engine) RecordDecision(d policy.Decision) {
	if t := e.tail.table.Load(); t != nil {
		t.put(d)
	}
}

// NotifyDecisions hands recorded decisions to every subscriber.
func (e *Engine) NotifyDecisions(ds []policy.Decision) {
	if e.tail.table.Load() == nil || len(ds) == 0 {
		return
	}
	e.tail.mu.Lock()
	subs := make([]func([]policy.Decision), 0, len(e.tail.subs))
	for _, f := range e.tail.subs {
		subs = append(subs, f)
	}
	e.tail.mu.Unlock()
	for _, f := range subs {
		f(ds)
	}
}

// TraceDecision returns the tail decision on a trace when one is remembered.
func (e *Engine) TraceDecision(id pcommon.TraceID) (policy.Decision, bool) {
	t := e.tail.table.Load()
	if t == nil {
		return policy.Decision{}, false
	}
	return t.get(id)
}

// SubscribeDecisions calls f with every batch of decisions published after it returns, from the
// publisher's goroutine; f must not block. The returned function ends the subscription.
func (e *Engine) SubscribeDecisions(f func([]policy.Decision)) (stop func()) {
	e.tail.mu.Lock()
	if e.tail.subs == nil {
		e.tail.subs = map[int]func([]policy.Decision){}
	}
	id := e.tail.next
	e.tail.next++
	e.tail.subs[id] = f
	e.tail.mu.Unlock()
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			e.tail.mu.Lock()
			delete(e.tail.subs, id)
			e.tail.mu.Unlock()
		}
	}
}
