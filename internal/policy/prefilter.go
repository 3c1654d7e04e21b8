package policy // import "github.com/sieveobs/sieve/internal/policy"

import (
	"sync"
	"sync/atomic"

	"github.com/sieveobs/sieve/internal/otlpwire"
)

// LogsPrefilter drops, from OTLP request bytes, the records a logs sampler would certainly drop,
// so that a receiver decodes only the rest. The sampler still decides what reaches it; the
// prefilter only spares it the records whose fate is already certain, and counts them in the
// sampler's own telemetry.
type LogsPrefilter interface {
	// FilterLogs appends the filtered request to dst; see otlpwire.LogsFilter.Filter.
	FilterLogs(dst, req []byte) ([]byte, otlpwire.FilterResult, error)
}

// TracesPrefilter is LogsPrefilter for spans.
type TracesPrefilter interface {
	FilterTraces(dst, req []byte) ([]byte, otlpwire.FilterResult, error)
}

// Prefilters is implemented by the extension through which a sampling processor lends its
// decisions to a receiver that samples before decoding.
type Prefilters interface {
	// RegisterLogsPrefilter and RegisterTracesPrefilter are called by a processor at start;
	// the returned function withdraws the prefilter at shutdown.
	RegisterLogsPrefilter(f LogsPrefilter) (unregister func())
	RegisterTracesPrefilter(f TracesPrefilter) (unregister func())
	// LogsPrefilter and TracesPrefilter return the registered prefilter; false when none is
	// registered or when several are (two samplers on one policy: none of them may speak for
	// the receiver's data alone).
	LogsPrefilter() (LogsPrefilter, bool)
	TracesPrefilter() (TracesPrefilter, bool)
}

// PrefilterRegistry implements Prefilters; extensions embed it.
type PrefilterRegistry struct {
	logs   slot[LogsPrefilter]
	traces slot[TracesPrefilter]
}

// RegisterLogsPrefilter implements Prefilters.
func (r *PrefilterRegistry) RegisterLogsPrefilter(f LogsPrefilter) func() { return r.logs.add(f) }

// RegisterTracesPrefilter implements Prefilters.
func (r *PrefilterRegistry) RegisterTracesPrefilter(f TracesPrefilter) func() {
	return r.traces.add(f)
}

// LogsPrefilter implements Prefilters.
func (r *PrefilterRegistry) LogsPrefilter() (LogsPrefilter, bool) { return r.logs.get() }

// TracesPrefilter implements Prefilters.
func (r *PrefilterRegistry) TracesPrefilter() (TracesPrefilter, bool) { return r.traces.get() }

// slot holds the registered prefilters of one signal; the single one is published atomically
// because every request reads it.
type slot[T any] struct {
	mu     sync.Mutex
	all    map[int]T
	nextID int
	only   atomic.Pointer[T]
}

func (s *slot[T]) add(f T) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.all == nil {
		s.all = map[int]T{}
	}
	id := s.nextID
	s.nextID++
	s.all[id] = f
	s.publishLocked()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			delete(s.all, id)
			s.publishLocked()
		})
	}
}

func (s *slot[T]) publishLocked() {
	if len(s.all) != 1 {
		s.only.Store(nil)
		return
	}
	for _, f := range s.all {
		s.only.Store(&f)
	}
}

func (s *slot[T]) get() (T, bool) {
	if p := s.only.Load(); p != nil {
		return *p, true
	}
	var zero T
	return zero, false
}
