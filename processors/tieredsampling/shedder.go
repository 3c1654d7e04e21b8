package tieredsampling // import "github.com/sieveobs/sieve/processors/tieredsampling"

import (
	"math"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// heapMetric is cheap to read (no stop-the-world, unlike runtime.ReadMemStats) and tracks the
// live-plus-unswept heap, the same quantity memory limiters act on.
const heapMetric = "/memory/classes/heap/objects:bytes"

// memoryReader returns the current heap size in bytes.
type memoryReader func() uint64

func newRuntimeMemoryReader() memoryReader {
	var mu sync.Mutex
	samples := []metrics.Sample{{Name: heapMetric}}
	return func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		metrics.Read(samples)
		if samples[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return samples[0].Value.Uint64()
	}
}

// shedder turns heap pressure into a shed level. The memory reading is refreshed at most once
// per interval by whichever batch arrives first after it expires, so the per-record path only
// compares integers.
type shedder struct {
	enabled  bool
	start    uint64
	limit    uint64
	interval int64
	now      func() time.Time
	read     memoryReader

	nextCheck atomic.Int64
	// pressure is math.Float64bits of (heap - start) / (limit - start), or 0 below start; a
	// negative value encodes "below start".
	pressure atomic.Uint64
}

func newShedder(cfg OverloadSheddingConfig, now func() time.Time, read memoryReader) *shedder {
	s := &shedder{enabled: cfg.Enabled, now: now, read: read}
	if !cfg.Enabled {
		return s
	}
	s.limit = cfg.MemoryLimitMiB << 20
	s.start = uint64(float64(s.limit) * cfg.StartPercent / 100)
	s.interval = int64(cfg.CheckInterval)
	s.pressure.Store(math.Float64bits(-1))
	return s
}

// refresh re-reads memory when the interval has passed.
func (s *shedder) refresh() {
	if !s.enabled {
		return
	}
	now := s.now().UnixNano()
	next := s.nextCheck.Load()
	if now < next || !s.nextCheck.CompareAndSwap(next, now+s.interval) {
		return
	}
	used := s.read()
	p := -1.0
	if used >= s.start {
		p = float64(used-s.start) / float64(max(1, s.limit-s.start))
	}
	s.pressure.Store(math.Float64bits(p))
}

// level is the number of sheddable tiers shed out of n: none below the start, the lowest one at
// the start, all of them at the limit.
func (s *shedder) level(n int) int {
	if !s.enabled || n == 0 {
		return 0
	}
	p := math.Float64frombits(s.pressure.Load())
	if p < 0 {
		return 0
	}
	return min(n, 1+int(p*float64(n)))
}
