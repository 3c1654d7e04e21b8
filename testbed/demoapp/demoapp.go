// Package demoapp simulates a small shop of Go services the way they really emit telemetry: each
// service logs with zap through the OpenTelemetry otelzap bridge, traces with the OpenTelemetry
// Go SDK and records request metrics with the SDK's meter, all exported over OTLP/gRPC.
package demoapp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/bridges/otelzap"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Config sets the traffic.
type Config struct {
	// Endpoint is the OTLP/gRPC address of the collector (host:port, plaintext).
	Endpoint string
	// Rate is the number of front-door requests per second across all services.
	Rate float64
	// MetricInterval is how often the SDKs export metrics.
	MetricInterval time.Duration
}

// Levels counted by Stats, in zap's names.
var Levels = []string{"debug", "info", "warn", "error"}

// Stats counts what the services emitted.
type Stats struct {
	Requests atomic.Int64
	Spans    atomic.Int64
	mu       sync.Mutex
	logs     map[string]map[string]int64 // [service][level]
	noUID    map[string]map[string]int64 // records sent without a uid field
}

func (s *Stats) addLog(service, level string, hasUID bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	count(&s.logs, service, level)
	if !hasUID {
		count(&s.noUID, service, level)
	}
}

func count(m *map[string]map[string]int64, service, level string) {
	if *m == nil {
		*m = map[string]map[string]int64{}
	}
	if (*m)[service] == nil {
		(*m)[service] = map[string]int64{}
	}
	(*m)[service][level]++
}

// Logs returns a copy of the log counts per service and level.
func (s *Stats) Logs() map[string]map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return copyCounts(s.logs)
}

// LogsWithoutUID returns a copy of the counts of records sent without a uid, per service and level.
func (s *Stats) LogsWithoutUID() map[string]map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return copyCounts(s.noUID)
}

func copyCounts(in map[string]map[string]int64) map[string]map[string]int64 {
	out := make(map[string]map[string]int64, len(in))
	for svc, m := range in {
		out[svc] = map[string]int64{}
		for l, n := range m {
			out[svc][l] = n
		}
	}
	return out
}

// LogTotal is the number of log records emitted.
func (s *Stats) LogTotal() int64 {
	var n int64
	for _, m := range s.Logs() {
		for _, c := range m {
			n += c
		}
	}
	return n
}

// service is one simulated service with its own SDK providers, as a separate process would have.
type service struct {
	name    string
	log     *zap.Logger
	tracer  trace.Tracer
	latency metric.Float64Histogram
	reqs    metric.Int64Counter
	median  float64 // seconds
	errRate float64
	stats   *Stats

	shutdown []func(context.Context) error
}

// Services is the simulated call graph: frontend calls checkout or catalog; checkout calls payment.
var Services = []string{"frontend", "checkout", "payment", "catalog"}

var (
	regions = []string{"eu-west", "us-east", "ap-south"}
	routes  = map[string][]string{
		"frontend": {"GET /", "GET /product", "POST /cart"},
		"checkout": {"POST /checkout"},
		"payment":  {"POST /charge"},
		"catalog":  {"GET /items", "GET /items/{id}"},
	}
)

func newService(ctx context.Context, name string, cfg Config, stats *Stats, median, errRate float64) (*service, error) {
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", name),
		attribute.String("service.version", "1.4.2"),
		attribute.String("service.instance.id", name+"-0"),
		attribute.String("deployment.environment", "demo"),
	))
	if err != nil {
		return nil, err
	}
	s := &service{name: name, stats: stats, median: median, errRate: errRate}

	te, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(cfg.Endpoint), otlptracegrpc.WithInsecure())
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(te))
	s.tracer = tp.Tracer("shop/" + name)

	le, err := otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(cfg.Endpoint), otlploggrpc.WithInsecure())
	if err != nil {
		return nil, err
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewBatchProcessor(le)))
	s.log = zap.New(otelzap.NewCore("shop/"+name, otelzap.WithLoggerProvider(lp)), zap.IncreaseLevel(zapcore.DebugLevel))

	me, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(cfg.Endpoint), otlpmetricgrpc.WithInsecure())
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(me, sdkmetric.WithInterval(cfg.MetricInterval))),
		// Latency as an exponential histogram: it becomes a Prometheus native histogram.
		sdkmetric.WithView(sdkmetric.NewView(
			sdkmetric.Instrument{Name: "http.server.request.duration"},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: 160, MaxScale: 20}},
		)))
	meter := mp.Meter("shop/" + name)
	if s.latency, err = meter.Float64Histogram("http.server.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP server requests.")); err != nil {
		return nil, err
	}
	if s.reqs, err = meter.Int64Counter("http.server.requests", metric.WithUnit("{request}"),
		metric.WithDescription("HTTP server requests handled.")); err != nil {
		return nil, err
	}
	s.shutdown = []func(context.Context) error{tp.Shutdown, lp.Shutdown, mp.Shutdown}
	return s, nil
}

// handle serves one request that starts at start, calling downstream services, and returns its
// status code and duration. Time is simulated: spans carry the timestamps a real request would
// have, so latency histograms built from them are meaningful without the demo sleeping.
func (s *service) handle(ctx context.Context, start time.Time, rng *rand.Rand, shop map[string]*service, uid, region string) (int, time.Duration) {
	route := routes[s.name][rng.IntN(len(routes[s.name]))]
	ctx, span := s.tracer.Start(ctx, route, trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start))
	s.stats.Spans.Add(1)

	// Lognormal latency with a slow tail; the downstream calls add their own time.
	own := s.median * math.Exp(0.6*rng.NormFloat64())
	elapsed := time.Duration(own / 2 * float64(time.Second))
	status := 200
	switch p := rng.Float64(); {
	case p < s.errRate:
		status = []int{500, 502, 503}[rng.IntN(3)]
	case p < s.errRate+0.04:
		status = []int{400, 404, 429}[rng.IntN(3)]
	}
	var down []string
	switch s.name {
	case "frontend":
		if route == "POST /cart" {
			down = []string{"checkout"}
		} else {
			down = []string{"catalog"}
		}
	case "checkout":
		down = []string{"payment"}
	}
	for _, d := range down {
		code, took := shop[d].handle(ctx, start.Add(elapsed), rng, shop, uid, region)
		elapsed += took
		if code >= 500 && status < 500 {
			status = 502
		}
	}
	elapsed += time.Duration(own / 2 * float64(time.Second))
	latency := elapsed.Seconds()
	if rng.Float64() < 0.2 {
		s.log.Debug("cache lookup", zap.String("uid", uid), zap.Bool("hit", rng.Float64() < 0.8), zap.Any("ctx", ctx))
		s.stats.addLog(s.name, "debug", true)
	}

	fields := []zap.Field{
		zap.String("uid", uid),
		zap.String("region", region),
		zap.String("http.route", route),
		zap.Int("http.status_code", status),
		zap.Float64("latency_ms", latency*1000),
		zap.Any("ctx", ctx),
	}
	// One request in fifty comes from a job without a user: no uid field.
	hasUID := rng.IntN(50) != 0
	if !hasUID {
		fields = fields[1:]
	}
	switch {
	case status >= 500:
		span.SetStatus(codes.Error, fmt.Sprintf("HTTP %d", status))
		s.log.Error("request failed", fields...)
		s.stats.addLog(s.name, "error", hasUID)
	case status >= 400 || own > 4*s.median:
		s.log.Warn("request degraded", fields...)
		s.stats.addLog(s.name, "warn", hasUID)
	default:
		s.log.Info("request handled", fields...)
		s.stats.addLog(s.name, "info", hasUID)
	}
	span.SetAttributes(attribute.Int("http.response.status_code", status), attribute.String("http.route", route))
	attrs := metric.WithAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", status))
	s.latency.Record(ctx, latency, attrs)
	s.reqs.Add(ctx, 1, attrs)
	span.End(trace.WithTimestamp(start.Add(elapsed)))
	return status, elapsed
}

// Run sends traffic until ctx is done, then flushes every SDK. It returns the first export error
// seen at shutdown.
func Run(ctx context.Context, cfg Config, stats *Stats) error {
	if cfg.Rate <= 0 {
		return errors.New("demoapp: rate must be positive")
	}
	if cfg.MetricInterval == 0 {
		cfg.MetricInterval = 5 * time.Second
	}
	setup, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shop := map[string]*service{}
	medians := map[string]float64{"frontend": 0.012, "checkout": 0.045, "payment": 0.080, "catalog": 0.008}
	errRates := map[string]float64{"frontend": 0.005, "checkout": 0.01, "payment": 0.02, "catalog": 0.002}
	for _, name := range Services {
		s, err := newService(setup, name, cfg, stats, medians[name], errRates[name])
		if err != nil {
			return fmt.Errorf("demoapp: %s: %w", name, err)
		}
		shop[name] = s
	}

	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	tick := time.NewTicker(time.Duration(float64(time.Second) / cfg.Rate))
	defer tick.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
			uid := fmt.Sprintf("u%05d", rng.IntN(20000))
			shop["frontend"].handle(context.Background(), time.Now(), rng, shop, uid, regions[rng.IntN(len(regions))])
			stats.Requests.Add(1)
		}
	}

	flush, cancelFlush := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelFlush()
	var errs []error
	for _, s := range shop {
		_ = s.log.Sync()
		for _, f := range s.shutdown {
			if err := f(flush); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
			}
		}
	}
	return errors.Join(errs...)
}
