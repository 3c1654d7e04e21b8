package tieredsampling

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/sieveobs/sieve/internal/policy"
)

// fakeClock is advanced by tests; nothing in the processor sleeps.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeMemory is a settable heap reading.
type fakeMemory struct {
	mu    sync.Mutex
	bytes uint64
	reads int
}

func (m *fakeMemory) Set(b uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bytes = b
}

func (m *fakeMemory) Read() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	return m.bytes
}

func defaultCfg() *Config { return createDefaultConfig().(*Config) }

func newTestProcessor(t testing.TB, cfg *Config, clk *fakeClock, mem *fakeMemory) *tieredProcessor {
	return newTestProcessorWithSettings(t, processortest.NewNopSettings(processortest.NopType), cfg, clk, mem)
}

func newTestProcessorWithSettings(t testing.TB, set processor.Settings, cfg *Config, clk *fakeClock, mem *fakeMemory) *tieredProcessor {
	t.Helper()
	if clk == nil {
		clk = newFakeClock()
	}
	if mem == nil {
		mem = &fakeMemory{}
	}
	p, err := newTieredProcessor(set, cfg, consumertest.NewNop(), clk.Now, mem.Read)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.shutdown(context.Background())) })
	return p
}

// rec describes one input record.
type rec struct {
	sev     plog.SeverityNumber
	traceID pcommon.TraceID
	attrs   map[string]any
	body    string
}

func buildLogs(service string, recs ...rec) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	if service != "" {
		rl.Resource().Attributes().PutStr("service.name", service)
	}
	sl := rl.ScopeLogs().AppendEmpty()
	for _, r := range recs {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetSeverityNumber(r.sev)
		lr.SetTraceID(r.traceID)
		lr.Body().SetStr(r.body)
		if r.attrs != nil {
			require.NoError(nil, lr.Attributes().FromRaw(r.attrs))
		}
	}
	return ld
}

// traceIDWithRandomness builds a trace ID whose 56 random bits equal r.
func traceIDWithRandomness(r uint64) pcommon.TraceID {
	var id pcommon.TraceID
	id[0] = 0xab
	binary.BigEndian.PutUint64(id[8:], r&((1<<56)-1))
	return id
}

func randomTraceID(rng *rand.Rand) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], rng.Uint64())
	binary.BigEndian.PutUint64(id[8:], rng.Uint64())
	return id
}

// allRecords flattens the records of a batch in order.
func allRecords(ld plog.Logs) []plog.LogRecord {
	var out []plog.LogRecord
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		sls := ld.ResourceLogs().At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				out = append(out, lrs.At(k))
			}
		}
	}
	return out
}

// fakeHost serves a fixed set of extensions.
type fakeHost struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h fakeHost) GetExtensions() map[component.ID]component.Component { return h.exts }

func hostWith(exts map[component.ID]component.Component) component.Host {
	return fakeHost{Host: componenttest.NewNopHost(), exts: exts}
}

// fakeDecider keeps the traces listed in kept.
type fakeDecider struct {
	component.StartFunc
	component.ShutdownFunc
	kept    map[pcommon.TraceID]bool
	service string
}

func (d *fakeDecider) TraceKept(id pcommon.TraceID, service string) bool {
	d.service = service
	return d.kept[id]
}

// fakeSource pushes versions on demand.
type fakeSource struct {
	component.StartFunc
	component.ShutdownFunc
	mu      sync.Mutex
	initial *policy.LogTiers
	apply   func(policy.LogTiers) error
	stopped bool
}

func (s *fakeSource) WatchLogTiers(apply func(policy.LogTiers) error) func() {
	s.mu.Lock()
	s.apply = apply
	initial := s.initial
	s.mu.Unlock()
	if initial != nil {
		_ = apply(*initial)
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.stopped = true
		s.apply = nil
	}
}

func (s *fakeSource) push(lt policy.LogTiers) error {
	s.mu.Lock()
	apply := s.apply
	s.mu.Unlock()
	return apply(lt)
}

// plainComponent is an extension that implements neither policy interface.
type plainComponent struct {
	component.StartFunc
	component.ShutdownFunc
}

func componenttestSettings() processor.Settings {
	return processortest.NewNopSettings(processortest.NopType)
}
