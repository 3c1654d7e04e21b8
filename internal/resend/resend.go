// Package resend keeps data that a component acknowledged and then could not pass on, because
// the next consumer refused it with a retryable error, so that it is sent again instead of lost.
// Sieve's tail sampler and the log records held for their trace's decision both release data
// from their own goroutine, long after its sender was answered; neither can hand a refusal back.
package resend // import "github.com/sieveobs/sieve/internal/resend"

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/consumer/consumererror"
)

// Queue holds refused batches in their OTLP encoding (small, and invisible to the garbage
// collector), oldest first, up to maxBytes. M is what the owner needs to count a batch once its
// fate is known.
type Queue[M any] struct {
	maxBytes int64

	mu      sync.Mutex
	batches []batch[M]
	bytes   int64
	items   atomic.Int64
}

type batch[M any] struct {
	data  []byte
	items int64
	meta  M
}

// New returns a queue holding at most maxBytes of encoded batches.
func New[M any](maxBytes int64) *Queue[M] { return &Queue[M]{maxBytes: maxBytes} }

// Waiting reports whether batches wait to be sent again: the owner then refuses new data
// (retryably), so that its senders back off instead of its buffers growing behind a consumer
// that takes nothing. Lock-free, for the hot path.
func (q *Queue[M]) Waiting() bool { return q.items.Load() > 0 }

// Outcome is what Offer did with a batch.
type Outcome int

const (
	// Sent: the next consumer took it.
	Sent Outcome = iota
	// Kept: refused with a retryable error, or offered while others wait; it waits in the queue.
	Kept
	// Lost: refused permanently, not encodable, or past maxBytes.
	Lost
)

// Offer passes a batch on with send, unless batches already wait (it then joins them, so the
// next consumer is not asked for more while it refuses). A retryable refusal keeps the batch,
// encoded by encode. err is the refusal when the outcome is Kept because of one (nil when the
// batch joined others), and the cause when it is Lost.
func (q *Queue[M]) Offer(send func() error, encode func() ([]byte, error), items int64, meta M) (Outcome, error) {
	var err error
	if !q.Waiting() {
		if err = send(); err == nil {
			return Sent, nil
		}
		if consumererror.IsPermanent(err) {
			return Lost, err
		}
	}
	b, encErr := encode()
	if encErr != nil {
		return Lost, errors.Join(err, encErr)
	}
	if !q.Add(b, items, meta) {
		return Lost, fmt.Errorf("refused data waiting to be sent again already fills its bound (%d bytes)", q.maxBytes)
	}
	return Kept, err
}

// Add keeps a refused batch; false when it would exceed maxBytes (the owner counts it lost).
func (q *Queue[M]) Add(data []byte, items int64, meta M) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.bytes+int64(len(data)) > q.maxBytes {
		return false
	}
	q.batches = append(q.batches, batch[M]{data: data, items: items, meta: meta})
	q.bytes += int64(len(data))
	q.items.Add(items)
	return true
}

// Retry sends the batches again, oldest first, until one is refused with a retryable error;
// done is called for each batch sent (err nil) or refused permanently. It reports whether it
// emptied a queue that held batches: the owner then accepts new data again. Only one goroutine may
// call Retry at a time (the owner's release loop, or its shutdown once the loop has stopped):
// the batches it removes are the first ones, which nothing else removes.
func (q *Queue[M]) Retry(send func(data []byte) error, done func(meta M, items int64, err error)) (drained bool) {
	for first := true; ; first = false {
		q.mu.Lock()
		if len(q.batches) == 0 {
			q.mu.Unlock()
			return !first
		}
		b := q.batches[0]
		q.mu.Unlock()
		err := send(b.data)
		if err != nil && !consumererror.IsPermanent(err) {
			return false
		}
		q.mu.Lock()
		q.batches[0] = batch[M]{}
		q.batches = q.batches[1:]
		q.bytes -= int64(len(b.data))
		q.mu.Unlock()
		q.items.Add(-b.items)
		done(b.meta, b.items, err)
	}
}

// Drop empties the queue, calling lost for every batch: at shutdown, what is still refused
// cannot wait any longer.
func (q *Queue[M]) Drop(lost func(meta M, items int64)) {
	q.mu.Lock()
	rest := q.batches
	q.batches, q.bytes = nil, 0
	q.mu.Unlock()
	for _, b := range rest {
		q.items.Add(-b.items)
		lost(b.meta, b.items)
	}
}

// Held returns the items and encoded bytes waiting, for the owner's gauges.
func (q *Queue[M]) Held() (items, bytes int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.items.Load(), q.bytes
}
