// Package shutdownbound bounds how long Sieve's exporters keep sending once the collector shuts
// down, so that a process stopped with SIGTERM exits before the SIGKILL that follows it (a
// pod's terminationGracePeriodSeconds).
//
// exporterhelper (v0.159) drains an exporter on shutdown without any time limit: the request in
// flight, the batch waiting for the single queue consumer and the batch still being formed are
// each sent once more, and each attempt may take the HTTP client's whole timeout against an
// endpoint that does not answer. A Bound cancels those sends when its deadline passes. The
// error a cancelled send returns is retryable (never permanent), so exporterhelper's retry
// sender, which is stopped first on shutdown, turns it into its shutdown error; the persistent
// queue then leaves the item in storage for the next start instead of deleting it.
//
// The deadline is shared: exporters started together (one collector pipeline graph) count from
// the moment the first of them began to shut down, because the collector shuts its exporters
// down one after the other and per-exporter bounds would add up.
package shutdownbound // import "github.com/sieveobs/sieve/internal/shutdownbound"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// ErrCutShort is the cause of every send cancelled by a Bound.
var ErrCutShort = errors.New("send cut short at shutdown (shutdown_timeout reached)")

// Outcomes of data cut short, the values of the outcome attribute of the exporters' cut_short
// metrics.
const (
	// OutcomeKept: the data stays in the persistent queue and is sent after the next start.
	OutcomeKept = "kept_in_queue"
	// OutcomeDropped: the data was in an in-memory queue (or a persistent queue without
	// retry_on_failure) and is lost.
	OutcomeDropped = "dropped"
	// OutcomeRefused: there is no sending queue; the error goes back to the sender, which has
	// not been told the data was accepted.
	OutcomeRefused = "refused"
)

// Outcome says what becomes of data cut short for an exporter with this queue and retry setup.
func Outcome(queueEnabled, persistent, retryEnabled bool) string {
	switch {
	case !queueEnabled:
		return OutcomeRefused
	case persistent && retryEnabled:
		return OutcomeKept
	default:
		return OutcomeDropped
	}
}

// group is the exporters started together; they share the moment shutdown began.
type group struct {
	began time.Time
}

var (
	groupsMu sync.Mutex
	current  *group
)

// join returns the group of the exporters being started: a new one once the previous group has
// begun to shut down (a collector restarted in the same process, or the next test).
func join() *group {
	groupsMu.Lock()
	defer groupsMu.Unlock()
	if current == nil || !current.began.IsZero() {
		current = &group{}
	}
	return current
}

// begin records the start of the group's shutdown at now unless it began already, and returns
// when it began.
func (g *group) begin(now time.Time) time.Time {
	groupsMu.Lock()
	defer groupsMu.Unlock()
	if g.began.IsZero() {
		g.began = now
	}
	return g.began
}

// Bound cancels an exporter's sends when its shutdown has lasted longer than the timeout.
// The zero value is not usable; create one with New.
type Bound struct {
	timeout time.Duration
	ctx     context.Context
	cancel  context.CancelCauseFunc
	logger  *zap.Logger
	outcome string
	unit    string
	cut     atomic.Int64

	mu    sync.Mutex
	grp   *group
	timer *time.Timer
}

// New returns a Bound that cuts sends short timeout after shutdown begins. outcome (see
// Outcome) says what becomes of data cut short; unit names what the exporter counts (e.g.
// "log_records") in the one log line its shutdown writes when something was cut short.
func New(timeout time.Duration, logger *zap.Logger, outcome, unit string) *Bound {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Bound{timeout: timeout, ctx: ctx, cancel: cancel, logger: logger, outcome: outcome, unit: unit}
}

// Outcome is what becomes of data cut short, the outcome attribute of the cut_short metrics.
func (b *Bound) Outcome() string { return b.outcome }

// CutShort records n items whose send was cut short, for the shutdown's log line; the exporter
// counts them in its own metric.
func (b *Bound) CutShort(n int64) { b.cut.Add(n) }

var outcomeMessages = map[string]string{
	OutcomeKept: "Shutdown timeout reached: sending was cancelled; what was not sent stays in the persistent queue and is sent after the next start " +
		"(exporterhelper's \"Exporting failed. Dropping data.\" errors for these requests are wrong: they were interrupted by the shutdown and kept)",
	OutcomeDropped: "Shutdown timeout reached: sending was cancelled and what was not sent is lost (in-memory queue, or no retry_on_failure)",
	OutcomeRefused: "Shutdown timeout reached: sending was cancelled; the senders were told their data was not accepted",
}

// Start joins the group of exporters started alongside this one. Call it from the exporter's
// Start.
func (b *Bound) Start() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.grp = join()
}

// Shutdown arms the bound, then runs next (exporterhelper's shutdown, which drains the queue):
// every send still running at the deadline, and every send attempted after it, is cancelled
// with ErrCutShort. The deadline is the timeout counted from when the first exporter of the
// group began to shut down, or ctx's own end if that comes first.
func (b *Bound) Shutdown(ctx context.Context, next func(context.Context) error) error {
	b.arm(ctx, time.Now())
	defer func() {
		b.mu.Lock()
		b.timer.Stop()
		b.mu.Unlock()
		// Nothing is sent after shutdown: a late send is cut short at once.
		b.cancel(ErrCutShort)
		if n := b.cut.Load(); n > 0 && b.logger != nil {
			b.logger.Warn(outcomeMessages[b.outcome], zap.Duration("shutdown_timeout", b.timeout),
				zap.Int64(b.unit, n), zap.String("outcome", b.outcome))
		}
	}()
	return next(ctx)
}

// arm starts the countdown, once.
func (b *Bound) arm(ctx context.Context, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	began := now
	if b.grp != nil {
		began = b.grp.begin(now)
	}
	deadline := began.Add(b.timeout)
	if b.timer == nil {
		b.timer = time.AfterFunc(deadline.Sub(now), func() { b.cancel(ErrCutShort) })
		context.AfterFunc(ctx, func() { b.cancel(ErrCutShort) })
	}
}

// Reached reports whether sends are being cut short.
func (b *Bound) Reached() bool { return b.ctx.Err() != nil }

// Context returns ctx, cancelled with ErrCutShort as its cause when the bound is reached. The
// caller must call the returned function when the send is over.
func (b *Bound) Context(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(b.ctx, func() { cancel(ErrCutShort) })
	return ctx, func() {
		stop()
		cancel(nil)
	}
}

// Err returns the error for a send that err ended because the bound was reached: retryable
// (not permanent), so that exporterhelper keeps the data in a persistent queue. err may be nil
// for a send that was not attempted.
func Err(err error) error {
	if err == nil {
		return ErrCutShort
	}
	if errors.Is(err, ErrCutShort) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrCutShort, err)
}
