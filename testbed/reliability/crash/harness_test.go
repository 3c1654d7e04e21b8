package crash

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sieveobs/sieve/testbed/loadgen"
	"github.com/sieveobs/sieve/testbed/sieveproc"
	"github.com/sieveobs/sieve/testbed/sinks"
)

// rig is one Sieve process (restarted as the test goes) with its sink and recorder.
type rig struct {
	t       *testing.T
	sink    *sinks.Sink
	rec     *recorder
	opts    sieveproc.Options
	proc    *sieveproc.Process
	storage string
	// restarts counts processes started after the first.
	restarts int
}

// newRig starts the sink (down when backendDown) and the recorder; Sieve is started by start.
func newRig(t *testing.T, config string, backendDown bool, env map[string]string) *rig {
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
	r := &rig{t: t, sink: sink, rec: rec, storage: filepath.Join(t.TempDir(), "storage")}
	r.opts = sieveproc.Options{
		Config: filepath.Join("testdata", config),
		Env: map[string]string{
			"SIEVE_LOKI_PUSH_URL":        rec.URL + "/loki/api/v1/push",
			"SIEVE_PROMETHEUS_RW_URL":    rec.URL + "/api/v1/write",
			"SIEVE_TRACES_OTLP_ENDPOINT": sink.GRPCAddr,
		},
		StorageDir: r.storage,
	}
	for k, v := range env {
		r.opts.Env[k] = v
	}
	// Sieve's logs are kept after the run when asked for, to investigate a failure.
	if dir := os.Getenv("SIEVE_CRASH_LOG_DIR"); dir != "" {
		r.opts.LogPath = filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+".log")
		_ = os.Remove(r.opts.LogPath)
	}
	t.Cleanup(func() {
		if r.proc == nil {
			return
		}
		if t.Failed() {
			t.Logf("sieve log tail:\n%s", r.proc.LogTail(80))
		}
		if err := r.proc.Stop(); err != nil {
			t.Errorf("stop sieve: %v", err)
		}
	})
	return r
}

func (r *rig) start() {
	r.t.Helper()
	p, err := sieveproc.Start(context.Background(), r.opts)
	require.NoError(r.t, err)
	r.proc = p
}

// restart starts the next process on the same addresses and storage after the current one
// ended, and fails the test if it does not become healthy.
func (r *rig) restart() {
	r.t.Helper()
	p, err := r.proc.Restart(context.Background())
	if p != nil {
		r.proc = p
	}
	require.NoError(r.t, err)
	r.restarts++
}

// stream is one signal sent to Sieve across restarts, with the record of what was
// acknowledged.
type stream struct {
	sig   loadgen.Signal
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

func newStream(sig loadgen.Signal, proto string, rate float64) *stream {
	return &stream{sig: sig, proto: proto, rate: rate}
}

func (s *stream) onResult(res loadgen.Result) {
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

func (s *stream) lastError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

func (s *stream) counts() (sent, acked, failedRequests uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent, s.ack, s.fails
}

// load is the generators of one process lifetime.
type load struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	gens    []*loadgen.Generator
	streams []*stream
	began   time.Time
}

// startLoad sends every stream to p until stop. Each process gets fresh connections: a gRPC
// channel to a killed process backs off for up to two minutes before it reconnects.
func startLoad(t *testing.T, p *sieveproc.Process, streams ...*stream) *load {
	t.Helper()
	return startLoadWith(t, p, loadgen.DataConfig{BatchSize: 100, Templates: 8}, streams...)
}

// startLoadWith is startLoad with another data mix.
func startLoadWith(t *testing.T, p *sieveproc.Process, data loadgen.DataConfig, streams ...*stream) *load {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel, streams: streams, began: time.Now()}
	for _, s := range streams {
		ep := p.OTLPGRPC
		if s.proto == "http" {
			ep = p.OTLPHTTP
		}
		g, err := loadgen.New(loadgen.Config{
			Signal: s.sig, Protocol: s.proto, Endpoint: ep, Rate: s.rate, Concurrency: 2,
			FirstSeq: s.next, Timeout: 5 * time.Second, OnResult: s.onResult,
			Data: data,
		})
		if err != nil {
			cancel()
			l.stop()
			require.NoError(t, err)
		}
		l.gens = append(l.gens, g)
		l.wg.Add(1)
		go func() { defer l.wg.Done(); g.Run(ctx) }()
	}
	return l
}

// stop ends the generators and waits for every request in flight to have its outcome.
func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
	for i, g := range l.gens {
		l.streams[i].next = g.NextSeq()
		g.Close()
	}
}

// verdict compares what a stream got acknowledged with what reached the backend.
type verdict struct {
	Acked, Delivered, Missing, Mismatched uint64
	MissingExample, MismatchExample       string
}

func (r *rig) verify(s *stream) (verdict, error) { return r.verifyClass(s, 0) }

// verifyClass is verify restricted to the items of one class; 0 takes every class.
func (r *rig) verifyClass(s *stream, only loadgen.Class) (verdict, error) {
	s.mu.Lock()
	acked := append([]loadgen.Result(nil), s.acked...)
	s.mu.Unlock()
	var v verdict
	var buf []byte
	for _, res := range acked {
		buf = res.Template.Render(buf, res.Seq)
		if s.sig == loadgen.Traces {
			// Spans arrive over OTLP at the sink, which counts them by ID.
			res.Template.ItemIDs(res.Seq, func(c loadgen.Class, n uint64) {
				if only != 0 && c != only {
					return
				}
				v.Acked++
				if r.sink.Traces.Seen(c, n) {
					v.Delivered++
				} else if v.Missing++; v.MissingExample == "" {
					v.MissingExample = loadgen.FormatID(c, n)
				}
			})
			continue
		}
		expect := expectedLogs
		if s.sig == loadgen.Metrics {
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
			got, ok := r.rec.lookup(s.sig, id)
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

// waitDelivered waits until every acknowledged item of every stream reached the backend, and
// fails the test with the first missing or changed item otherwise.
func (r *rig) waitDelivered(timeout time.Duration, streams ...*stream) map[loadgen.Signal]verdict {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	out := map[loadgen.Signal]verdict{}
	for {
		done := true
		for _, s := range streams {
			v, err := r.verify(s)
			require.NoError(r.t, err)
			out[s.sig] = v
			require.Zero(r.t, v.Mismatched, "%s: acknowledged items arrived with other content, e.g. %s", s.sig, v.MismatchExample)
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
	require.Empty(r.t, r.sink.DecodeFailures())
	return out
}

// figures formats the per-stream numbers for the test's one line of figures.
func (r *rig) figures(vs map[loadgen.Signal]verdict, streams ...*stream) string {
	var b strings.Builder
	for _, s := range streams {
		sent, acked, _ := s.counts()
		v := vs[s.sig]
		var dups int
		switch s.sig {
		case loadgen.Traces:
			dups = int(r.sink.Traces.Snapshot().TotalDuplicates())
		case loadgen.Logs:
			dups = r.rec.stats().LokiDuplicates
		case loadgen.Metrics:
			dups = r.rec.stats().RemoteWriteDuplicates
		}
		fmt.Fprintf(&b, "%s: sent=%d acked=%d delivered=%d duplicates=%d; ", s.sig, sent, acked, v.Delivered, dups)
	}
	return b.String()
}

// scrape reads Sieve's own metrics.
func scrape(url string) (string, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// metricSum adds the values of every series of the metric whose labels contain all of match
// (e.g. `tier="errors"`).
func metricSum(text, name string, match ...string) float64 {
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || len(line) == len(name) || (line[len(name)] != '{' && line[len(name)] != ' ') {
			continue
		}
		ok := true
		for _, m := range match {
			ok = ok && strings.Contains(line, m)
		}
		if !ok {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// pause waits d; in these process-level tests the wait is the point (a random kill moment, a
// load phase), not synchronisation.
func pause(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	<-t.C
}
