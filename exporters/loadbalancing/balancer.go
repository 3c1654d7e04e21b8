package loadbalancing

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/sieveobs/sieve/exporters/loadbalancing/internal/metadata"
)

// Contrib's DNS resolver defaults, and the port contrib adds to an endpoint without one.
const (
	defaultDNSInterval = 5 * time.Second
	defaultDNSTimeout  = time.Second
	defaultPort        = "4317"
)

// endpointExporter is the OTLP exporter of one endpoint. inflight lets a removed endpoint finish
// the batches already routed to it before it is shut down.
type endpointExporter[T component.Component] struct {
	exp          T
	endpoint     string
	inflight     sync.WaitGroup
	endpointAttr metric.MeasurementOption
	successAttr  metric.MeasurementOption
	failureAttr  metric.MeasurementOption
}

// balancer keeps one exporter per resolved endpoint and the ring over the endpoint list, both
// built exactly as contrib's loadBalancer builds them, so that a key maps to the same endpoint.
type balancer[T component.Component] struct {
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder

	// resolve returns the endpoint list sorted, as contrib's static and dns resolvers return it.
	resolve      func(context.Context) ([]string, error)
	resolverAttr attribute.KeyValue
	// interval 0: resolved once at start (static).
	interval, timeout time.Duration
	// newTicker is time.NewTicker; tests inject their own ticks.
	newTicker   func(time.Duration) (<-chan time.Time, func())
	newExporter func(ctx context.Context, endpoint string) (T, error)

	refreshMu sync.Mutex // one refresh at a time, so lists are applied in the order resolved

	mu        sync.RWMutex
	host      component.Host
	stopped   bool
	resolved  []string
	ring      *ring
	exporters map[string]*endpointExporter[T] // by endpoint with port, as contrib keys them
	live      []*endpointExporter[T]          // the same, sorted: records without a trace ID are spread over it

	retired  sync.WaitGroup // shutdowns of removed endpoints' exporters
	stop     chan struct{}
	stopOnce sync.Once
	loop     sync.WaitGroup
}

func newBalancer[T component.Component](set exporter.Settings, c *Config, tb *metadata.TelemetryBuilder,
	newExporter func(context.Context, string) (T, error),
) (*balancer[T], error) {
	b := &balancer[T]{
		logger:      set.Logger,
		telemetry:   tb,
		newExporter: newExporter,
		newTicker: func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		},
		exporters: map[string]*endpointExporter[T]{},
		stop:      make(chan struct{}),
	}
	r := c.Resolver
	switch {
	case r.K8sSvc.HasValue():
		return nil, errors.New("resolver.k8s: not supported with routing_key traceID (Sieve routes spans and logs by trace ID itself and has only the static and dns resolvers); use resolver.dns on a headless Service")
	case r.AWSCloudMap.HasValue():
		return nil, errors.New("resolver.aws_cloud_map: not supported with routing_key traceID (Sieve routes spans and logs by trace ID itself and has only the static and dns resolvers)")
	case r.Static.HasValue() && r.DNS.HasValue():
		return nil, errors.New("resolver: only one of static, dns may be set")
	case r.Static.HasValue():
		hosts := slices.Clone(r.Static.Get().Hostnames)
		if len(hosts) == 0 {
			return nil, errors.New("resolver.static.hostnames: at least one endpoint is required")
		}
		sort.Strings(hosts)
		b.resolverAttr = attribute.String("resolver", "static")
		b.resolve = func(context.Context) ([]string, error) { return hosts, nil }
	case r.DNS.HasValue():
		d := r.DNS.Get()
		if d.Hostname == "" {
			return nil, errors.New("resolver.dns.hostname: required")
		}
		b.resolverAttr = attribute.String("resolver", "dns")
		b.resolve = dnsResolve(net.DefaultResolver.LookupIPAddr, d.Hostname, d.Port)
		b.interval, b.timeout = d.Interval, d.Timeout
		if b.interval <= 0 {
			b.interval = defaultDNSInterval
		}
		if b.timeout <= 0 {
			b.timeout = defaultDNSTimeout
		}
	default:
		return nil, errors.New("resolver: one of static, dns is required")
	}
	return b, nil
}

// dnsResolve formats addresses as contrib's dns resolver does ("ip:port", "[ipv6]:port", port
// left out when unset), sorted.
func dnsResolve(lookup func(context.Context, string) ([]net.IPAddr, error), host, port string) func(context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		addrs, err := lookup(ctx, host)
		if err != nil {
			return nil, err
		}
		out := make([]string, len(addrs))
		for i, a := range addrs {
			ep := a.String()
			if a.IP.To4() == nil {
				ep = "[" + ep + "]"
			}
			if port != "" {
				ep += ":" + port
			}
			out[i] = ep
		}
		sort.Strings(out)
		return out, nil
	}
}

func endpointWithPort(ep string) string {
	if !strings.Contains(ep, ":") {
		return ep + ":" + defaultPort
	}
	return ep
}

func (b *balancer[T]) start(ctx context.Context, host component.Host) error {
	b.mu.Lock()
	b.host = host
	b.mu.Unlock()
	if b.interval == 0 {
		return b.refresh(ctx)
	}
	// A failed first lookup is not fatal: the gateways' name may resolve a moment later.
	rctx, cancel := context.WithTimeout(ctx, b.timeout)
	if err := b.refresh(rctx); err != nil {
		b.logger.Warn("failed to resolve the endpoints", zap.Error(err))
	}
	cancel()
	tick, stopTick := b.newTicker(b.interval)
	b.loop.Add(1)
	go func() {
		defer b.loop.Done()
		defer stopTick()
		for {
			select {
			case <-tick:
				rctx, cancel := context.WithTimeout(context.Background(), b.timeout)
				if err := b.refresh(rctx); err != nil {
					b.logger.Warn("failed to resolve the endpoints", zap.Error(err))
				}
				cancel()
			case <-b.stop:
				return
			}
		}
	}()
	return nil
}

// refresh resolves the endpoints and applies the list: a new ring, exporters for new endpoints
// (and for those whose exporter failed to start last time), removed endpoints shut down once
// their in-flight batches are done. A failed lookup keeps the current endpoints.
func (b *balancer[T]) refresh(ctx context.Context) error {
	b.refreshMu.Lock()
	defer b.refreshMu.Unlock()
	endpoints, err := b.resolve(ctx)
	if err != nil {
		b.telemetry.LoadbalancerNumResolutions.Add(ctx, 1, metric.WithAttributes(b.resolverAttr, attribute.Bool("success", false)))
		return err
	}
	b.telemetry.LoadbalancerNumResolutions.Add(ctx, 1, metric.WithAttributes(b.resolverAttr, attribute.Bool("success", true)))

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return nil
	}
	if b.ring == nil || !slices.Equal(endpoints, b.resolved) {
		b.resolved, b.ring = endpoints, newRing(endpoints)
		b.telemetry.LoadbalancerNumBackends.Record(ctx, int64(len(endpoints)), metric.WithAttributes(b.resolverAttr))
		b.telemetry.LoadbalancerNumBackendUpdates.Add(ctx, 1, metric.WithAttributes(b.resolverAttr))
	}
	want := make(map[string]bool, len(endpoints))
	for _, ep := range endpoints {
		ep = endpointWithPort(ep)
		want[ep] = true
		if b.exporters[ep] != nil {
			continue
		}
		exp, err := b.newExporter(context.Background(), ep)
		if err == nil {
			err = exp.Start(context.Background(), b.host)
		}
		if err != nil {
			b.logger.Error("failed to create the exporter of an endpoint", zap.String("endpoint", ep), zap.Error(err))
			continue
		}
		b.exporters[ep] = newEndpointExporter(exp, ep)
	}
	for ep, exp := range b.exporters {
		if want[ep] {
			continue
		}
		delete(b.exporters, ep)
		b.retired.Go(func() {
			exp.inflight.Wait()
			if err := exp.exp.Shutdown(context.Background()); err != nil {
				b.logger.Warn("failed to shut down the exporter of a removed endpoint", zap.String("endpoint", ep), zap.Error(err))
			}
		})
	}
	b.live = b.live[:0]
	for _, exp := range b.exporters {
		b.live = append(b.live, exp)
	}
	sort.Slice(b.live, func(i, j int) bool { return b.live[i].endpoint < b.live[j].endpoint })
	return nil
}

func newEndpointExporter[T component.Component](exp T, ep string) *endpointExporter[T] {
	a := attribute.String("endpoint", ep)
	return &endpointExporter[T]{
		exp:          exp,
		endpoint:     ep,
		endpointAttr: metric.WithAttributeSet(attribute.NewSet(a)),
		successAttr:  metric.WithAttributeSet(attribute.NewSet(a, attribute.Bool("success", true))),
		failureAttr:  metric.WithAttributeSet(attribute.NewSet(a, attribute.Bool("success", false))),
	}
}

// shutdown works without start, and waits for the batches in flight before shutting each
// endpoint's exporter down.
func (b *balancer[T]) shutdown(ctx context.Context) error {
	b.stopOnce.Do(func() { close(b.stop) })
	b.loop.Wait()
	b.refreshMu.Lock()
	defer b.refreshMu.Unlock()
	b.mu.Lock()
	b.stopped = true
	exps := b.exporters
	b.exporters, b.live, b.ring = map[string]*endpointExporter[T]{}, nil, nil
	b.mu.Unlock()
	var errs []error
	for ep, exp := range exps {
		exp.inflight.Wait()
		if err := exp.exp.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("endpoint %s: %w", ep, err))
		}
	}
	b.retired.Wait()
	return errors.Join(errs...)
}

// endpoints is the exporters' endpoints, sorted (tests).
func (b *balancer[T]) endpoints() []string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]string, len(b.live))
	for i, e := range b.live {
		out[i] = e.endpoint
	}
	return out
}
