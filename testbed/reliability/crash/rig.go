package crash

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/loadgen"
	"github.com/sieveobs/sieve/testbed/sieveproc"
	"github.com/sieveobs/sieve/testbed/sinks"
)

// Rig is one Sieve process (restarted as the test goes) with its sink and recorder. It is in the
// package proper so that other suites can run their own kill, restart and starvation scenarios
// on it; the testdata configurations are this package's.
type Rig struct {
	t       *testing.T
	Sink    *sinks.Sink
	rec     *recorder
	Opts    sieveproc.Options
	Proc    *sieveproc.Process
	Storage string
	// Restarts counts processes started after the first.
	Restarts int
}

// NewRig starts the sink (down when backendDown) and the recorder for testdata/<config> of this
// package; Sieve is started by Start.
func NewRig(t *testing.T, config string, backendDown bool, env map[string]string) *Rig {
	t.Helper()
	sink, err := sinks.Start()
	require.NoError(t, err)
	t.Cleanup(func() { _ = sink.Close() })
	if backendDown {
		sink.SetFaults(sinks.Faults{Down: true})
	}
	rec, err := newRecorder(sink.HTTPURL)
	require.NoError(t, err)
	t.Cleanup(rec.Close)
	r := &Rig{t: t, Sink: sink, rec: rec, Storage: filepath.Join(t.TempDir(), "storage")}
	r.Opts = sieveproc.Options{
		Config: harness.RepoPath("testbed/reliability/crash/testdata/" + config),
		Env: map[string]string{
			"SIEVE_LOKI_PUSH_URL":        rec.URL + "/loki/api/v1/push",
			"SIEVE_PROMETHEUS_RW_URL":    rec.URL + "/api/v1/write",
			"SIEVE_TRACES_OTLP_ENDPOINT": sink.GRPCAddr,
		},
		StorageDir: r.Storage,
	}
	for k, v := range env {
		r.Opts.Env[k] = v
	}
	// Sieve's logs are kept after the run when asked for, to investigate a failure.
	if dir := os.Getenv("SIEVE_CRASH_LOG_DIR"); dir != "" {
		r.Opts.LogPath = filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+".log")
		_ = os.Remove(r.Opts.LogPath)
	}
	t.Cleanup(func() {
		if r.Proc == nil {
			return
		}
		if t.Failed() {
			t.Logf("sieve log tail:\n%s", r.Proc.LogTail(80))
		}
		if err := r.Proc.Stop(); err != nil {
			t.Errorf("stop sieve: %v", err)
		}
	})
	return r
}

// Start runs the first Sieve process and waits for its health check.
func (r *Rig) Start() {
	r.t.Helper()
	p, err := sieveproc.Start(context.Background(), r.Opts)
	require.NoError(r.t, err)
	r.Proc = p
}

// Restart starts the next process on the same addresses and storage after the current one
// ended, and fails the test if it does not become healthy.
func (r *Rig) Restart() {
	r.t.Helper()
	p, err := r.Proc.Restart(context.Background())
	if p != nil {
		r.Proc = p
	}
	require.NoError(r.t, err)
	r.Restarts++
}

// Stream is one signal sent to Sieve across restarts, with the record of what was
// acknowledged.
type Stream struct {
	Sig   loadgen.Signal
	proto string
	rate  float64
	// next is the FirstSeq of the next generator, so IDs are never reused across restarts.
	next uint64

	mu    sync.Mutex
	acked []loadgen.Result
	sent  uint64
	ack   uint64
	fails uint64
	// lastErr is the last refusal a sender saw.
	lastErr error
}

// NewStream describes a signal to send over proto ("grpc" or "http") at rate items/s.
func NewStream(sig loadgen.Signal, proto string, rate float64) *Stream {
	return &Stream{Sig: sig, proto: proto, rate: rate}
}

func (s *Stream) onResult(res loadgen.Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent += uint64(res.Template.Items)
	if res.Err != nil {
		s.fails++
		s.lastErr = res.Err
		return
	}
	s.ack += uint64(res.Template.Items)
	s.acked = append(s.acked, loadgen.Result{Seq: res.Seq, Template: res.Template})
}

// LastError is the last refusal a sender saw.
func (s *Stream) LastError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// Counts returns the items sent and acknowledged and the failed requests so far.
func (s *Stream) Counts() (sent, acked, failedRequests uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent, s.ack, s.fails
}

// Load is the generators of one process lifetime.
type Load struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	gens    []*loadgen.Generator
	streams []*Stream
	began   time.Time
}

// StartLoad sends every stream to p until Stop. Each process gets fresh connections: a gRPC
// channel to a killed process backs off for up to two minutes before it reconnects.
func StartLoad(t *testing.T, p *sieveproc.Process, streams ...*Stream) *Load {
	t.Helper()
	return StartLoadWith(t, p, loadgen.DataConfig{BatchSize: 100, Templates: 8}, streams...)
}

// StartLoadWith is StartLoad with another data mix.
func StartLoadWith(t *testing.T, p *sieveproc.Process, data loadgen.DataConfig, streams ...*Stream) *Load {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &Load{cancel: cancel, streams: streams, began: time.Now()}
	for _, s := range streams {
		ep := p.OTLPGRPC
		if s.proto == "http" {
			ep = p.OTLPHTTP
		}
		g, err := loadgen.New(loadgen.Config{
			Signal: s.Sig, Protocol: s.proto, Endpoint: ep, Rate: s.rate, Concurrency: 2,
			FirstSeq: s.next, Timeout: 5 * time.Second, OnResult: s.onResult,
			Data: data,
		})
		if err != nil {
			cancel()
			l.Stop()
			require.NoError(t, err)
		}
		l.gens = append(l.gens, g)
		l.wg.Add(1)
		go func() { defer l.wg.Done(); g.Run(ctx) }()
	}
	return l
}

// Stop ends the generators and waits for every request in flight to have its outcome.
func (l *Load) Stop() {
	l.cancel()
	l.wg.Wait()
	for i, g := range l.gens {
		l.streams[i].next = g.NextSeq()
		g.Close()
	}
}

// Verdict compares what a stream got acknowledged with what reached the backend.
type Verdict struct {
	Acked, Delivered, Missing, Mismatched uint64
	MissingExample, MismatchExample       string
}

// Verify compares what s got acknowledged with what reached the backend.
func (r *Rig) Verify(s *Stream) (Verdict, error) { return r.VerifyClass(s, 0) }

// VerifyClass is Verify restricted to the items of one class; 0 takes every class.
func (r *Rig) VerifyClass(s *Stream, only loadgen.Class) (Verdict, error) {
	s.mu.Lock()
	acked := append([]loadgen.Result(nil), s.acked...)
	s.mu.Unlock()
	var v Verdict
	var buf []byte
	for _, res := range acked {
		buf = res.Template.Render(buf, res.Seq)
		if s.Sig == loadgen.Traces {
			// Spans arrive over OTLP at the sink, which counts them by ID.
			res.Template.ItemIDs(res.Seq, func(c loadgen.Class, n uint64) {
				if only != 0 && c != only {
					return
				}
				v.Acked++
				if r.Sink.Traces.Seen(c, n) {
					v.Delivered++
				} else if v.Missing++; v.MissingExample == "" {
					v.MissingExample = loadgen.FormatID(c, n)
				}
			})
			continue
		}
		expect := expectedLogs
		if s.Sig == loadgen.Metrics {
			expect = expectedMetrics
		}
		want, err := expect(buf)
		if err != nil {
			return v, err
		}
		for id, fp := range want {
			if c, _, _ := loadgen.ParseID(id); only != 0 && c != only {
				continue
			}
			v.Acked++
			got, ok := r.rec.lookup(s.Sig, id)
			switch {
			case !ok:
				if v.Missing++; v.MissingExample == "" {
					v.MissingExample = id
				}
			case got != fp:
				v.Delivered++
				if v.Mismatched++; v.MismatchExample == "" {
					v.MismatchExample = fmt.Sprintf("%s: sent %q, received %q", id, fp, got)
				}
			default:
				v.Delivered++
			}
		}
	}
	return v, nil
}

// WaitDelivered waits until every acknowledged item of every stream reached the backend, and
// fails the test with the first missing or changed item otherwise.
func (r *Rig) WaitDelivered(timeout time.Duration, streams ...*Stream) map[loadgen.Signal]Verdict {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	out := map[loadgen.Signal]Verdict{}
	for {
		done := true
		for _, s := range streams {
			v, err := r.Verify(s)
			require.NoError(r.t, err)
			out[s.Sig] = v
			require.Zero(r.t, v.Mismatched, "%s: acknowledged items arrived with other content, e.g. %s", s.Sig, v.MismatchExample)
			if v.Missing > 0 {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			for sig, v := range out {
				if v.Missing > 0 {
					r.t.Errorf("%s: %d of %d acknowledged items never reached the backend within %v (e.g. %s)", sig, v.Missing, v.Acked, timeout, v.MissingExample)
				}
			}
			r.t.FailNow()
		}
		time.Sleep(500 * time.Millisecond) // polling a process-level outcome
	}
	st := r.rec.stats()
	require.Empty(r.t, st.DecodeErrors, "the recorder could not decode what Sieve sent")
	require.Zero(r.t, st.Divergent, "an item arrived twice with different content: %s", st.DivergentExample)
	require.Empty(r.t, r.Sink.DecodeFailures())
	return out
}

// Figures formats the per-stream numbers for the test's one line of figures.
func (r *Rig) Figures(vs map[loadgen.Signal]Verdict, streams ...*Stream) string {
	var b strings.Builder
	for _, s := range streams {
		sent, acked, _ := s.Counts()
		v := vs[s.Sig]
		var dups int
		switch s.Sig {
		case loadgen.Traces:
			dups = int(r.Sink.Traces.Snapshot().TotalDuplicates())
		case loadgen.Logs:
			dups = r.rec.stats().LokiDuplicates
		case loadgen.Metrics:
			dups = r.rec.stats().RemoteWriteDuplicates
		}
		fmt.Fprintf(&b, "%s: sent=%d acked=%d delivered=%d duplicates=%d; ", s.Sig, sent, acked, v.Delivered, dups)
	}
	return b.String()
}

// Pause waits d; in these process-level tests the wait is the point (a random kill moment, a
// load phase), not synchronisation.
func Pause(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	<-t.C
}
