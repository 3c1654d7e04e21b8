package loadbalancing

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/sieveobs/sieve/exporters/loadbalancing/internal/metadata"
)

// fakeDNS answers lookups from a list tests change, and reports each lookup.
type fakeDNS struct {
	mu     sync.Mutex
	addrs  []string
	err    error
	lookup chan struct{}
}

func (f *fakeDNS) set(addrs []string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addrs, f.err = addrs, err
}

func (f *fakeDNS) LookupIPAddr(_ context.Context, _ string) ([]net.IPAddr, error) {
	f.mu.Lock()
	defer func() {
		f.mu.Unlock()
		if f.lookup != nil {
			f.lookup <- struct{}{}
		}
	}()
	if f.err != nil {
		return nil, f.err
	}
	var out []net.IPAddr
	for _, a := range f.addrs {
		out = append(out, net.IPAddr{IP: netip.MustParseAddr(a).AsSlice()})
	}
	return out, nil
}

// newDNSLogs is Sieve's logs exporter on a DNS resolver whose lookups fakeDNS answers; each
// "address" is a real backend, all on 127.0.0.x with one port.
func newDNSLogs(t *testing.T, port string, dns *fakeDNS) *logsExporter {
	t.Helper()
	cfg := testConfig(t, map[string]any{
		"routing_key": "traceID",
		"protocol":    map[string]any{"otlp": syncOTLP()},
		"resolver":    map[string]any{"dns": map[string]any{"hostname": "gateways.test", "port": port}},
	})
	e, err := newLogsExporter(exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	e.lb.resolve = dnsResolve(dns.LookupIPAddr, "gateways.test", port)
	return e
}

// sameportBackends starts n backends on 127.0.0.2, 127.0.0.3, ... sharing one port, as a pool
// behind one DNS name is.
func samePortBackends(t *testing.T, n int) ([]*backend, string) {
	t.Helper()
	first := startBackend(t)
	_, port, err := net.SplitHostPort(first.addr)
	require.NoError(t, err)
	first.srv.Stop()
	out := make([]*backend, n)
	for i := range n {
		out[i] = startBackendAt(t, net.JoinHostPort(netip.AddrFrom4([4]byte{127, 0, 0, byte(i + 2)}).String(), port))
	}
	return out, port
}

func traceLogs(ids ...pcommon.TraceID) plog.Logs {
	ld := plog.NewLogs()
	recs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for _, id := range ids {
		r := recs.AppendEmpty()
		r.SetTraceID(id)
	}
	return ld
}

func randomIDs(n int) []pcommon.TraceID {
	ids := make([]pcommon.TraceID, n)
	for i := range ids {
		ids[i] = pcommon.TraceID([16]byte{byte(i), byte(i >> 8), 7, 3, byte(i * 31), 9})
	}
	return ids
}

func TestDNSEndpointsAddedAndRemoved(t *testing.T) {
	bs, port := samePortBackends(t, 3)
	dns := &fakeDNS{}
	dns.set([]string{"127.0.0.2"}, nil)
	e := newDNSLogs(t, port, dns)
	ctx := context.Background()
	require.NoError(t, e.lb.start(ctx, componenttest.NewNopHost()))
	defer func() { require.NoError(t, e.shutdown(ctx)) }()
	require.Equal(t, []string{"127.0.0.2:" + port}, e.lb.endpoints())

	ids := randomIDs(60)
	require.NoError(t, e.consume(ctx, traceLogs(ids...)))
	require.Equal(t, 60, bs[0].logCount())

	// Two more gateways: traces spread over the three, each to the endpoint of its ring point.
	dns.set([]string{"127.0.0.4", "127.0.0.2", "127.0.0.3"}, nil)
	require.NoError(t, e.lb.refresh(ctx))
	require.Equal(t, []string{"127.0.0.2:" + port, "127.0.0.3:" + port, "127.0.0.4:" + port}, e.lb.endpoints())
	require.NoError(t, e.consume(ctx, traceLogs(ids...)))
	r := newRing([]string{"127.0.0.2:" + port, "127.0.0.3:" + port, "127.0.0.4:" + port})
	for _, id := range ids {
		want := r.endpointFor(id[:])
		for _, b := range bs {
			got := b.logs[id]
			if b.addr == want {
				require.GreaterOrEqual(t, got, 1, "trace %s on %s", id, want)
			} else if b != bs[0] {
				require.Zero(t, got, "trace %s on %s, want %s", id, b.addr, want)
			}
		}
	}
	require.Positive(t, bs[1].logCount()+bs[2].logCount())

	// A failed lookup keeps the endpoints.
	dns.set(nil, errors.New("SERVFAIL"))
	require.Error(t, e.lb.refresh(ctx))
	require.Len(t, e.lb.endpoints(), 3)

	// One gateway gone: its exporter is shut down, nothing goes there any more.
	dns.set([]string{"127.0.0.2", "127.0.0.4"}, nil)
	require.NoError(t, e.lb.refresh(ctx))
	require.Equal(t, []string{"127.0.0.2:" + port, "127.0.0.4:" + port}, e.lb.endpoints())
	before := bs[1].logCount()
	require.NoError(t, e.consume(ctx, traceLogs(ids...)))
	require.Equal(t, before, bs[1].logCount())
}

// TestDNSPeriodicRefresh drives the resolver's loop with injected ticks: no sleeps.
func TestDNSPeriodicRefresh(t *testing.T) {
	bs, port := samePortBackends(t, 2)
	_ = bs
	dns := &fakeDNS{lookup: make(chan struct{})}
	dns.set([]string{"127.0.0.2"}, nil)
	e := newDNSLogs(t, port, dns)
	ticks := make(chan time.Time)
	var interval time.Duration
	e.lb.newTicker = func(d time.Duration) (<-chan time.Time, func()) { interval = d; return ticks, func() {} }
	require.Equal(t, defaultDNSTimeout, e.lb.timeout)

	ctx := context.Background()
	go func() { <-dns.lookup }() // the lookup at start
	require.NoError(t, e.lb.start(ctx, componenttest.NewNopHost()))
	require.Equal(t, defaultDNSInterval, interval)
	require.Equal(t, []string{"127.0.0.2:" + port}, e.lb.endpoints())

	dns.set([]string{"127.0.0.2", "127.0.0.3"}, nil)
	ticks <- time.Now()
	<-dns.lookup
	// The list is applied under the balancer's lock after the lookup; the next tick is taken
	// only once that refresh is done.
	go func() { <-dns.lookup }()
	ticks <- time.Now()
	require.Equal(t, []string{"127.0.0.2:" + port, "127.0.0.3:" + port}, e.lb.endpoints())
	require.NoError(t, e.shutdown(ctx))
}

// TestPartialFailure: one endpoint down fails the batch, with only that endpoint's records to
// retry; the others were delivered.
func TestPartialFailure(t *testing.T) {
	bs := []*backend{startBackend(t), startBackend(t), startBackend(t)}
	var hosts []any
	for _, b := range bs {
		hosts = append(hosts, b.addr)
	}
	cfg := testConfig(t, map[string]any{
		"routing_key": "traceID",
		"protocol":    map[string]any{"otlp": syncOTLP()},
		"resolver":    map[string]any{"static": map[string]any{"hostnames": hosts}},
	})
	e, err := newLogsExporter(exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, e.lb.start(ctx, componenttest.NewNopHost()))
	defer func() { require.NoError(t, e.shutdown(ctx)) }()

	down := bs[1]
	down.srv.Stop()
	ids := randomIDs(90)
	err = e.consume(ctx, traceLogs(ids...))
	require.Error(t, err)
	require.False(t, consumererror.IsPermanent(err), "an endpoint down is retryable")
	require.Contains(t, err.Error(), down.addr)
	var part consumererror.Logs
	require.ErrorAs(t, err, &part)

	r := newRing(e.lb.resolved)
	wantRetry := 0
	for _, id := range ids {
		if r.endpointFor(id[:]) == down.addr {
			wantRetry++
		}
	}
	require.Positive(t, wantRetry)
	require.Equal(t, wantRetry, part.Data().LogRecordCount(), "only the records of the endpoint down are retried")
	require.Equal(t, len(ids)-wantRetry, bs[0].logCount()+bs[2].logCount())
}

func TestShutdownWithoutStart(t *testing.T) {
	for name, resolver := range map[string]map[string]any{
		"static": {"static": map[string]any{"hostnames": []any{"127.0.0.1:1"}}},
		"dns":    {"dns": map[string]any{"hostname": "gateways.test"}},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t, map[string]any{"routing_key": "traceID", "resolver": resolver})
			exp, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
			require.NoError(t, err)
			require.NoError(t, exp.Shutdown(context.Background()))
		})
	}
}

func TestNoEndpointIsRetryable(t *testing.T) {
	dns := &fakeDNS{}
	dns.set(nil, errors.New("NXDOMAIN"))
	e := newDNSLogs(t, "4317", dns)
	ctx := context.Background()
	require.NoError(t, e.lb.start(ctx, componenttest.NewNopHost()), "a failed first lookup does not fail the start")
	defer func() { require.NoError(t, e.shutdown(ctx)) }()
	err := e.consume(ctx, traceLogs(randomIDs(1)...))
	require.ErrorIs(t, err, errNoEndpoints)
	require.False(t, consumererror.IsPermanent(err))
}

func TestUnsupportedResolversForTraceIDLogs(t *testing.T) {
	for key, resolver := range map[string]map[string]any{
		"resolver.k8s":           {"k8s": map[string]any{"service": "gateways.ns"}},
		"resolver.aws_cloud_map": {"aws_cloud_map": map[string]any{"namespace": "n", "service_name": "s"}},
	} {
		t.Run(key, func(t *testing.T) {
			cfg := testConfig(t, map[string]any{"routing_key": "traceID", "resolver": resolver})
			_, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
			require.ErrorContains(t, err, key)
		})
	}
}

// TestOtherRoutingKeysAreContribs: logs routed by anything but traceID, including an unset
// routing_key (contrib's default for logs is service), are contrib's exporter.
func TestOtherRoutingKeysAreContribs(t *testing.T) {
	for _, key := range []string{"", "service", "resource"} {
		cfg := testConfig(t, map[string]any{
			"routing_key": key,
			"resolver":    map[string]any{"k8s": map[string]any{"service": "gateways.ns"}},
		})
		// k8s is refused only on Sieve's path: accepted here means contrib built it.
		exp, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
		require.NoError(t, err, "routing_key %q", key)
		require.NoError(t, exp.Shutdown(context.Background()))
	}
}

// TestLifecycleThroughFactory: Sieve's path as the collector runs it, exporterhelper included.
func TestLifecycleThroughFactory(t *testing.T) {
	b := startBackend(t)
	cfg := testConfig(t, map[string]any{
		"routing_key":      "traceID",
		"timeout":          "5s",
		"retry_on_failure": map[string]any{"enabled": true},
		"protocol":         map[string]any{"otlp": syncOTLP()},
		"resolver":         map[string]any{"static": map[string]any{"hostnames": []any{b.addr}}},
	})
	ctx := context.Background()
	exp, err := NewFactory().CreateLogs(ctx, exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(ctx, componenttest.NewNopHost()))
	ld := traceLogs(randomIDs(5)...)
	ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().AppendEmpty() // no trace ID
	ld.MarkReadOnly()
	require.NoError(t, exp.ConsumeLogs(ctx, ld))
	require.NoError(t, exp.Shutdown(ctx))
	require.Equal(t, 6, b.logCount())
}

// BenchmarkRoute: splitting a batch of 1000 records of 100 traces over three endpoints.
func BenchmarkRoute(b *testing.B) {
	lb := &balancer[exporter.Logs]{exporters: map[string]*endpointExporter[exporter.Logs]{}}
	eps := []string{"10.0.0.1:4317", "10.0.0.2:4317", "10.0.0.3:4317"}
	lb.ring = newRing(eps)
	for _, ep := range eps {
		exp := newEndpointExporter[exporter.Logs](nil, ep)
		lb.exporters[ep] = exp
		lb.live = append(lb.live, exp)
	}
	e := &logsExporter{lb: lb}
	ids := randomIDs(100)
	all := make([]pcommon.TraceID, 0, 1000)
	for range 10 {
		all = append(all, ids...)
	}
	ld := traceLogs(all...)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		parts, err := e.route(ld)
		if err != nil {
			b.Fatal(err)
		}
		for exp := range parts {
			exp.inflight.Done()
		}
	}
}
