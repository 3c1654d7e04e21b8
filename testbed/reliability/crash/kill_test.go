package crash

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sieveobs/sieve/testbed/loadgen"
	"github.com/sieveobs/sieve/testbed/sinks"
)

func crashStreams() []*stream {
	return []*stream{
		newStream(loadgen.Logs, "grpc", 2000),
		newStream(loadgen.Metrics, "http", 1000),
		newStream(loadgen.Traces, "grpc", 1000),
	}
}

// SIGKILL at random moments while data streams in and the backend is down: every process is
// restarted on the storage of the one before, and once the backend is back, every item any of
// them acknowledged must arrive with its content. One more kill lands while the queue drains,
// so a batch being sent is cut off too.
func TestKill9WithBackendDownLosesNothingAcknowledged(t *testing.T) {
	kills := size(3, 20)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	r := newRig(t, "crash.yaml", true, nil)
	r.start()
	streams := crashStreams()

	for i := 0; i < kills; i++ {
		l := startLoad(t, r.proc, streams...)
		pause(time.Duration(300+rng.IntN(2200)) * time.Millisecond)
		require.NoError(t, r.proc.Kill())
		l.stop()
		r.restart()
	}
	l := startLoad(t, r.proc, streams...)
	pause(time.Second)
	l.stop()
	for _, s := range streams {
		_, acked, _ := s.counts()
		require.NotZero(t, acked, "%s: Sieve acknowledged nothing, the test would prove nothing (last refusal: %v)", s.sig, s.lastError())
	}

	// The backend returns; a last kill cuts the drain short.
	r.sink.SetFaults(sinks.Faults{})
	pause(time.Duration(200+rng.IntN(800)) * time.Millisecond)
	require.NoError(t, r.proc.Kill())
	r.restart()

	vs := r.waitDelivered(size(90*time.Second, 5*time.Minute), streams...)
	t.Logf("kill -9 x%d (seed %d) backend down: %srestarts=%d", kills+1, seed, r.figures(vs, streams...), r.restarts)
}

// SIGTERM while the backend is down must end the process promptly without dropping the queue:
// the next process delivers all of it once the backend is back.
func TestSIGTERMWithBackendDownDeliversQueueAfterRestart(t *testing.T) {
	r := newRig(t, "crash.yaml", true, nil)
	r.start()
	streams := crashStreams()
	l := startLoad(t, r.proc, streams...)
	pause(size(2*time.Second, 10*time.Second))
	l.stop()

	begin := time.Now()
	require.NoError(t, r.proc.Terminate(30*time.Second))
	took := time.Since(begin)
	require.NoError(t, r.proc.ExitError(), "SIGTERM must end Sieve cleanly:\n%s", r.proc.LogTail(30))
	require.Zero(t, r.rec.stats().Loki+r.rec.stats().RemoteWrite, "nothing can have arrived while the backend was down")

	r.restart()
	r.sink.SetFaults(sinks.Faults{})
	vs := r.waitDelivered(size(60*time.Second, 3*time.Minute), streams...)
	t.Logf("SIGTERM backend down: %srestarts=%d shutdown=%v", r.figures(vs, streams...), r.restarts, took.Round(time.Millisecond))
}
