package correctness

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sieveobs/sieve/testbed/bench"
	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/loadgen"
	"github.com/sieveobs/sieve/testbed/sinks"
)

// sigmas bounds sampled counts: a correct sampler leaves them outside this many binomial
// standard deviations about once in 1.7 million runs.
const sigmas = 5

// data raises the share of must-keep and must-drop items over the benchmark mix so a short run
// still holds hundreds of them.
var data = loadgen.DataConfig{ErrorRatio: 0.03, WarnRatio: 0.10, Status5xxRatio: 0.01, MissingUIDRatio: 0.03, Templates: 32}

func newRunner(t *testing.T) *bench.Runner {
	t.Helper()
	bin, err := harness.SieveBinary()
	require.NoError(t, err, "the correctness runs need bin/sieve")
	r, err := bench.NewRunner(map[bench.Collector]string{bench.Sieve: bin}, "", t.TempDir())
	require.NoError(t, err)
	return r
}

func TestPipelines(t *testing.T) {
	runPipelines(t, newRunner(t), bench.Sieve)
}

// TestBaselinePipelines runs the same checks on the upstream baseline collector, which shows the
// harness itself judges sampling pipelines correctly. It builds the baseline on first use (several
// minutes), so it only runs when asked.
func TestBaselinePipelines(t *testing.T) {
	if os.Getenv("SIEVE_CORRECTNESS_BASELINE") == "" {
		t.Skip("set SIEVE_CORRECTNESS_BASELINE=1 to check the pipelines on the upstream baseline collector")
	}
	bin, err := bench.BaselineBinary(context.Background())
	require.NoError(t, err)
	r, err := bench.NewRunner(map[bench.Collector]string{bench.Baseline: bin}, "", t.TempDir())
	require.NoError(t, err)
	runPipelines(t, r, bench.Baseline)
}

func runPipelines(t *testing.T, r *bench.Runner, c bench.Collector) {
	for _, p := range bench.Pipelines() {
		t.Run(p.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := r.Available(ctx, p, c); err != nil {
				t.Skipf("pipeline not available in this build: %v", err)
			}
			cases := []bench.Load{{Protocol: "grpc"}}
			if p.Name == "passthrough" {
				cases = nil
				for _, sig := range []loadgen.Signal{loadgen.Logs, loadgen.Traces, loadgen.Metrics} {
					for _, proto := range []string{"grpc", "http"} {
						cases = append(cases, bench.Load{Signal: sig, Protocol: proto})
					}
				}
				// The exporter's retries must deliver what the backend refused, once.
				cases = append(cases, bench.Load{Signal: loadgen.Logs, Protocol: "grpc",
					Faults: sinks.Faults{StatusCode: http.StatusServiceUnavailable, Ratio: 0.1}})
			}
			for _, load := range cases {
				sig := load.Signal
				if sig == "" {
					sig = p.Signal
				}
				name := fmt.Sprintf("%s-%s", sig, load.Protocol)
				if load.Faults.Ratio > 0 {
					name += "-backend-refusing"
				}
				t.Run(name, func(t *testing.T) {
					load.Rate, load.Concurrency, load.MaxRequests, load.Data = 20000, 4, 300, data
					res, sink, err := r.RunKeepSink(ctx, p, c, load)
					require.NoError(t, err)
					defer sink.Close()
					if load.Faults.Ratio > 0 {
						require.NotZero(t, sink.Refused(), "the sink refused nothing: the retry path went untested")
					}
					checkResult(t, p, c, res)
				})
			}
		})
	}
}

func checkResult(t *testing.T, p bench.Pipeline, c bench.Collector, res bench.Result) {
	t.Helper()
	require.Zero(t, res.FailedRequests, "requests refused by the collector: %s", res.LastError)
	require.EqualValues(t, 300*100, sumOf(res.Acked))
	require.Zero(t, res.Duplicates, "items delivered more than once")
	if p.Aggregated {
		require.EqualValues(t, sumOf(res.Acked), res.DeliveredItems, "histogram counts must account for every span exactly once")
		return
	}
	expect := p.Expect[c]
	for _, cl := range loadgen.Classes {
		acked, delivered := res.Acked[cl.String()], res.Delivered[cl.String()]
		f, ok := expect[cl]
		switch {
		case acked == 0:
			require.Zero(t, delivered, "class %s delivered without being sent", cl)
		case !ok || f == 0:
			require.Zero(t, delivered, "class %s must be dropped", cl)
		case f == 1:
			require.Equal(t, acked, delivered, "class %s must arrive exactly once", cl)
		default:
			mean := float64(acked) * f
			// Items sharing a decision (spans of a trace) widen the spread by up to the cluster size.
			sd := math.Sqrt(float64(max(p.Cluster, 1)) * float64(acked) * f * (1 - f))
			lo, hi := math.Max(0, mean-sigmas*sd), mean+sigmas*sd
			require.True(t, float64(delivered) >= lo && float64(delivered) <= hi,
				"class %s: %d of %d delivered, expected %.0f (bounds %.0f-%.0f at rate %g)", cl, delivered, acked, mean, lo, hi, f)
		}
	}
}

func sumOf(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}
