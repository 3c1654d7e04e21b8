package loadbalancing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/sieveobs/sieve/exporters/loadbalancing/internal/metadata"
)

// signal is what sendParts needs to know of one signal's data type D.
type signal[T component.Component, D any] struct {
	// consume sends a part to one endpoint's exporter.
	consume func(context.Context, T, D) error
	// empty returns new data to gather the parts to retry into; appendTo moves part's content
	// into it.
	empty    func() D
	appendTo func(dst, part D)
	// partial wraps the error with the data to retry (consumererror.NewLogs, NewTraces).
	partial func(error, D) error
}

// sendParts hands each endpoint its part, marked in flight by route, and records the outcome.
// Only the parts of endpoints that failed with a retryable error are returned for retry:
// resending the whole batch would duplicate on every endpoint that took its part.
func sendParts[T component.Component, D any](ctx context.Context, tb *metadata.TelemetryBuilder, parts map[*endpointExporter[T]]D, sig signal[T, D]) error {
	var retry D
	var retryable, permanent []error
	for exp, part := range parts {
		start := time.Now()
		err := sig.consume(ctx, exp.exp, part)
		exp.inflight.Done()
		tb.LoadbalancerBackendLatency.Record(ctx, time.Since(start).Milliseconds(), exp.endpointAttr)
		if err == nil {
			tb.LoadbalancerBackendOutcome.Add(ctx, 1, exp.successAttr)
			continue
		}
		tb.LoadbalancerBackendOutcome.Add(ctx, 1, exp.failureAttr)
		err = fmt.Errorf("endpoint %s: %w", exp.endpoint, err)
		if consumererror.IsPermanent(err) {
			permanent = append(permanent, err)
			continue
		}
		if retryable == nil {
			retry = sig.empty()
		}
		retryable = append(retryable, err)
		sig.appendTo(retry, part)
	}
	switch {
	case retryable != nil:
		// A permanent error in the chain would make the retryable part be dropped too; its text
		// is kept, its type is not.
		for _, p := range permanent {
			retryable = append(retryable, errors.New(p.Error()))
		}
		return sig.partial(errors.Join(retryable...), retry)
	case permanent != nil:
		return errors.Join(permanent...)
	}
	return nil
}

// endpointOf returns the exporter of the endpoint a trace ID maps to, as contrib's traces
// exporter maps it (the raw 16 bytes on the ring); byTrace caches it for the batch. The caller
// holds b.mu for reading.
func (b *balancer[T]) endpointOf(tid pcommon.TraceID, byTrace map[pcommon.TraceID]*endpointExporter[T]) (*endpointExporter[T], error) {
	if exp := byTrace[tid]; exp != nil {
		return exp, nil
	}
	ep := b.ring.endpointFor(tid[:])
	exp := b.exporters[endpointWithPort(ep)]
	if exp == nil {
		return nil, fmt.Errorf("load_balancing: no exporter for endpoint %q (it failed to start)", ep)
	}
	byTrace[tid] = exp
	return exp, nil
}
