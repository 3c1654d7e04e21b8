package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Config describes one load run.
type Config struct {
	// Signal is the telemetry type sent.
	Signal Signal
	// Protocol is "grpc" or "http".
	Protocol string
	// Endpoint is host:port of the collector's OTLP receiver for the protocol.
	Endpoint string
	// Rate is the target in items per second; 0 sends as fast as the collector accepts with
	// Concurrency requests in flight (closed loop).
	Rate float64
	// Concurrency is the number of senders. In fixed-rate mode it bounds the requests in flight.
	Concurrency int
	// Duration stops the run; 0 runs until MaxRequests or the context ends.
	Duration time.Duration
	// MaxRequests stops the run after this many requests; 0 means no limit.
	MaxRequests uint64
	// FirstSeq is the send number of the first request, so runs against the same sink do not
	// reuse IDs.
	FirstSeq uint64
	// Timeout bounds one export call.
	Timeout time.Duration
	// Data shapes the generated telemetry.
	Data DataConfig
	// OnResult, when set, is called after every request with its outcome, so a caller can
	// record exactly which items were acknowledged (Template.ItemIDs(seq) lists them). It is
	// called concurrently from the senders and must be cheap.
	OnResult func(Result)
}

// Result is the outcome of one request.
type Result struct {
	// Seq is the send number the request was rendered with.
	Seq uint64
	// Template is the request's template; Template.ItemIDs(Seq) are its items.
	Template *Template
	// Err is nil when the collector acknowledged the request.
	Err error
}

// Stats is a snapshot of what a generator sent. Items count per class.
type Stats struct {
	Requests       uint64
	FailedRequests uint64
	SentItems      map[Class]uint64
	AckedItems     map[Class]uint64
	SentBytes      uint64
	LastError      string
	Elapsed        time.Duration
}

// Sent is the total of items sent, Acked of items the collector acknowledged.
func (s Stats) Sent() uint64  { return sum(s.SentItems) }
func (s Stats) Acked() uint64 { return sum(s.AckedItems) }

func sum(m map[Class]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

// Generator sends pre-encoded requests to one OTLP endpoint.
type Generator struct {
	cfg       Config
	templates []*Template
	send      func(ctx context.Context, body []byte) error
	close     func()

	seq      atomic.Uint64
	requests atomic.Uint64
	failed   atomic.Uint64
	bytes    atomic.Uint64
	sent     [256]atomic.Uint64
	acked    [256]atomic.Uint64
	lastErr  atomic.Value
	start    time.Time
	elapsed  atomic.Int64
}

// New encodes the templates and connects to the endpoint.
func New(cfg Config) (*Generator, error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	templates, err := BuildTemplates(cfg.Signal, cfg.Data)
	if err != nil {
		return nil, err
	}
	g := &Generator{cfg: cfg, templates: templates}
	switch cfg.Protocol {
	case "grpc", "":
		if err := g.dialGRPC(); err != nil {
			return nil, err
		}
	case "http":
		g.setupHTTP()
	default:
		return nil, fmt.Errorf("unknown protocol %q (grpc or http)", cfg.Protocol)
	}
	return g, nil
}

// Templates exposes the encoded requests, e.g. to size a run.
func (g *Generator) Templates() []*Template { return g.templates }

// Close releases the connection.
func (g *Generator) Close() { g.close() }

// Run sends until the duration passes, MaxRequests were sent or ctx ends. It may be called
// again to continue with fresh IDs.
func (g *Generator) Run(ctx context.Context) {
	if g.cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.cfg.Duration)
		defer cancel()
	}
	g.start = time.Now()
	first := g.seq.Load()
	var interval time.Duration
	if g.cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(g.cfg.Data.withDefaults().BatchSize) / g.cfg.Rate)
	}
	var wg sync.WaitGroup
	for w := 0; w < g.cfg.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for ctx.Err() == nil {
				n := g.seq.Add(1) - 1
				if g.cfg.MaxRequests > 0 && n >= g.cfg.MaxRequests {
					return
				}
				if interval > 0 {
					due := g.start.Add(time.Duration(n-first) * interval)
					if d := time.Until(due); d > 0 {
						t := time.NewTimer(d)
						select {
						case <-ctx.Done():
							t.Stop()
							return
						case <-t.C:
						}
					}
				}
				t := g.templates[n%uint64(len(g.templates))]
				buf = t.Render(buf, g.cfg.FirstSeq+n)
				err := g.account(ctx, t, buf)
				if g.cfg.OnResult != nil {
					g.cfg.OnResult(Result{Seq: g.cfg.FirstSeq + n, Template: t, Err: err})
				}
			}
		}()
	}
	wg.Wait()
	g.elapsed.Add(int64(time.Since(g.start)))
}

func (g *Generator) account(ctx context.Context, t *Template, body []byte) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.Timeout)
	err := g.send(cctx, body)
	cancel()
	g.requests.Add(1)
	g.bytes.Add(uint64(len(body)))
	for c, n := range t.PerClass {
		g.sent[c].Add(uint64(n))
		if err == nil {
			g.acked[c].Add(uint64(n))
		}
	}
	if err != nil {
		g.failed.Add(1)
		g.lastErr.Store(err.Error())
	}
	return err
}

// Stats returns what was sent so far.
func (g *Generator) Stats() Stats {
	s := Stats{
		Requests:       g.requests.Load(),
		FailedRequests: g.failed.Load(),
		SentBytes:      g.bytes.Load(),
		SentItems:      map[Class]uint64{},
		AckedItems:     map[Class]uint64{},
		Elapsed:        time.Duration(g.elapsed.Load()),
	}
	if v, ok := g.lastErr.Load().(string); ok {
		s.LastError = v
	}
	for _, c := range Classes {
		if n := g.sent[c].Load(); n > 0 {
			s.SentItems[c] = n
		}
		if n := g.acked[c].Load(); n > 0 {
			s.AckedItems[c] = n
		}
	}
	return s
}

// NextSeq is the send number the next request would use; pass it as FirstSeq of a later run
// against the same sink.
func (g *Generator) NextSeq() uint64 { return g.cfg.FirstSeq + g.seq.Load() }

var grpcMethods = map[Signal]string{
	Logs:    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
	Traces:  "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
	Metrics: "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
}

var httpPaths = map[Signal]string{Logs: "/v1/logs", Traces: "/v1/traces", Metrics: "/v1/metrics"}

// rawCodec sends already-encoded protobuf bytes and discards the response body: the OTLP
// Export response carries nothing the counts need.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	if b, ok := v.(*[]byte); ok {
		return *b, nil
	}
	return nil, fmt.Errorf("rawCodec: unexpected %T", v)
}
func (rawCodec) Unmarshal([]byte, any) error { return nil }
func (rawCodec) Name() string                { return "proto" }

func (g *Generator) dialGRPC() error {
	conn, err := grpc.NewClient(g.cfg.Endpoint,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{}), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		return err
	}
	method := grpcMethods[g.cfg.Signal]
	g.send = func(ctx context.Context, body []byte) error {
		var resp []byte
		return conn.Invoke(ctx, method, &body, &resp)
	}
	g.close = func() { conn.Close() }
	return nil
}

func (g *Generator) setupHTTP() {
	tr := &http.Transport{MaxIdleConns: g.cfg.Concurrency * 2, MaxIdleConnsPerHost: g.cfg.Concurrency * 2, IdleConnTimeout: time.Minute}
	client := &http.Client{Transport: tr}
	url := g.cfg.Endpoint
	if !strings.HasPrefix(url, "http") {
		url = "http://" + url
	}
	url += httpPaths[g.cfg.Signal]
	g.send = func(ctx context.Context, body []byte) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-protobuf")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return errors.New(resp.Status)
		}
		return nil
	}
	g.close = tr.CloseIdleConnections
}
