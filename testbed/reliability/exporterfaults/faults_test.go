package exporterfaults

import (
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/loadgen"
	"github.com/sieveobs/sieve/testbed/sinks"
)

// orderConfig is the config whose data lets the sink judge order: Loki streams repeat by
// nature; remote-write series only repeat once the ID leaves the labels.
func orderConfig(b Backend) string {
	if b == PRWBackend {
		return "prw-order.yaml"
	}
	return "loki.yaml"
}

func idConfig(b Backend) string {
	if b == PRWBackend {
		return "prw.yaml"
	}
	return "loki.yaml"
}

func backends() []Backend { return []Backend{LokiBackend, PRWBackend} }

// sumAcked adds up the acked items of several runs.
func sumAcked(sts ...loadgen.Stats) (sent, acked uint64) {
	for _, st := range sts {
		sent += st.Sent()
		acked += st.Acked()
	}
	return sent, acked
}

// hold keeps a fault in place for d while polling Sieve, which must not exit.
func (r *Rig) hold(d time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		require.False(r.t, r.Sieve.Exited(), "sieve exited:\n%s", r.Sieve.LogTail(40))
		time.Sleep(100 * time.Millisecond)
	}
}

// settle waits until no request has reached the backend for quiet (a retry that should not
// happen would show up in that time), bounded by timeout.
func (r *Rig) settle(quiet, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	last, lastChange := len(r.Attempts()), time.Now()
	for time.Now().Before(deadline) && time.Since(lastChange) < quiet {
		time.Sleep(100 * time.Millisecond)
		if n := len(r.Attempts()); n != last {
			last, lastChange = n, time.Now()
		}
	}
}

// Fault 1: the backend is unreachable for a while, less than the queue holds; Sieve keeps
// acknowledging, and once the backend is back every acknowledged item arrives, each stream and
// series still in time order.
func TestBackendDownThenUp(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.Name, func(t *testing.T) {
			r := Start(t, b, orderConfig(b), nil)
			ctx := context.Background()
			// Some data arrives before the outage so the order check spans it.
			before := r.Send(ctx, Load{Requests: 20, Concurrency: 1})
			r.WaitDelivered(before.Acked(), false, 30*time.Second)

			r.Sink.SetFaults(sinks.Faults{Down: true})
			outage := harness.Pick(6*time.Second, 60*time.Second)
			downAt := time.Now()
			during := r.Send(ctx, Load{Duration: outage / 2, Rate: harness.Pick(20_000.0, 50_000.0), Concurrency: 1})
			r.hold(outage - time.Since(downAt))
			refused := len(r.Attempts())
			r.Sink.SetFaults(sinks.Faults{})
			upAt := time.Now()

			after := r.Send(ctx, Load{Requests: 20, Concurrency: 1})
			sent, acked := sumAcked(before, during, after)
			drain := r.WaitDelivered(acked, false, harness.Pick(60*time.Second, 5*time.Minute))
			got := r.Delivered()
			miss, ids := r.Missing(false)
			t.Logf("%s", Figures("test", t.Name(), "sent", sent, "acked", acked, "delivered", got.TotalUnique(), "duplicates", got.TotalDuplicates(),
				"attempts", len(r.Attempts()), "attempts_while_down", refused, "outage_s", time.Since(downAt).Seconds()-time.Since(upAt).Seconds(),
				"drain_s", drain.Seconds(), "out_of_order", r.OutOfOrder(), "failed_requests", during.FailedRequests))
			require.Zero(t, during.FailedRequests, "the queue holds the outage: nothing may be refused (%s)", during.LastError)
			require.Zero(t, miss, "acknowledged items lost, e.g. %v", ids)
			require.Positive(t, refused, "the outage was never noticed by the exporter")
			r.RequireIntact()
		})
	}
}

// Fault 2: 70% of responses are 500 (first half of the run) or 503 (second half); retries get
// everything through.
func TestServerErrors(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.Name, func(t *testing.T) {
			r := Start(t, b, idConfig(b), nil)
			ctx := context.Background()
			var sts []loadgen.Stats
			for _, code := range []int{http.StatusInternalServerError, http.StatusServiceUnavailable} {
				r.Sink.SetFaults(sinks.Faults{StatusCode: code, Ratio: 0.7})
				sts = append(sts, r.Send(ctx, Load{Duration: harness.Pick(2*time.Second, 30*time.Second), Rate: harness.Pick(20_000.0, 50_000.0), Concurrency: 1}))
			}
			sent, acked := sumAcked(sts...)
			drain := r.WaitDelivered(acked, false, harness.Pick(60*time.Second, 5*time.Minute))
			refused := r.Sink.Refused()
			r.Sink.SetFaults(sinks.Faults{})
			got := r.Delivered()
			miss, ids := r.Missing(false)
			t.Logf("%s", Figures("test", t.Name(), "sent", sent, "acked", acked, "delivered", got.TotalUnique(), "duplicates", got.TotalDuplicates(),
				"attempts", len(r.Attempts()), "refused", refused, "drain_s", drain.Seconds(), "out_of_order", r.OutOfOrder()))
			for _, st := range sts {
				require.Zero(t, st.FailedRequests, st.LastError)
			}
			require.Zero(t, miss, "acknowledged items lost, e.g. %v", ids)
			require.Positive(t, refused)
			r.RequireIntact()
		})
	}
}

// Fault 3: half the responses are 429 with Retry-After: 2; no request is sent again before the
// two seconds have passed, and everything arrives.
func TestRetryAfterHonoured(t *testing.T) {
	const retryAfter = 2 * time.Second
	for _, b := range backends() {
		t.Run(b.Name, func(t *testing.T) {
			// The exporter's own backoff (100ms) is far shorter than Retry-After: a retry that
			// ignored the header would come back within it.
			r := Start(t, b, idConfig(b), nil)
			ctx := context.Background()
			r.Sink.SetFaults(sinks.Faults{StatusCode: http.StatusTooManyRequests, Ratio: 0.5, RetryAfter: retryAfter})
			st := r.Send(ctx, Load{Duration: harness.Pick(3*time.Second, 40*time.Second), Rate: harness.Pick(10_000.0, 30_000.0), Concurrency: 1})
			drain := r.WaitDelivered(st.Acked(), false, harness.Pick(90*time.Second, 5*time.Minute))
			r.Sink.SetFaults(sinks.Faults{})

			// Retries are recognised by their body: bodies carry unique IDs.
			last := map[uint64]sinks.Attempt{}
			retries, early := 0, 0
			minGap := time.Duration(-1)
			for _, a := range r.Attempts() {
				if prev, ok := last[a.Body]; ok && prev.Status == http.StatusTooManyRequests {
					retries++
					gap := a.At.Sub(prev.Answered)
					if minGap < 0 || gap < minGap {
						minGap = gap
					}
					if gap < retryAfter {
						early++
					}
				}
				last[a.Body] = a
			}
			got := r.Delivered()
			miss, ids := r.Missing(false)
			// What is still queued tells a slow drain from a loss when the wait gives up.
			tel := r.Telemetry()
			t.Logf("%s", Figures("test", t.Name(), "sent", st.Sent(), "acked", st.Acked(), "delivered", got.TotalUnique(), "duplicates", got.TotalDuplicates(),
				"attempts", len(r.Attempts()), "throttled", r.Sink.Refused(), "retries", retries, "retries_before_retry_after", early,
				"min_retry_gap_s", minGap.Seconds(), "drain_s", drain.Seconds(),
				"queue_size_at_end", tel.Sum("otelcol_exporter_queue_size"), "send_failed", tel.Sum("otelcol_exporter_send_failed_"+b.Unit())))
			require.Zero(t, st.FailedRequests, st.LastError)
			require.Positive(t, retries, "no throttled request was retried with the same body")
			require.Zero(t, early, "requests retried before Retry-After elapsed (shortest gap %s)", minGap)
			require.Zero(t, miss, "acknowledged items lost, e.g. %v", ids)
			r.RequireIntact()
		})
	}
}

// Fault 4: permanent refusals are never retried, and what they cost is counted with its reason.
func TestPermanentErrors(t *testing.T) {
	type tc struct {
		name    string
		faults  sinks.Faults
		reason  string // requests_failed reason
		dropped string // entries/samples dropped reason
	}
	cases := map[Backend][]tc{
		LokiBackend: {
			{"400", sinks.Faults{StatusCode: 400, Ratio: 0.3}, "bad_request", "rejected"},
			{"401", sinks.Faults{StatusCode: 401, Ratio: 0.3}, "client_error", "rejected"},
			{"404", sinks.Faults{StatusCode: 404, Ratio: 0.3}, "client_error", "rejected"},
			{"413", sinks.Faults{StatusCode: 413, Ratio: 0.3}, "client_error", "rejected"},
			{"partial_400", sinks.Faults{StatusCode: 400, Ratio: 0.5, Partial: 0.25}, "partial_rejection", "partial_rejection"},
		},
		PRWBackend: {
			{"400", sinks.Faults{StatusCode: 400, Ratio: 0.3}, "client_error", "rejected"},
			{"401", sinks.Faults{StatusCode: 401, Ratio: 0.3}, "client_error", "rejected"},
			{"404", sinks.Faults{StatusCode: 404, Ratio: 0.3}, "client_error", "rejected"},
			{"413", sinks.Faults{StatusCode: 413, Ratio: 0.3}, "client_error", "rejected"},
		},
	}
	for _, b := range backends() {
		t.Run(b.Name, func(t *testing.T) {
			r := Start(t, b, idConfig(b), nil)
			prefix := "otelcol_exporter_loki_"
			droppedName := prefix + "entries_dropped"
			if b == PRWBackend {
				prefix = "otelcol_exporter_prometheus_remote_write_"
				droppedName = prefix + "samples_dropped"
			}
			for _, c := range cases[b] {
				t.Run(c.name, func(t *testing.T) {
					tel0 := r.Telemetry()
					seen := len(r.Attempts())
					before := r.Delivered()
					r.Sink.SetFaults(c.faults)
					st := r.Send(context.Background(), Load{Duration: harness.Pick(2*time.Second, 20*time.Second), Rate: harness.Pick(20_000.0, 50_000.0), Concurrency: 1})
					r.WaitDelivered(r.sentTotal(), true, harness.Pick(60*time.Second, 5*time.Minute))
					// A retry of a refused request would come within the exporter's backoff (100ms).
					r.settle(2*time.Second, 20*time.Second)
					r.Sink.SetFaults(sinks.Faults{})

					all := r.Attempts()
					count := map[uint64]int{}
					for _, a := range all {
						count[a.Body]++
					}
					var refused, refusedItems, ignored, retried int
					for _, a := range all[seen:] {
						if a.Status != c.faults.StatusCode {
							continue
						}
						refused++
						if a.Ignored > 0 {
							ignored += a.Ignored
						} else {
							refusedItems += a.Items
						}
						if count[a.Body] != 1 {
							retried++
						}
					}
					tel := r.Telemetry()
					delta := func(name string, labels ...string) float64 {
						return tel.Sum(name, labels...) - tel0.Sum(name, labels...)
					}
					failedReq := delta(prefix+"requests_failed", "reason", c.reason)
					dropped := delta(droppedName, "reason", c.dropped)
					got := r.Delivered()
					miss, ids := r.Missing(true)
					t.Logf("%s", Figures("test", t.Name(), "sent", st.Sent(), "acked", st.Acked(), "delivered", got.TotalUnique()-before.TotalUnique(),
						"duplicates", got.TotalDuplicates()-before.TotalDuplicates(), "attempts", len(all)-seen, "refused_requests", refused, "refused_items", refusedItems, "ignored_items", ignored, "retried_refused", retried,
						"telemetry_requests_failed", failedReq, "telemetry_dropped", dropped, "reason", c.dropped,
						"send_failed", delta("otelcol_exporter_send_failed_"+b.Unit())))
					require.Zero(t, st.FailedRequests, st.LastError)
					require.Positive(t, refused, "the fault never hit a request")
					require.Zero(t, retried, "a permanently refused request was sent more than once")
					require.Zero(t, miss, "items lost without being refused, e.g. %v", ids)
					require.InDelta(t, float64(refused), failedReq, 0, "requests_failed{reason=%q}", c.reason)
					if c.faults.Partial > 0 {
						require.Positive(t, ignored)
						require.InDelta(t, float64(ignored), dropped, 0, "dropped{reason=%q}", c.dropped)
					} else {
						require.InDelta(t, float64(refusedItems), dropped, 0, "dropped{reason=%q}", c.dropped)
					}
					r.RequireIntact()
				})
			}
		})
	}
}

// sentTotal counts the items of every run so far.
func (r *Rig) sentTotal() uint64 {
	var n uint64
	for _, sr := range r.ranges {
		n += sr.n * r.items
	}
	return n
}

// Fault 5: the backend answers slowly until the in-memory queue (the exporter's shipped sizing)
// is full. Memory stays bounded, senders are refused instead of acknowledged, and everything
// acknowledged arrives once the backend is fast again.
func TestSlowBackendBoundsMemory(t *testing.T) {
	// The same bound for short and long runs: memory must not grow with the time the queue
	// stays full.
	const maxGrowth = 200.0
	for _, b := range backends() {
		t.Run(b.Name, func(t *testing.T) {
			config := map[Backend]string{LokiBackend: "loki-memory.yaml", PRWBackend: "prw-memory.yaml"}[b]
			r := Start(t, b, config, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			idle := r.RSSMiB()

			var (
				mu   sync.Mutex
				peak float64
				wg   sync.WaitGroup
			)
			wg.Go(func() {
				tick := time.NewTicker(250 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
					}
					if v := r.telemetryQuiet().Sum("otelcol_process_memory_rss") / (1 << 20); v > 0 {
						mu.Lock()
						peak = max(peak, v)
						mu.Unlock()
					}
				}
			})
			r.Sink.SetFaults(sinks.Faults{Latency: time.Second})
			st := r.Send(ctx, Load{Duration: harness.Pick(8*time.Second, 60*time.Second), Concurrency: 4})
			r.Sink.SetFaults(sinks.Faults{})
			drain := r.WaitDelivered(st.Acked(), false, harness.Pick(90*time.Second, 5*time.Minute))
			cancel()
			wg.Wait()

			got := r.Delivered()
			t.Logf("%s", Figures("test", t.Name(), "sent", st.Sent(), "acked", st.Acked(), "delivered", got.TotalUnique(), "duplicates", got.TotalDuplicates(),
				"attempts", len(r.Attempts()), "failed_requests", st.FailedRequests, "last_error", strings.ReplaceAll(st.LastError, " ", "_"),
				"rss_idle_mib", idle, "rss_peak_mib", peak, "drain_s", drain.Seconds()))
			require.Positive(t, st.FailedRequests, "a full queue must refuse senders")
			require.Contains(t, st.LastError, "Unavailable", "refusals must be retryable for the sender")
			// Refused requests never reach the queue and the timeout is long enough that only
			// refusals fail: exactly the acknowledged items arrive.
			require.Equal(t, st.Acked(), got.TotalUnique(), "acknowledged items were dropped (or refused ones delivered)")
			require.Positive(t, peak)
			require.LessOrEqual(t, peak-idle, maxGrowth, "resident memory growth with a full queue")
			// Several senders interleave, so only content is judged here, not order.
			bad, msgs := r.Sink.ContentErrors()
			require.Zero(t, bad, "items delivered with content other than what was sent: %v", msgs)
			require.Empty(t, r.Sink.DecodeFailures())
		})
	}
}

// telemetryQuiet scrapes without failing the test, for use outside the test goroutine; a failed
// scrape reads as no series.
func (r *Rig) telemetryQuiet() harness.Metrics {
	m, _ := harness.Scrape(context.Background(), nil, r.Sieve.TelemetryURL)
	return m
}

// Fault 6: retries while requests are in flight in parallel (the remote-write exporter's
// shards) must not let an older sample of a series, or an older entry of a stream, arrive after
// a newer one. The Loki exporter keeps order with a single queue consumer and refuses more.
func TestConcurrentRetriesKeepOrder(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.Name, func(t *testing.T) {
			env := map[string]string{}
			if b == PRWBackend {
				env["TEST_SHARDS"] = harness.Pick("4", "8")
			}
			r := Start(t, b, orderConfig(b), env)
			ctx := context.Background()
			var sts []loadgen.Stats
			for _, ratio := range []float64{0.5, 0.2} {
				r.Sink.SetFaults(sinks.Faults{StatusCode: http.StatusInternalServerError, Ratio: ratio})
				sts = append(sts, r.Send(ctx, Load{Duration: harness.Pick(3*time.Second, 30*time.Second), Rate: harness.Pick(20_000.0, 50_000.0), Concurrency: 1}))
			}
			sent, acked := sumAcked(sts...)
			drain := r.WaitDelivered(acked, false, harness.Pick(60*time.Second, 5*time.Minute))
			refused := r.Sink.Refused()
			r.Sink.SetFaults(sinks.Faults{})
			got := r.Delivered()
			miss, ids := r.Missing(false)
			var parallel int
			at := r.Attempts()
			for i := 1; i < len(at); i++ {
				if at[i].At.Before(at[i-1].Answered) {
					parallel++
				}
			}
			t.Logf("%s", Figures("test", t.Name(), "sent", sent, "acked", acked, "delivered", got.TotalUnique(), "duplicates", got.TotalDuplicates(),
				"attempts", len(at), "refused", refused, "overlapping_attempts", parallel, "out_of_order", r.OutOfOrder(), "drain_s", drain.Seconds()))
			require.Zero(t, miss, "acknowledged items lost, e.g. %v", ids)
			require.Positive(t, refused)
			if b == PRWBackend {
				require.Positive(t, parallel, "shards never sent in parallel: the test did not exercise concurrency")
			}
			r.RequireIntact()
		})
	}
	t.Run("loki_refuses_several_consumers", func(t *testing.T) {
		bin, err := harness.SieveBinary()
		require.NoError(t, err)
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command(bin, "validate", "--config", filepath.Join(filepath.Dir(file), "testdata", "loki.yaml"))
		cmd.Env = append(cmd.Environ(), "TEST_NUM_CONSUMERS=4", "TEST_BASE_NS=0", "SIEVE_LOKI_PUSH_URL=http://127.0.0.1:1/loki/api/v1/push",
			"SIEVE_HEALTH_ENDPOINT=127.0.0.1:0", "SIEVE_STORAGE_DIR="+t.TempDir(), "SIEVE_OTLP_GRPC_ENDPOINT=127.0.0.1:0",
			"SIEVE_OTLP_HTTP_ENDPOINT=127.0.0.1:0", "SIEVE_TELEMETRY_PORT=0")
		out, err := cmd.CombinedOutput()
		require.Error(t, err, "several Loki queue consumers would reorder streams across retries:\n%s", out)
		require.Contains(t, string(out), "num_consumers")
	})
}
