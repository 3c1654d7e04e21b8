package samplingpolicy

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/http"
	"reflect"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/sieveobs/sieve/extensions/samplingpolicy/internal/metadata"
	"github.com/sieveobs/sieve/extensions/samplingpolicy/internal/source"
	"github.com/sieveobs/sieve/internal/policy"
	"github.com/sieveobs/sieve/internal/policy/engine"
	"github.com/sieveobs/sieve/internal/policy/policyfile"
)

var (
	_ extension.Extension   = (*policyExtension)(nil)
	_ policy.LogTiersSource = (*policyExtension)(nil)
	_ policy.TraceDecider   = (*policyExtension)(nil)
	_ policy.Prefilters     = (*policyExtension)(nil)
	_ engine.Provider       = (*policyExtension)(nil)
)

var errRefusedAgain = errors.New("policy already refused")

type tierWatcher struct {
	apply func(policy.LogTiers) error
	// tiers is the version this watcher accepted last, so a refused version is not re-offered
	// and a later identical one is not re-sent.
	tiers []policy.LogTier
	seen  bool
}

type policyExtension struct {
	// PrefilterRegistry lends the samplers' decisions to receivers that sample before decoding.
	policy.PrefilterRegistry

	cfg    *Config
	set    extension.Settings
	tb     *metadata.TelemetryBuilder
	engine *engine.Engine
	now    func() time.Time

	// mu serialises applying versions, the adaptive controller and log tier watchers.
	mu       sync.Mutex
	watchers map[int]*tierWatcher
	nextID   int

	src        source.Source
	etcdClient *clientv3.Client
	server     *http.Server
	addr       string
	grpcServer *grpc.Server
	grpcAddr   string
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	failing    map[string]bool
	// lastRefused is the SHA-256 of the last refused document.
	lastRefused [sha256.Size]byte

	reasonAttrs map[string]metric.MeasurementOption
}

func newExtension(set extension.Settings, cfg *Config) (*policyExtension, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	e := &policyExtension{
		cfg:         cfg,
		set:         set,
		tb:          tb,
		now:         time.Now,
		watchers:    map[int]*tierWatcher{},
		failing:     map[string]bool{},
		reasonAttrs: map[string]metric.MeasurementOption{},
	}
	for _, r := range []string{"parse", "invalid", "log_tiers", "fetch", "read", "watch", "deleted"} {
		e.reasonAttrs[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r)))
	}
	rate := cfg.FallbackRate
	e.engine = engine.New(engine.Compile(&policyfile.Document{
		Policy: policyfile.Policy{Version: "fallback", DefaultRate: &rate},
		Format: "fallback",
	}, "config", e.now()))
	if err = tb.RegisterSamplingPolicyActiveHashCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(hashGauge(e.engine.Load().Hash))
		return nil
	}); err != nil {
		return nil, err
	}
	if err = tb.RegisterSamplingPolicyEffectiveRateCallback(func(_ context.Context, o metric.Float64Observer) error {
		e.engine.Load().Entries(func(en *engine.Entry) {
			o.Observe(en.Rate().Probability, metric.WithAttributes(attribute.String("service", en.Name)))
		})
		return nil
	}); err != nil {
		return nil, err
	}
	return e, nil
}

func hashGauge(h string) int64 {
	b, err := hex.DecodeString(h)
	if err != nil || len(b) < 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b[:8]) >> 16)
}

// Engine implements engine.Provider for the trace_sampling processor.
func (e *policyExtension) Engine() *engine.Engine { return e.engine }

// TraceKept implements policy.TraceDecider. It answers with the live rate of the service's rule,
// which the consistent decision makes deterministic per trace ID, and also with the recent traces
// the trace_sampling processor kept for other reasons (error spans, always rules), held in a
// bounded lock-free table, so logs follow every kept trace and not only the probabilistic ones.
func (e *policyExtension) TraceKept(id pcommon.TraceID, service string) bool {
	return e.engine.TraceKept(id, service)
}

// TailActive implements policy.TailDecisions.
func (e *policyExtension) TailActive() bool { return e.engine.TailActive() }

// TraceDecision implements policy.TailDecisions.
func (e *policyExtension) TraceDecision(id pcommon.TraceID) (policy.Decision, bool) {
	return e.engine.TraceDecision(id)
}

// SubscribeDecisions implements policy.TailDecisions.
func (e *policyExtension) SubscribeDecisions(f func([]policy.Decision)) func() {
	return e.engine.SubscribeDecisions(f)
}

// WatchLogTiers implements policy.LogTiersSource.
func (e *policyExtension) WatchLogTiers(apply func(policy.LogTiers) error) func() {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := e.nextID
	e.nextID++
	w := &tierWatcher{apply: apply}
	e.watchers[id] = w
	if cur := e.engine.Load(); len(cur.LogTiers.Tiers) > 0 {
		e.offerTiers(w, cur.LogTiers)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			e.mu.Lock()
			delete(e.watchers, id)
			e.mu.Unlock()
		})
	}
}

// offerTiers hands a version to one watcher; called with mu held.
func (e *policyExtension) offerTiers(w *tierWatcher, lt policy.LogTiers) {
	if w.seen && reflect.DeepEqual(w.tiers, lt.Tiers) {
		return
	}
	if err := w.apply(lt); err != nil {
		e.tb.SamplingPolicyRefused.Add(context.Background(), 1, e.reasonAttrs["log_tiers"])
		e.set.Logger.Warn("Log tiers refused by a consumer; it keeps its previous tiers",
			zap.String("version", lt.Version), zap.Error(err))
		return
	}
	w.tiers, w.seen = lt.Tiers, true
}

// apply parses, validates and installs one document. Documents identical to the live one are
// ignored, which makes watch storms and sources without ETags cheap.
func (e *policyExtension) apply(data []byte, origin string) error {
	start := time.Now()
	sum := sha256.Sum256(data)
	e.mu.Lock()
	again := sum == e.lastRefused
	e.mu.Unlock()
	if again {
		// Sources without ETags re-deliver the same refused document every poll: it was
		// counted and logged once already.
		return errRefusedAgain
	}
	doc, err := policyfile.Parse(data)
	if err != nil {
		e.mu.Lock()
		e.lastRefused = sum
		e.mu.Unlock()
		reason := "invalid"
		if errors.Is(err, policyfile.ErrFormat) {
			reason = "parse"
		}
		e.tb.SamplingPolicyRefused.Add(context.Background(), 1, e.reasonAttrs[reason])
		e.set.Logger.Warn("Sampling policy refused; the previous version stays",
			zap.String("source", origin), zap.String("active_version", e.engine.Load().Version), zap.Error(err))
		return err
	}
	e.mu.Lock()
	if e.engine.Load().Hash == doc.Hash {
		e.mu.Unlock()
		return nil
	}
	snap := engine.Compile(doc, origin, e.now())
	e.engine.Swap(snap)
	e.lastRefused = [sha256.Size]byte{}
	for _, w := range e.watchers {
		e.offerTiers(w, snap.LogTiers)
	}
	e.mu.Unlock()
	e.tb.SamplingPolicyApplyDuration.Record(context.Background(), time.Since(start).Seconds())
	e.tb.SamplingPolicyApplied.Add(context.Background(), 1)
	e.set.Logger.Info("Sampling policy applied",
		zap.String("version", snap.Version), zap.String("hash", snap.Hash[:12]),
		zap.String("format", snap.Format), zap.String("source", origin))
	return nil
}

// tick runs one adaptive window; the clock is the caller's.
func (e *policyExtension) tick(now time.Time) {
	e.mu.Lock()
	e.engine.Load().Tick(now)
	e.mu.Unlock()
}

// sourceError counts every failure but logs only transitions, so a source that is down for an
// hour logs once, not once per poll.
func (e *policyExtension) sourceError(reason string, err error) {
	e.tb.SamplingPolicySourceErrors.Add(context.Background(), 1, e.reasonAttrs[reason])
	e.mu.Lock()
	first := !e.failing[reason]
	e.failing[reason] = true
	e.mu.Unlock()
	if first {
		e.set.Logger.Warn("Sampling policy source failing; the active policy stays",
			zap.String("reason", reason), zap.Error(err))
	}
}

func (e *policyExtension) deliver(name string) func([]byte) {
	return func(data []byte) {
		e.mu.Lock()
		recovered := len(e.failing) > 0
		clear(e.failing)
		e.mu.Unlock()
		if recovered {
			e.set.Logger.Info("Sampling policy source recovered", zap.String("source", name))
		}
		_ = e.apply(data, name)
	}
}

func (e *policyExtension) Start(ctx context.Context, host component.Host) error {
	src, err := e.buildSource(ctx, host)
	if err != nil {
		return err
	}
	e.src = src
	if src != nil {
		file, isFile := src.(*source.File)
		if isFile {
			if err = file.Prepare(); err != nil {
				return err
			}
		}
		ictx, cancel := context.WithTimeout(ctx, e.cfg.InitialTimeout)
		data, ferr := src.Fetch(ictx)
		cancel()
		switch {
		case ferr != nil && isFile:
			return errors.Join(ferr, file.Close())
		case ferr != nil:
			e.sourceError("fetch", ferr)
		default:
			if aerr := e.apply(data, src.Name()); aerr != nil && isFile {
				return errors.Join(aerr, file.Close())
			}
		}
	}

	ln, err := e.cfg.Server.ToListener(ctx)
	if err != nil {
		return errors.Join(err, closeSource(src))
	}
	e.addr = ln.Addr().String()
	e.server, err = e.cfg.Server.ToServer(ctx, host.GetExtensions(), e.set.TelemetrySettings, e.handler())
	if err != nil {
		return errors.Join(err, ln.Close(), closeSource(src))
	}
	if err = e.startGRPC(ctx, host); err != nil {
		return errors.Join(err, e.server.Close(), closeSource(src))
	}
	runCtx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.wg.Add(2)
	go func() {
		defer e.wg.Done()
		if serr := e.server.Serve(ln); serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			e.set.Logger.Error("Sampling policy server stopped", zap.Error(serr))
		}
	}()
	go func() {
		defer e.wg.Done()
		t := time.NewTicker(e.cfg.AdaptiveWindow)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case now := <-t.C:
				e.tick(now)
			}
		}
	}()
	if src != nil {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			src.Watch(runCtx, e.deliver(src.Name()), e.sourceError)
		}()
	}
	return nil
}

// closeSource releases a prepared file watch when Start fails before Watch owns it.
func closeSource(src source.Source) error {
	if f, ok := src.(*source.File); ok {
		return f.Close()
	}
	return nil
}

func (e *policyExtension) buildSource(ctx context.Context, host component.Host) (source.Source, error) {
	switch {
	case e.cfg.File.HasValue():
		f := e.cfg.File.Get()
		return &source.File{Path: f.Path, Debounce: f.Debounce}, nil
	case e.cfg.HTTP.HasValue():
		h := e.cfg.HTTP.Get()
		client, err := h.ToClient(ctx, host.GetExtensions(), e.set.TelemetrySettings)
		if err != nil {
			return nil, err
		}
		return &source.HTTP{URL: h.Endpoint, Client: client, Interval: h.Interval, BearerToken: string(h.BearerToken)}, nil
	case e.cfg.Etcd.HasValue():
		c := e.cfg.Etcd.Get()
		ec := clientv3.Config{
			Endpoints:   c.Endpoints,
			DialTimeout: c.DialTimeout,
			Username:    c.Username,
			Password:    string(c.Password),
			Logger:      e.set.Logger.Named("etcd").WithOptions(zap.IncreaseLevel(zap.ErrorLevel)),
		}
		if tc := c.TLS.Get(); tc != nil {
			tlsCfg, err := tc.LoadTLSConfig(ctx)
			if err != nil {
				return nil, err
			}
			ec.TLS = tlsCfg
		}
		client, err := clientv3.New(ec)
		if err != nil {
			return nil, err
		}
		e.etcdClient = client
		return &source.Etcd{Client: client, Key: c.Key, MaxBackoff: c.MaxBackoff}, nil
	}
	return nil, nil
}

func (e *policyExtension) Shutdown(ctx context.Context) error {
	if e.cancel != nil {
		e.cancel()
	}
	var err error
	if e.server != nil {
		err = e.server.Shutdown(ctx)
	}
	if e.grpcServer != nil {
		e.grpcServer.GracefulStop()
	}
	e.wg.Wait()
	if e.etcdClient != nil {
		err = errors.Join(err, e.etcdClient.Close())
	}
	e.tb.Shutdown()
	return err
}
