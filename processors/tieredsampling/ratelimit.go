package tieredsampling // import "github.com/sieveobs/sieve/processors/tieredsampling"

import (
	"strings"
	"sync"
	"time"
)

// rateLimiter is a set of token buckets, one per key, holding at most maxKeys keys.
// A bucket refilled to its burst is indistinguishable from a new one, so idle buckets are
// evicted to make room; when none is idle, new keys share the overflow bucket.
type rateLimiter struct {
	mu        sync.Mutex
	rate      float64 // tokens per second
	burst     float64
	maxKeys   int
	now       func() time.Time
	buckets   map[string]*bucket
	overflow  bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(rate float64, maxKeys int, now func() time.Time) *rateLimiter {
	return &rateLimiter{
		rate:     rate,
		burst:    max(1, rate),
		maxKeys:  maxKeys,
		now:      now,
		buckets:  make(map[string]*bucket),
		overflow: bucket{tokens: max(1, rate), last: now()},
	}
}

// allow takes one token from key's bucket.
func (r *rateLimiter) allow(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	b, ok := r.buckets[key]
	if !ok {
		if len(r.buckets) >= r.maxKeys {
			r.sweep(now)
		}
		if len(r.buckets) < r.maxKeys {
			// The key string may point into pdata that is released after the batch.
			b = &bucket{tokens: r.burst, last: now}
			r.buckets[strings.Clone(key)] = b
		} else {
			b = &r.overflow
		}
	}
	b.refill(now, r.rate, r.burst)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweep evicts buckets that have refilled completely, at most once per second so that a
// full map of busy keys does not turn every new key into a scan.
func (r *rateLimiter) sweep(now time.Time) {
	if now.Sub(r.lastSweep) < time.Second {
		return
	}
	r.lastSweep = now
	for k, b := range r.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*r.rate >= r.burst {
			delete(r.buckets, k)
		}
	}
}

func (b *bucket) refill(now time.Time, rate, burst float64) {
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(burst, b.tokens+el*rate)
	}
	b.last = now
}

func (r *rateLimiter) size() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.buckets)
}
