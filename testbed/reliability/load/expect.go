package load

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/sieveobs/sieve/testbed/loadgen"
	"github.com/sieveobs/sieve/testbed/sinks"
)

// Sigmas bounds sampled counts as the correctness runs do: a correct sampler falls outside this
// many binomial standard deviations about once in 1.7 million runs.
const Sigmas = 5

// Expectation is what a pipeline must deliver of each class.
type Expectation struct {
	// Fractions maps a class to the share of its items that must arrive: 1 all of them, 0 none,
	// in between a sampled share. A class missing from the map must not arrive at all.
	Fractions map[loadgen.Class]float64
	// Cluster is the largest number of items sharing one sampling decision (the spans of a
	// trace); it widens the binomial bounds accordingly.
	Cluster int
}

// GatewayExpectations gives what the gateway delivers per signal under a policy whose only trace
// rate is traceRate and whose log tiers are the classic ones (errors and 5xx 100%, warn 10%, the
// rest 0.1%), with configs/examples/require-uid.yaml laid over it as StartGateway does.
//
// Logs follow traces: a record its tier drops is still kept when the policy keeps its trace. Both
// decisions compare the same randomness (the trace ID's low 56 bits) with a threshold, so a
// record is kept exactly when it passes the more permissive of the two: its share is the larger
// rate, not the union of two independent draws. Records without uid are dropped before either.
func GatewayExpectations(traceRate float64) map[loadgen.Signal]Expectation {
	return map[loadgen.Signal]Expectation{
		loadgen.Logs: {Fractions: map[loadgen.Class]float64{
			loadgen.ClassKeep:  1,
			loadgen.ClassWarn:  math.Max(0.1, traceRate),
			loadgen.ClassInfo:  math.Max(0.001, traceRate),
			loadgen.ClassNoUID: 0,
		}, Cluster: 1},
		// Tail sampling at the gateway keeps every trace with an error span whole.
		loadgen.Traces: {Fractions: map[loadgen.Class]float64{
			loadgen.ClassKeep:    1,
			loadgen.ClassSampled: traceRate,
		}, Cluster: loadgen.MaxSpansPerTrace},
		loadgen.Metrics: {Fractions: map[loadgen.Class]float64{loadgen.ClassPlain: 1}, Cluster: 1},
	}
}

// Verdict is the loss rule applied to one run.
type Verdict struct {
	// Expected is what the rates predict from the acked items; Delivered the unique items with
	// an ID that arrived; Duplicates the extra arrivals.
	Expected   float64
	Delivered  uint64
	Duplicates uint64
	// Problems lists every broken promise; empty means the run lost nothing beyond sampling.
	Problems []string
}

// Judge applies the loss rule: every acked item of a must-keep class arrived, no item of a
// dropped class arrived, sampled classes arrived within Sigmas of their rate, and nothing arrived
// twice. Items sent but not acked (a request that failed or timed out) may or may not arrive, so
// they only widen the upper bounds.
func Judge(st loadgen.Stats, got sinks.Counts, exp Expectation) Verdict {
	var v Verdict
	classes := map[loadgen.Class]bool{}
	for c := range st.SentItems {
		classes[c] = true
	}
	for c := range got.Unique {
		classes[c] = true
	}
	ordered := make([]loadgen.Class, 0, len(classes))
	for c := range classes {
		ordered = append(ordered, c)
	}
	sort.Slice(ordered, func(i, j int) bool { return ordered[i] < ordered[j] })
	cluster := float64(max(exp.Cluster, 1))
	for _, c := range ordered {
		sent, acked, d := st.SentItems[c], st.AckedItems[c], got.Unique[c]
		v.Delivered += d
		f, ok := exp.Fractions[c]
		switch {
		case !ok || f == 0:
			if d > 0 {
				v.Problems = append(v.Problems, fmt.Sprintf("class %s must be dropped: %d arrived", c, d))
			}
		case f >= 1:
			v.Expected += float64(acked)
			if d < acked {
				v.Problems = append(v.Problems, fmt.Sprintf("class %s: %d of %d acked items lost", c, acked-d, acked))
			}
			if d > sent {
				v.Problems = append(v.Problems, fmt.Sprintf("class %s: %d arrived, only %d sent", c, d, sent))
			}
		default:
			v.Expected += float64(acked) * f
			lo := float64(acked)*f - Sigmas*math.Sqrt(cluster*float64(acked)*f*(1-f))
			hi := float64(sent)*f + Sigmas*math.Sqrt(cluster*float64(sent)*f*(1-f))
			if float64(d) < lo || float64(d) > hi {
				v.Problems = append(v.Problems, fmt.Sprintf("class %s: %d of %d acked arrived, outside %.0f-%.0f at rate %g", c, d, acked, math.Max(lo, 0), hi, f))
			}
		}
	}
	v.Duplicates = got.TotalDuplicates()
	if v.Duplicates > 0 {
		v.Problems = append(v.Problems, fmt.Sprintf("%d items arrived more than once: %v", v.Duplicates, got.Duplicates))
	}
	return v
}

// Drain waits until the pipeline delivered what it will: every acked must-keep item is in and
// the counts stayed unchanged for settle, or nothing arrived for quiet while items are still
// missing (they will not come), or the deadline passed, or stop says the collector died.
func Drain(ctx context.Context, counts func() sinks.Counts, st loadgen.Stats, exp Expectation,
	settle, quiet, deadline time.Duration, stop func() bool,
) {
	complete := func(got sinks.Counts) bool {
		for c, a := range st.AckedItems {
			if exp.Fractions[c] >= 1 && got.Unique[c] < a {
				return false
			}
		}
		return true
	}
	end := time.Now().Add(deadline)
	last, lastChange := counts().Items, time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(end) && !stop() {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		got := counts()
		if got.Items != last {
			last, lastChange = got.Items, time.Now()
			continue
		}
		q := time.Since(lastChange)
		if (complete(got) && q >= settle) || q >= quiet {
			return
		}
	}
}

// Slope is the least-squares slope of ys over xs (0 when xs do not vary).
func Slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if n < 2 {
		return 0
	}
	var sx, sy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
	}
	mx, my := sx/n, sy/n
	var sxy, sxx float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	if sxx == 0 {
		return 0
	}
	return sxy / sxx
}
