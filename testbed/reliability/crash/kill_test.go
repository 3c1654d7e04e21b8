package crash

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/loadgen"
	"github.com/sieveobs/sieve/testbed/sinks"
)

func crashStreams() []*Stream {
	return []*Stream{
		NewStream(loadgen.Logs, "grpc", 2000),
		NewStream(loadgen.Metrics, "http", 1000),
		NewStream(loadgen.Traces, "grpc", 1000),
	}
}

// SIGKILL at random moments while data streams in and the backend is down: every process is
// restarted on the storage of the one before, and once the backend is back, every item any of
// them acknowledged must arrive with its content. One more kill lands while the queue drains,
// so a batch being sent is cut off too.
func TestKill9WithBackendDownLosesNothingAcknowledged(t *testing.T) {
	kills := harness.Pick(3, 20)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	r := NewRig(t, "crash.yaml", true, nil)
	r.Start()
	streams := crashStreams()

	for i := 0; i < kills; i++ {
		l := StartLoad(t, r.Proc, streams...)
		Pause(time.Duration(300+rng.IntN(2200)) * time.Millisecond)
		require.NoError(t, r.Proc.Kill())
		l.Stop()
		r.Restart()
	}
	l := StartLoad(t, r.Proc, streams...)
	Pause(time.Second)
	l.Stop()
	for _, s := range streams {
		_, acked, _ := s.Counts()
		require.NotZero(t, acked, "%s: Sieve acknowledged nothing, the test would prove nothing (last refusal: %v)", s.Sig, s.LastError())
	}

	// The backend returns; a last kill cuts the drain short.
	r.Sink.SetFaults(sinks.Faults{})
	Pause(time.Duration(200+rng.IntN(800)) * time.Millisecond)
	require.NoError(t, r.Proc.Kill())
	r.Restart()

	vs := r.WaitDelivered(harness.Pick(90*time.Second, 5*time.Minute), streams...)
	t.Logf("kill -9 x%d (seed %d) backend down: %srestarts=%d", kills+1, seed, r.Figures(vs, streams...), r.Restarts)
}

// SIGTERM while the backend is down must end the process promptly without dropping the queue:
// the next process delivers all of it once the backend is back.
func TestSIGTERMWithBackendDownDeliversQueueAfterRestart(t *testing.T) {
	r := NewRig(t, "crash.yaml", true, nil)
	r.Start()
	streams := crashStreams()
	l := StartLoad(t, r.Proc, streams...)
	Pause(harness.Pick(2*time.Second, 10*time.Second))
	l.Stop()

	begin := time.Now()
	require.NoError(t, r.Proc.Terminate(30*time.Second))
	took := time.Since(begin)
	require.NoError(t, r.Proc.ExitError(), "SIGTERM must end Sieve cleanly:\n%s", r.Proc.LogTail(30))
	require.Zero(t, r.rec.stats().Loki+r.rec.stats().RemoteWrite, "nothing can have arrived while the backend was down")

	r.Restart()
	r.Sink.SetFaults(sinks.Faults{})
	vs := r.WaitDelivered(harness.Pick(60*time.Second, 3*time.Minute), streams...)
	t.Logf("SIGTERM backend down: %srestarts=%d shutdown=%v", r.Figures(vs, streams...), r.Restarts, took.Round(time.Millisecond))
}
