package load

import (
	"context"
	"encoding/csv"
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

	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/loadgen"
	"github.com/sieveobs/sieve/testbed/sinks"
)

// Soak bounds. A leak that grows with traffic shows as a steady slope once caches, queues and the
// remote-write staleness tracker (which holds a series for 5 minutes) are full, so the fit skips
// the first tenth of the run.
const (
	// soakInterval is the sampling period of RSS and goroutines.
	soakInterval = 10 * time.Second
	// soakWarmup is the share of the run left out of the fit (SIEVE_SOAK_WARMUP, a duration,
	// overrides it for runs too short for a tenth to cover the fill phase).
	soakWarmup = 0.10
	// rssSlopeMax is the RSS growth tolerated over a run, in MiB per hour: at the soak's traffic
	// a leak of a few bytes per item exceeds it within the hour.
	rssSlopeMax = 20.0
	// rssFloorMiB is the fitted RSS growth below which no run fails: garbage collection cycles
	// alone move RSS by several MiB, so on runs shorter than an hour the total growth is judged
	// rather than the rate.
	rssFloorMiB = 16.0
	// goroutineGrowthMax is the fitted goroutine growth over the run tolerated: connections come
	// and go, but a goroutine leaked per request or batch would add thousands.
	goroutineGrowthMax = 10.0
)

// soakRates are items per second: moderate, so the run measures drift rather than saturation on
// a machine it shares with other work.
var soakRates = map[loadgen.Signal]float64{loadgen.Logs: 2000, loadgen.Traces: 1000, loadgen.Metrics: 300}

type soakSample struct {
	at         time.Duration
	rssMiB     float64
	goroutines int
	cpu        float64
	acked      map[loadgen.Signal]uint64
	delivered  map[loadgen.Signal]uint64
}

// TestSoak sends all three signals through the gateway for SIEVE_SOAK_DURATION and fails when
// Sieve's RSS or goroutine count grows, or when anything acked was lost beyond sampling. Samples
// go to a CSV in SIEVE_SOAK_OUT (default: a new temporary directory, kept).
func TestSoak(t *testing.T) {
	raw := os.Getenv("SIEVE_SOAK_DURATION")
	if raw == "" {
		t.Skip("set SIEVE_SOAK_DURATION (e.g. 1h) to run the soak")
	}
	dur, err := time.ParseDuration(raw)
	require.NoError(t, err, "SIEVE_SOAK_DURATION")
	require.GreaterOrEqual(t, dur, time.Minute, "a soak shorter than a minute has too few samples to fit")
	warmup := time.Duration(soakWarmup * float64(dur))
	if w := os.Getenv("SIEVE_SOAK_WARMUP"); w != "" {
		warmup, err = time.ParseDuration(w)
		require.NoError(t, err, "SIEVE_SOAK_WARMUP")
	}
	out := os.Getenv("SIEVE_SOAK_OUT")
	if out == "" {
		out, err = os.MkdirTemp("", "sieve-soak-")
		require.NoError(t, err)
	}
	require.NoError(t, os.MkdirAll(out, 0o755))
	stamp := time.Now().UTC().Format("20060102T150405")
	csvPath := filepath.Join(out, "soak-"+stamp+".csv")

	g := StartGateway(t, GatewayOptions{PolicyFile: policyFile(t), LogPath: filepath.Join(out, "sieve-"+stamp+".log")})
	client := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), dur+10*time.Minute)
	defer cancel()

	gens := map[loadgen.Signal]*loadgen.Generator{}
	for _, sig := range signals {
		gen, err := loadgen.New(loadgen.Config{Signal: sig, Protocol: "grpc", Endpoint: g.Proc.OTLPGRPC,
			Rate: soakRates[sig], Concurrency: 2, Duration: dur, Data: loadData})
		require.NoError(t, err)
		defer gen.Close()
		gens[sig] = gen
	}
	f, err := os.Create(csvPath)
	require.NoError(t, err)
	defer f.Close()
	w := csv.NewWriter(f)
	// RSS is judged; its anonymous and file-backed parts tell a heap leak from a growing mapped
	// file (the persistent queue's database) when it grows.
	header := []string{"elapsed_s", "rss_mib", "rss_anon_mib", "rss_file_mib", "goroutines", "cpu_s"}
	for _, sig := range signals {
		header = append(header, string(sig)+"_acked", string(sig)+"_delivered")
	}
	require.NoError(t, w.Write(header))

	start := time.Now()
	var wg sync.WaitGroup
	for _, gen := range gens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gen.Run(ctx)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// However the test ends, the senders stop before the gateway does.
	defer func() { cancel(); <-done }()

	var samples []soakSample
	take := func() {
		s := soakSample{at: time.Since(start), acked: map[loadgen.Signal]uint64{}, delivered: map[loadgen.Signal]uint64{}}
		rss, err := harness.StatusKiB(g.Proc.PID(), "VmRSS")
		require.NoError(t, err, "sieve's /proc entry")
		s.rssMiB = float64(rss) / 1024
		anon, err := harness.StatusKiB(g.Proc.PID(), "RssAnon")
		require.NoError(t, err)
		file, err := harness.StatusKiB(g.Proc.PID(), "RssFile")
		require.NoError(t, err)
		s.goroutines, err = harness.Goroutines(ctx, client, g.PprofAddr)
		require.NoError(t, err)
		s.cpu, err = harness.CPUSeconds(g.Proc.PID())
		require.NoError(t, err)
		row := []string{fmt.Sprintf("%.1f", s.at.Seconds()), fmt.Sprintf("%.2f", s.rssMiB), fmt.Sprintf("%.2f", float64(anon)/1024),
			fmt.Sprintf("%.2f", float64(file)/1024), strconv.Itoa(s.goroutines), fmt.Sprintf("%.2f", s.cpu)}
		for _, sig := range signals {
			s.acked[sig] = gens[sig].Stats().Acked()
			s.delivered[sig] = g.Counts(sig).TotalUnique()
			row = append(row, strconv.FormatUint(s.acked[sig], 10), strconv.FormatUint(s.delivered[sig], 10))
		}
		require.NoError(t, w.Write(row))
		w.Flush()
		require.NoError(t, w.Error())
		samples = append(samples, s)
	}
	take()
	// Heap profiles at the end of the warm-up and at the end of the load: when RSS grows,
	// `go tool pprof -base heap-warm.pb.gz heap-end.pb.gz` shows what holds the growth.
	warmProfile := false
	tick := time.NewTicker(soakInterval)
	defer tick.Stop()
sampling:
	for {
		select {
		case <-done:
			break sampling
		case <-tick.C:
			if g.Proc.Exited() {
				cancel()
				<-done
				t.Fatalf("sieve exited during the soak:\n%s", g.Proc.LogTail(40))
			}
			take()
			if !warmProfile && time.Since(start) >= warmup {
				warmProfile = true
				saveHeap(t, ctx, client, g.PprofAddr, filepath.Join(out, "heap-warm-"+stamp+".pb.gz"))
			}
		}
	}
	loadSecs := time.Since(start).Seconds()
	saveHeap(t, ctx, client, g.PprofAddr, filepath.Join(out, "heap-end-"+stamp+".pb.gz"))

	// Nothing acked may be lost: drain every signal, then judge each.
	exps := GatewayExpectations(traceRate)
	require.NoError(t, g.WaitTailIdle(ctx, client, time.Minute))
	problems := []string{}
	for _, sig := range signals {
		st := gens[sig].Stats()
		Drain(ctx, func() sinks.Counts { return g.Counts(sig) }, st, exps[sig], 3*time.Second, 30*time.Second, 3*time.Minute, g.Proc.Exited)
		got := g.Counts(sig)
		v := Judge(st, got, exps[sig])
		t.Logf("soak %s: sent %d acked %d failed_requests %d (%.0f/s acked) | delivered %d expected %.0f duplicates %d",
			sig, st.Sent(), st.Acked(), st.FailedRequests, float64(st.Acked())/loadSecs, v.Delivered, v.Expected, v.Duplicates)
		for _, p := range v.Problems {
			problems = append(problems, string(sig)+": "+p)
		}
	}

	fit := samples[:0:0]
	for _, s := range samples {
		if s.at >= warmup {
			fit = append(fit, s)
		}
	}
	require.GreaterOrEqual(t, len(fit), 3, "too few samples after the warm-up to fit a trend")
	xs := make([]float64, len(fit))
	rss := make([]float64, len(fit))
	gor := make([]float64, len(fit))
	for i, s := range fit {
		xs[i], rss[i], gor[i] = s.at.Hours(), s.rssMiB, float64(s.goroutines)
	}
	window := xs[len(xs)-1] - xs[0]
	rssSlope, gorSlope := Slope(xs, rss), Slope(xs, gor)
	last := samples[len(samples)-1]
	cpu := last.cpu - samples[0].cpu
	t.Logf("soak %v: %d samples, fit over the last %.1f min: RSS slope %+.2f MiB/hour (%+.1f MiB fitted growth; RSS %.1f -> %.1f MiB, max %.1f), goroutine slope %+.2f/hour (%+.1f fitted growth; %d -> %d) | sieve cpu %.0fs (%.0f%%) | samples in %s",
		dur, len(samples), window*60, rssSlope, rssSlope*window, fit[0].rssMiB, last.rssMiB, maxOf(rss), gorSlope, gorSlope*window,
		fit[0].goroutines, last.goroutines, cpu, 100*cpu/last.at.Seconds(), csvPath)

	require.Empty(t, g.DecodeFailures(), "the endpoints could not decode what Sieve sent, so counts are incomplete")
	require.Empty(t, problems, "%s", strings.Join(problems, "; "))
	require.False(t, rssSlope > rssSlopeMax && rssSlope*window > rssFloorMiB,
		"RSS grows %.2f MiB/hour (%.1f MiB over the fitted %.1f min; bound %.0f MiB/hour)", rssSlope, rssSlope*window, window*60, rssSlopeMax)
	require.LessOrEqual(t, gorSlope*window, goroutineGrowthMax,
		"goroutines grow %.2f/hour (%.1f over the fitted %.1f min)", gorSlope, gorSlope*window, window*60)
}

// saveHeap stores Sieve's heap profile; a failure is logged, as the profile only helps diagnosis.
func saveHeap(t *testing.T, ctx context.Context, client *http.Client, pprofAddr, path string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+pprofAddr+"/debug/pprof/heap", http.NoBody)
	if err == nil {
		var resp *http.Response
		if resp, err = client.Do(req); err == nil {
			defer resp.Body.Close()
			var b []byte
			if b, err = io.ReadAll(resp.Body); err == nil {
				err = os.WriteFile(path, b, 0o644)
			}
		}
	}
	if err != nil {
		t.Logf("heap profile %s: %v", path, err)
	}
}

func maxOf(v []float64) float64 {
	m := v[0]
	for _, x := range v[1:] {
		m = max(m, x)
	}
	return m
}
