package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/sieveproc"
)

// spanSink is an OTLP trace receiver counting spans per service and phase.
type spanSink struct {
	ptraceotlp.UnimplementedGRPCServer
	mu     sync.Mutex
	counts map[string]int // "service/phase"
}

func (s *spanSink) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rss := req.Traces().ResourceSpans()
	for i := range rss.Len() {
		svc, _ := rss.At(i).Resource().Attributes().Get("service.name")
		sss := rss.At(i).ScopeSpans()
		for j := range sss.Len() {
			spans := sss.At(j).Spans()
			for k := range spans.Len() {
				phase, _ := spans.At(k).Attributes().Get("phase")
				s.counts[svc.Str()+"/"+phase.Str()]++
			}
		}
	}
	return ptraceotlp.NewExportResponse(), nil
}

func (s *spanSink) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[key]
}

const tracePolicy = `version: %s
default_rate: 0.01
services:
  svc-a:
    rate: %g
  svc-b:
    rate: %g
`

// TestTraceSamplingFollowsLivePolicy sends single-span traces for two services through bin/sieve,
// checks the kept fraction of each against its policy rate, rewrites the policy file while Sieve
// runs, and checks that the kept fractions follow.
func TestTraceSamplingFollowsLivePolicy(t *testing.T) {
	sink := &spanSink{counts: map[string]int{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, sink)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	policyPath := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(policyPath, fmt.Appendf(nil, tracePolicy, "v1", 0.2, 0.05), 0o600))
	sieve := sieveproc.StartT(t, sieveproc.Options{
		Config: filepath.Join("testdata", "trace-sampling.yaml"),
		Env:    map[string]string{"SIEVE_POLICY_FILE": policyPath, "SINK_ENDPOINT": lis.Addr().String()},
	})
	conn, err := grpc.NewClient(sieve.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(3, 5))

	const traces = 20_000
	send := func(service, phase string) {
		for sent := 0; sent < traces; {
			td := ptrace.NewTraces()
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", service)
			spans := rs.ScopeSpans().AppendEmpty().Spans()
			for ; sent < traces && spans.Len() < 2000; sent++ {
				sp := spans.AppendEmpty()
				var tid [16]byte
				for k := range tid {
					tid[k] = byte(rng.Uint32())
				}
				sp.SetTraceID(pcommon.TraceID(tid))
				sp.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(sent)})
				sp.SetName("GET /things")
				sp.Attributes().PutStr("phase", phase)
			}
			_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
			require.NoError(t, err)
		}
	}
	// 99.99% binomial interval around the policy rate.
	expectKept := func(service, phase string, rate float64) {
		mean, sd := traces*rate, math.Sqrt(traces*rate*(1-rate))
		require.Eventually(t, func() bool {
			return math.Abs(float64(sink.count(service+"/"+phase))-mean) <= 3.89*sd
		}, 30*time.Second, 200*time.Millisecond, "%s %s: kept %d of %d, policy rate %g", service, phase, sink.count(service+"/"+phase), traces, rate)
		t.Logf("%s %s: kept %d of %d at rate %g", service, phase, sink.count(service+"/"+phase), traces, rate)
	}

	send("svc-a", "one")
	send("svc-b", "one")
	expectKept("svc-a", "one", 0.2)
	expectKept("svc-b", "one", 0.05)

	written := time.Now()
	require.NoError(t, os.WriteFile(policyPath+".tmp", fmt.Appendf(nil, tracePolicy, "v2", 0.5, 0.01), 0o600))
	require.NoError(t, os.Rename(policyPath+".tmp", policyPath))
	require.Eventually(t, func() bool {
		resp, err := http.Get(sieve.SamplingURL + "/policy")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var p struct {
			Version string `json:"version"`
		}
		return json.NewDecoder(resp.Body).Decode(&p) == nil && p.Version == "v2"
	}, 5*time.Second, 20*time.Millisecond, "the new policy must be in effect")
	t.Logf("policy file write to served version: %s", time.Since(written).Round(time.Millisecond))

	send("svc-a", "two")
	send("svc-b", "two")
	expectKept("svc-a", "two", 0.5)
	expectKept("svc-b", "two", 0.01)

	// An invalid policy is refused (and counted) and v2 stays in force.
	require.NoError(t, os.WriteFile(policyPath+".tmp", []byte("version: v3\ndefault_rate: 7\n"), 0o600))
	require.NoError(t, os.Rename(policyPath+".tmp", policyPath))
	require.Eventually(t, func() bool {
		m, err := harness.Scrape(context.Background(), nil, sieve.TelemetryURL)
		return err == nil && m.Sum("otelcol_sampling_policy_refused") > 0
	}, 10*time.Second, 50*time.Millisecond, "the invalid policy must be refused and counted")
	send("svc-a", "three")
	expectKept("svc-a", "three", 0.5)
}
