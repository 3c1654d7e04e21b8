package shutdownbound

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSendRunningAtTheDeadlineIsCancelled(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	b := New(200*time.Millisecond, zap.NewNop(), OutcomeKept, "items")
	b.Start()
	sent := make(chan error, 1)
	go func() {
		ctx, done := b.Context(context.Background())
		defer done()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		if !errors.Is(context.Cause(ctx), ErrCutShort) {
			t.Errorf("send ended by %v, not by the bound", context.Cause(ctx))
		}
		sent <- Err(err)
	}()

	began := time.Now()
	require.NoError(t, b.Shutdown(context.Background(), func(context.Context) error {
		// exporterhelper's shutdown waits for the send in flight.
		err := <-sent
		require.ErrorIs(t, err, ErrCutShort)
		require.False(t, consumererror.IsPermanent(err), "a cut-short send must stay retryable so a persistent queue keeps it")
		return nil
	}))
	took := time.Since(began)
	require.GreaterOrEqual(t, took, 200*time.Millisecond)
	require.Less(t, took, 2*time.Second)
	require.True(t, b.Reached())
}

func TestHealthyShutdownIsNotCut(t *testing.T) {
	b := New(time.Hour, zap.NewNop(), OutcomeKept, "items")
	b.Start()
	require.NoError(t, b.Shutdown(context.Background(), func(context.Context) error {
		require.False(t, b.Reached())
		return nil
	}))
	// Nothing is sent after shutdown.
	require.True(t, b.Reached())
}

// The collector shuts its exporters down one after the other: the second one's deadline counts
// from when the first began, so the bounds do not add up.
func TestExportersStartedTogetherShareTheDeadline(t *testing.T) {
	first, second := New(300*time.Millisecond, nil, OutcomeKept, "items"), New(300*time.Millisecond, nil, OutcomeKept, "items")
	first.Start()
	second.Start()

	began := time.Now()
	require.NoError(t, first.Shutdown(context.Background(), func(context.Context) error {
		for !first.Reached() {
			time.Sleep(5 * time.Millisecond)
		}
		return nil
	}))
	require.NoError(t, second.Shutdown(context.Background(), func(context.Context) error {
		require.Eventually(t, second.Reached, 100*time.Millisecond, time.Millisecond)
		return nil
	}))
	require.Less(t, time.Since(began), 500*time.Millisecond)

	// Exporters started after that shutdown (a restarted pipeline, the next test) start afresh.
	third := New(time.Hour, zap.NewNop(), OutcomeKept, "items")
	third.Start()
	require.NoError(t, third.Shutdown(context.Background(), func(context.Context) error {
		require.False(t, third.Reached())
		return nil
	}))
}

func TestShutdownContextEndsTheBoundEarly(t *testing.T) {
	b := New(time.Hour, zap.NewNop(), OutcomeKept, "items")
	b.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.NoError(t, b.Shutdown(ctx, func(context.Context) error {
		require.Eventually(t, b.Reached, time.Second, time.Millisecond)
		return nil
	}))
}

func TestShutdownLogsWhatWasCutShort(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	b := New(0, zap.New(core), OutcomeKept, "log_records")
	b.Start()
	require.NoError(t, b.Shutdown(context.Background(), func(context.Context) error {
		require.Eventually(t, b.Reached, time.Second, time.Millisecond)
		b.CutShort(30)
		return nil
	}))
	require.Equal(t, 1, logs.Len())
	e := logs.All()[0]
	require.Contains(t, e.Message, "stays in the persistent queue")
	require.EqualValues(t, 30, e.ContextMap()["log_records"])
	require.Equal(t, OutcomeKept, e.ContextMap()["outcome"])

	// Nothing cut short, nothing logged.
	core, logs = observer.New(zap.WarnLevel)
	quiet := New(time.Hour, zap.New(core), OutcomeKept, "log_records")
	require.NoError(t, quiet.Shutdown(context.Background(), func(context.Context) error { return nil }))
	require.Zero(t, logs.Len())
}

func TestErr(t *testing.T) {
	require.ErrorIs(t, Err(nil), ErrCutShort)
	cause := errors.New("context canceled")
	err := Err(cause)
	require.ErrorIs(t, err, ErrCutShort)
	require.ErrorIs(t, err, cause)
	require.Same(t, ErrCutShort, Err(ErrCutShort))
}

func TestOutcome(t *testing.T) {
	require.Equal(t, OutcomeKept, Outcome(true, true, true))
	require.Equal(t, OutcomeDropped, Outcome(true, false, true))
	require.Equal(t, OutcomeDropped, Outcome(true, true, false))
	require.Equal(t, OutcomeRefused, Outcome(false, false, true))
}
