package loadgen

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// Signal names a telemetry type.
type Signal string

const (
	Logs    Signal = "logs"
	Traces  Signal = "traces"
	Metrics Signal = "metrics"
)

// DataConfig shapes the generated telemetry. The zero value of a field takes the default of
// DefaultDataConfig.
type DataConfig struct {
	// BatchSize is the number of items per request.
	BatchSize int
	// Templates is the number of distinct requests encoded up front.
	Templates int
	// ResourcesPerRequest splits a logs request into this many resources (one user each).
	ResourcesPerRequest int
	// ErrorRatio is the fraction of log records at error or fatal severity, and the fraction of
	// traces holding an error span.
	ErrorRatio float64
	// WarnRatio is the fraction of log records at warn severity.
	WarnRatio float64
	// Status5xxRatio is the fraction of non-error log records carrying a 5xx http.status_code.
	Status5xxRatio float64
	// MissingUIDRatio is the fraction of log resources without the uid attribute.
	MissingUIDRatio float64
	// Services and Operations size the service.name and span name sets.
	Services, Operations int
	// LatencyMedian and LatencySigma parameterise the lognormal span durations.
	LatencyMedian time.Duration
	LatencySigma  float64
	// Seed makes generation reproducible.
	Seed uint64
	// BaseTime is the timestamp of the first item; zero takes the time the templates are built,
	// so backends that refuse old entries (Loki's max age) accept them.
	BaseTime time.Time
}

// DefaultDataConfig is the mix used by the benchmarks: 1% error, 5% warn, 94% info logs.
func DefaultDataConfig() DataConfig {
	return DataConfig{
		BatchSize:           100,
		Templates:           64,
		ResourcesPerRequest: 5,
		ErrorRatio:          0.01,
		WarnRatio:           0.05,
		Status5xxRatio:      0.002,
		MissingUIDRatio:     0.01,
		Services:            8,
		Operations:          12,
		LatencyMedian:       20 * time.Millisecond,
		LatencySigma:        1.0,
		Seed:                1,
	}
}

func (c DataConfig) withDefaults() DataConfig {
	d := DefaultDataConfig()
	if c.BatchSize > 0 {
		d.BatchSize = c.BatchSize
	}
	if c.Templates > 0 {
		d.Templates = c.Templates
	}
	if c.ResourcesPerRequest > 0 {
		d.ResourcesPerRequest = c.ResourcesPerRequest
	}
	if c.ErrorRatio != 0 {
		d.ErrorRatio = c.ErrorRatio
	}
	if c.WarnRatio != 0 {
		d.WarnRatio = c.WarnRatio
	}
	if c.Status5xxRatio != 0 {
		d.Status5xxRatio = c.Status5xxRatio
	}
	if c.MissingUIDRatio != 0 {
		d.MissingUIDRatio = c.MissingUIDRatio
	}
	if c.Services > 0 {
		d.Services = c.Services
	}
	if c.Operations > 0 {
		d.Operations = c.Operations
	}
	if c.LatencyMedian > 0 {
		d.LatencyMedian = c.LatencyMedian
	}
	if c.LatencySigma > 0 {
		d.LatencySigma = c.LatencySigma
	}
	if c.Seed != 0 {
		d.Seed = c.Seed
	}
	d.BaseTime = c.BaseTime
	if d.BaseTime.IsZero() {
		d.BaseTime = time.Now().Truncate(time.Millisecond)
	}
	// Negative ratios switch a feature off explicitly (zero means "default").
	for _, r := range []*float64{&d.ErrorRatio, &d.WarnRatio, &d.Status5xxRatio, &d.MissingUIDRatio} {
		if *r < 0 {
			*r = 0
		}
	}
	return d
}

// BuildTemplates encodes cfg.Templates distinct requests of the given signal.
func BuildTemplates(sig Signal, cfg DataConfig) ([]*Template, error) {
	cfg = cfg.withDefaults()
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(len(sig))))
	out := make([]*Template, 0, cfg.Templates)
	for i := 0; i < cfg.Templates; i++ {
		var body []byte
		var err error
		switch sig {
		case Logs:
			body, err = plogotlp.NewExportRequestFromLogs(genLogs(cfg, rng)).MarshalProto()
		case Traces:
			body, err = ptraceotlp.NewExportRequestFromTraces(genTraces(cfg, rng)).MarshalProto()
		case Metrics:
			body, err = pmetricotlp.NewExportRequestFromMetrics(genMetrics(cfg, rng)).MarshalProto()
		default:
			return nil, fmt.Errorf("unknown signal %q", sig)
		}
		if err != nil {
			return nil, err
		}
		t, err := newTemplate(body, cfg.BatchSize)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

var (
	regions  = []string{"eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1"}
	methods  = []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	messages = []string{"request completed", "cache miss", "user session refreshed", "payment authorised", "upstream call finished", "query executed"}
)

func serviceName(i int) string   { return fmt.Sprintf("svc-%02d", i) }
func operationName(i int) string { return fmt.Sprintf("/api/v1/op%02d", i) }

func genLogs(cfg DataConfig, rng *rand.Rand) plog.Logs {
	ld := plog.NewLogs()
	perRes := cfg.BatchSize / cfg.ResourcesPerRequest
	item := 0
	for r := 0; r < cfg.ResourcesPerRequest; r++ {
		n := perRes
		if r == cfg.ResourcesPerRequest-1 {
			n = cfg.BatchSize - item
		}
		rl := ld.ResourceLogs().AppendEmpty()
		ra := rl.Resource().Attributes()
		svc := rng.IntN(cfg.Services)
		ra.PutStr("service.name", serviceName(svc))
		ra.PutStr("region", regions[rng.IntN(len(regions))])
		noUID := rng.Float64() < cfg.MissingUIDRatio
		if !noUID {
			ra.PutStr("uid", fmt.Sprintf("u-%06d", rng.IntN(1_000_000)))
		}
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("go.uber.org/zap")
		for j := 0; j < n; j++ {
			lr := sl.LogRecords().AppendEmpty()
			class := fillLogRecord(lr, cfg, rng, noUID, item)
			lr.Attributes().PutStr(IDAttribute, FormatID(class, 0))
			item++
		}
	}
	return ld
}

func fillLogRecord(lr plog.LogRecord, cfg DataConfig, rng *rand.Rand, noUID bool, item int) Class {
	ts := cfg.BaseTime.Add(time.Duration(item) * time.Millisecond)
	lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts))
	status := 200
	switch x := rng.IntN(20); {
	case x == 0:
		status = 404
	case x == 1:
		status = 201
	}
	u := rng.Float64()
	// Records of resources without uid stay plain info so what the pipeline must do with them
	// (drop) is unambiguous.
	var class Class
	switch {
	case noUID:
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("info")
		class = ClassNoUID
	case u < cfg.ErrorRatio:
		if rng.IntN(10) == 0 {
			lr.SetSeverityNumber(plog.SeverityNumberFatal)
			lr.SetSeverityText("fatal")
		} else {
			lr.SetSeverityNumber(plog.SeverityNumberError)
			lr.SetSeverityText("error")
		}
		status = []int{500, 502, 503}[rng.IntN(3)]
		class = ClassKeep
	case rng.Float64() < cfg.Status5xxRatio:
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("info")
		status = 503
		class = ClassKeep
	case u < cfg.ErrorRatio+cfg.WarnRatio:
		lr.SetSeverityNumber(plog.SeverityNumberWarn)
		lr.SetSeverityText("warn")
		class = ClassWarn
	default:
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("info")
		class = ClassInfo
	}
	lr.Body().SetStr(messages[rng.IntN(len(messages))])
	a := lr.Attributes()
	a.PutStr("logger", "http")
	a.PutStr("caller", fmt.Sprintf("server/handler.go:%d", 40+rng.IntN(200)))
	a.PutStr("http.method", methods[rng.IntN(len(methods))])
	a.PutStr("http.route", operationName(rng.IntN(cfg.Operations)))
	a.PutInt("http.status_code", int64(status))
	a.PutDouble("duration_ms", math.Round(lognormalMs(cfg, rng)*1000)/1000)
	lr.SetTraceID(pcommon.TraceID(placeholderTraceID(item)))
	lr.SetSpanID(spanID(item, 0))
	return class
}

func lognormalMs(cfg DataConfig, rng *rand.Rand) float64 {
	med := float64(cfg.LatencyMedian) / float64(time.Millisecond)
	return med * math.Exp(cfg.LatencySigma*rng.NormFloat64())
}

func spanID(trace, span int) pcommon.SpanID {
	var id [8]byte
	binary.BigEndian.PutUint32(id[:4], uint32(trace)+1)
	binary.BigEndian.PutUint32(id[4:], uint32(span)+1)
	return id
}

// MaxSpansPerTrace bounds the spans of a generated trace.
const MaxSpansPerTrace = 6

// genTraces fills a request with whole traces of 1 to MaxSpansPerTrace spans; the last trace is
// cut to keep the request at exactly BatchSize spans.
func genTraces(cfg DataConfig, rng *rand.Rand) ptrace.Traces {
	td := ptrace.NewTraces()
	bySvc := map[int]ptrace.SpanSlice{}
	spanSlice := func(svc int) ptrace.SpanSlice {
		if s, ok := bySvc[svc]; ok {
			return s
		}
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", serviceName(svc))
		rs.Resource().Attributes().PutStr("region", regions[svc%len(regions)])
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("sieve.loadgen")
		bySvc[svc] = ss.Spans()
		return ss.Spans()
	}
	// Spans are added per service, which reorders them in the encoding; IDs are assigned after
	// all spans exist so the j-th ID in the bytes is item j.
	type pending struct {
		span  ptrace.Span
		class Class
	}
	var spans []pending
	for trace := 0; len(spans) < cfg.BatchSize; trace++ {
		n := 1 + rng.IntN(MaxSpansPerTrace)
		if rem := cfg.BatchSize - len(spans); n > rem {
			n = rem
		}
		isErr := rng.Float64() < cfg.ErrorRatio
		class := ClassSampled
		if isErr {
			class = ClassKeep
		}
		start := cfg.BaseTime.Add(time.Duration(trace) * 10 * time.Millisecond)
		rootSvc := rng.IntN(cfg.Services)
		for s := 0; s < n; s++ {
			svc := rootSvc
			if s > 0 {
				svc = rng.IntN(cfg.Services)
			}
			sp := spanSlice(svc).AppendEmpty()
			sp.SetTraceID(pcommon.TraceID(placeholderTraceID(trace)))
			sp.SetSpanID(spanID(trace, s))
			kind := ptrace.SpanKindServer
			if s > 0 {
				sp.SetParentSpanID(spanID(trace, 0))
				kind = ptrace.SpanKindClient
			}
			sp.SetKind(kind)
			sp.SetName(operationName(rng.IntN(cfg.Operations)))
			dur := time.Duration(lognormalMs(cfg, rng) * float64(time.Millisecond))
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(dur)))
			sp.Attributes().PutStr("http.method", methods[rng.IntN(len(methods))])
			code := int64(200)
			if isErr && s == n-1 {
				sp.Status().SetCode(ptrace.StatusCodeError)
				sp.Status().SetMessage("upstream failed")
				code = 500
			} else {
				sp.Status().SetCode(ptrace.StatusCodeUnset)
			}
			sp.Attributes().PutInt("http.status_code", code)
			spans = append(spans, pending{sp, class})
		}
	}
	for _, p := range spans {
		p.span.Attributes().PutStr(IDAttribute, FormatID(p.class, 0))
	}
	return td
}

func genMetrics(cfg DataConfig, rng *rand.Rand) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", serviceName(rng.IntN(cfg.Services)))
	rm.Resource().Attributes().PutStr("region", regions[rng.IntN(len(regions))])
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	ts := pcommon.NewTimestampFromTime(cfg.BaseTime)
	gauge := ms.AppendEmpty()
	gauge.SetName("sieve.loadgen.queue_depth")
	g := gauge.SetEmptyGauge()
	sum := ms.AppendEmpty()
	sum.SetName("sieve.loadgen.requests")
	s := sum.SetEmptySum()
	s.SetIsMonotonic(true)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for i := 0; i < cfg.BatchSize; i++ {
		var dp pmetric.NumberDataPoint
		if i%2 == 0 {
			dp = g.DataPoints().AppendEmpty()
			dp.SetDoubleValue(rng.Float64() * 100)
		} else {
			dp = s.DataPoints().AppendEmpty()
			dp.SetIntValue(int64(rng.IntN(1_000_000)))
		}
		dp.SetTimestamp(ts)
		dp.SetStartTimestamp(ts)
		dp.Attributes().PutStr("http.route", operationName(rng.IntN(cfg.Operations)))
		dp.Attributes().PutStr(IDAttribute, FormatID(ClassPlain, 0))
	}
	return md
}
