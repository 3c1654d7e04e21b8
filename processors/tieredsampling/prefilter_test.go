package tieredsampling

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottllog"

	"github.com/sieveobs/sieve/internal/otlpwire"
	"github.com/sieveobs/sieve/internal/policy"
)

// parityDecider keeps the traces whose first ID byte is odd, for the service "checkout" or none.
type parityDecider struct {
	component.StartFunc
	component.ShutdownFunc
}

func (parityDecider) TraceKept(id pcommon.TraceID, service string) bool {
	return id[0]%2 == 1 && (service == "checkout" || service == "")
}

// parityConfigs are the processor configurations the differential tests run: the shipped
// classic tiers with a required attribute, and tiers mixing conditions the wire compiles with
// ones it does not, a drop tier, hashing and following traces.
func parityConfigs() []*Config {
	classic := defaultCfg()
	classic.RequiredAttributes = []string{"uid"}

	mixed := defaultCfg()
	mixed.Tiers = []TierConfig{
		{Name: "errors", Condition: classicErrorCondition, Percent: 100},
		{Name: "noisy", Condition: `resource.attributes["service.name"] == "noisy" and not (attributes["keep"] == true)`, Drop: true},
		{Name: "text", Condition: `severity_text == "WARN" or (flags > 0 and body != "x")`, Percent: 30},
		{Name: "regex", Condition: `IsMatch(body, "^GET")`, Percent: 50},
		{Name: "codes", Condition: `Int(attributes["code"]) < 300 or attributes["ratio"] >= 0.5 or attributes["k"] == nil`, Percent: 5},
	}
	mixed.DefaultTier = DefaultTierConfig{Name: "rest", Percent: 1}
	mixed.HashAttribute = "sieve.test.id"
	mixed.FollowTraces.Enabled = true
	mixed.FollowTraces.Decider = component.MustNewID("decider")

	compiled := defaultCfg()
	compiled.Tiers = []TierConfig{
		{Name: "warn", Condition: `log.severity_number >= SEVERITY_NUMBER_WARN and severity_number < SEVERITY_NUMBER_ERROR`, Percent: 50},
		{Name: "zero", Condition: `attributes["tier"] == "zero"`, Percent: 0},
		{Name: "all", Condition: `true`, Percent: 10},
	}
	compiled.DefaultTier = DefaultTierConfig{Name: "never", Percent: 100}
	compiled.RequiredAttributes = []string{"uid", "tenant"}
	compiled.FollowTraces.Enabled = true
	compiled.FollowTraces.Decider = component.MustNewID("decider")
	// Memory at 70% of the limit sheds the lowest tiers: the prefilter leaves their records to
	// the processor.
	shedding := defaultCfg()
	shedding.Tiers = append(shedding.Tiers, TierConfig{Name: "info", Condition: "severity_number >= SEVERITY_NUMBER_INFO", Percent: 5})
	shedding.OverloadShedding = OverloadSheddingConfig{
		Enabled: true, MemoryLimitMiB: 100, StartPercent: 40, CheckInterval: time.Second,
		ProtectedTiers: []string{"errors"},
	}
	return []*Config{classic, mixed, compiled, shedding}
}

// parityPair is two processors with one configuration: one decides decoded requests alone, the
// other behind its prefilter.
type parityPair struct {
	alone, behind *tieredProcessor
	pre           *prefilter
}

func newParityPair(t testing.TB, cfg *Config) *parityPair {
	host := hostWith(map[component.ID]component.Component{component.MustNewID("decider"): parityDecider{}})
	mem := &fakeMemory{}
	mem.Set(70 << 20)
	mk := func() *tieredProcessor {
		p := newTestProcessor(t, cfg, nil, mem)
		require.NoError(t, p.start(context.Background(), host))
		return p
	}
	pp := &parityPair{alone: mk(), behind: mk()}
	pp.pre = newPrefilter(pp.behind)
	return pp
}

// check runs one request both ways and requires the same records kept, byte for byte, and the
// prefilter's count of every record in the request.
func (pp *parityPair) check(t testing.TB, body []byte) otlpwire.FilterResult {
	full := plogotlp.NewExportRequest()
	fullErr := full.UnmarshalProto(body)
	out, res, err := pp.pre.FilterLogs(nil, body)
	if fullErr != nil {
		// A request the decoder refuses must still be refused: by the reader, or by the
		// decoder on what the reader passes on.
		if err == nil {
			require.Error(t, plogotlp.NewExportRequest().UnmarshalProto(out), "prefilter turned an invalid request into a valid one")
		}
		return res
	}
	if err != nil {
		// The receiver decodes a request the wire reader refuses whole, as upstream does.
		out = body
		res = otlpwire.FilterResult{}
	} else {
		require.Equal(t, full.Logs().LogRecordCount(), res.Records)
	}
	part := plogotlp.NewExportRequest()
	require.NoError(t, part.UnmarshalProto(out), "the prefilter's output must decode")
	require.Equal(t, full.Logs().LogRecordCount()-res.Dropped, part.Logs().LogRecordCount())

	want, _ := pp.alone.processLogs(context.Background(), full.Logs())
	got, _ := pp.behind.processLogs(context.Background(), part.Logs())
	wb, err := (&plog.ProtoMarshaler{}).MarshalLogs(want)
	require.NoError(t, err)
	gb, err := (&plog.ProtoMarshaler{}).MarshalLogs(got)
	require.NoError(t, err)
	require.Equal(t, wb, gb, "records kept behind the prefilter differ from the processor's own")
	return res
}

// parityLogs builds a request with every shape the tiers and the randomness look at.
func parityLogs(rng *rand.Rand, n int) plog.Logs {
	ld := plog.NewLogs()
	services := []string{"checkout", "noisy", "", "cart"}
	for r := 0; r < 4; r++ {
		rl := ld.ResourceLogs().AppendEmpty()
		if s := services[r]; s != "" {
			rl.Resource().Attributes().PutStr("service.name", s)
		}
		if r != 2 {
			rl.Resource().Attributes().PutStr("uid", fmt.Sprint("u", r))
		}
		for s := 0; s < 2; s++ {
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName("scope")
			for i := 0; i < n; i++ {
				lr := sl.LogRecords().AppendEmpty()
				lr.SetTimestamp(pcommon.Timestamp(rng.Uint64()))
				lr.SetSeverityNumber(plog.SeverityNumber(rng.IntN(25)))
				lr.SetSeverityText([]string{"", "WARN", "INFO"}[rng.IntN(3)])
				lr.SetFlags(plog.LogRecordFlags(rng.IntN(2)))
				switch rng.IntN(4) {
				case 0:
					lr.Body().SetStr("GET /cart")
				case 1:
					lr.Body().SetStr("x")
				case 2:
					lr.Body().SetEmptyMap().PutStr("k", "v")
				}
				a := lr.Attributes()
				switch rng.IntN(6) {
				case 0:
					a.PutInt("http.status_code", int64(200+100*rng.IntN(4)))
				case 1:
					a.PutStr("http.response.status_code", []string{"503", "200", "x"}[rng.IntN(3)])
				case 2:
					a.PutDouble("http.status_code", 502.5)
				case 3:
					a.PutEmptyMap("http.status_code")
				}
				if rng.IntN(3) == 0 {
					a.PutInt("code", int64(rng.IntN(600)))
				}
				if rng.IntN(3) == 0 {
					a.PutDouble("ratio", rng.Float64())
				}
				if rng.IntN(4) == 0 {
					a.PutStr("k", "v")
				}
				if rng.IntN(5) == 0 {
					a.PutBool("keep", rng.IntN(2) == 0)
				}
				if rng.IntN(4) == 0 {
					a.PutStr("tier", "zero")
				}
				if rng.IntN(2) == 0 {
					a.PutStr("tenant", "t")
				}
				switch rng.IntN(3) {
				case 0:
					a.PutStr("sieve.test.id", fmt.Sprint("id-", rng.Uint64()))
				case 1:
					a.PutInt("sieve.test.id", rng.Int64())
				}
				if rng.IntN(8) == 0 {
					a.PutStr(randomnessAttr, fmt.Sprintf("%014x", rng.Uint64()>>8))
				}
				if rng.IntN(8) == 0 {
					a.PutStr(thresholdAttr, []string{"8", "c", "fff", "zz"}[rng.IntN(4)])
				}
				if rng.IntN(3) != 0 {
					var id pcommon.TraceID
					binary.BigEndian.PutUint64(id[:8], rng.Uint64())
					binary.BigEndian.PutUint64(id[8:], rng.Uint64())
					lr.SetTraceID(id)
				}
			}
		}
	}
	return ld
}

func TestPrefilterKeepsWhatTheProcessorKeeps(t *testing.T) {
	for i, cfg := range parityConfigs() {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			pp := newParityPair(t, cfg)
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			dropped := 0
			for range 20 {
				body, err := plogotlp.NewExportRequestFromLogs(parityLogs(rng, 50)).MarshalProto()
				require.NoError(t, err)
				dropped += pp.check(t, body).Dropped
			}
			require.Positive(t, dropped, "the prefilter must decide some records on the wire")
			if cfg.OverloadShedding.Enabled {
				require.Positive(t, pp.alone.shed.level(pp.alone.policy.Load().numSheddable), "tiers are being shed")
			}
		})
	}
}

// FuzzPrefilterParity feeds the same requests to the processor alone and to the processor
// behind its prefilter: the same records must be kept with the same attributes and thresholds,
// and a request the decoder refuses must stay refused.
func FuzzPrefilterParity(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 2))
	for c := range parityConfigs() {
		body, err := plogotlp.NewExportRequestFromLogs(parityLogs(rng, 3)).MarshalProto()
		require.NoError(f, err)
		f.Add(byte(c), body)
	}
	f.Add(byte(0), []byte{})
	cfgs := parityConfigs()
	pairs := make([]*parityPair, len(cfgs))
	for i, cfg := range cfgs {
		pairs[i] = newParityPair(f, cfg)
	}
	f.Fuzz(func(t *testing.T, which byte, body []byte) {
		pairs[int(which)%len(pairs)].check(t, body)
	})
}

func TestPrefilterRegistersWithThePolicyExtension(t *testing.T) {
	reg := &registryExt{}
	cfg := defaultCfg()
	cfg.PolicySource = component.MustNewID("sampling_policy")
	p := newTestProcessor(t, cfg, nil, nil)
	reg.src.initial = &policy.LogTiers{Version: "v1", Tiers: []policy.LogTier{{Name: "all", Percent: 1}}}
	require.NoError(t, p.start(context.Background(), hostWith(map[component.ID]component.Component{cfg.PolicySource: reg})))
	f, ok := reg.LogsPrefilter()
	require.True(t, ok)
	require.NotNil(t, f)
	require.NoError(t, p.shutdown(context.Background()))
	_, ok = reg.LogsPrefilter()
	require.False(t, ok, "shutdown withdraws the prefilter")
}

type registryExt struct {
	policy.PrefilterRegistry
	src fakeSource
}

func (r *registryExt) Start(context.Context, component.Host) error { return nil }
func (r *registryExt) Shutdown(context.Context) error              { return nil }
func (r *registryExt) WatchLogTiers(apply func(policy.LogTiers) error) func() {
	return r.src.WatchLogTiers(apply)
}

// FuzzWireConditionMatchesOTTL compiles arbitrary conditions with OTTL and with the wire
// compiler: on every record of a varied request, a wire answer other than unknown must be OTTL's
// answer (an OTTL error counts as no match, as the processor counts it).
func FuzzWireConditionMatchesOTTL(f *testing.F) {
	for _, c := range []string{
		classicErrorCondition, classicWarnCondition, "true", "false", `not true`,
		`resource.attributes["service.name"] == "noisy" and not (attributes["keep"] == true)`,
		`severity_text == "WARN" or (flags > 0 and body != "x")`,
		`Int(attributes["code"]) < 300 or attributes["ratio"] >= 0.5 or attributes["k"] == nil`,
		`attributes["tier"] != "zero" and log.severity_number <= 9`, `body == nil`, `nil == nil`,
		`attributes["http.status_code"] > 2.5e2`, `severity_number == .5`, `"a" < "b"`, `true == attributes["keep"]`,
	} {
		f.Add(c)
	}
	parser, err := newParser(componenttestSettings().TelemetrySettings)
	require.NoError(f, err)
	ld := parityLogs(rand.New(rand.NewPCG(3, 4)), 40)
	body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	require.NoError(f, err)
	records := allRecords(ld)
	f.Fuzz(func(t *testing.T, cond string) {
		oc, err := parser.ParseCondition(cond)
		if err != nil {
			return
		}
		wire, ok := otlpwire.CompileLogCondition(cond)
		if !ok {
			return
		}
		var got []otlpwire.Tri
		var lf otlpwire.LogsFilter
		_, _, err = lf.Filter(nil, body, deciderFunc(func(res *otlpwire.Resource, rec *otlpwire.LogRecord) bool {
			got = append(got, wire(res, rec))
			return false
		}))
		require.NoError(t, err)
		require.Len(t, got, len(records))
		i := 0
		for r := 0; r < ld.ResourceLogs().Len(); r++ {
			rl := ld.ResourceLogs().At(r)
			for s := 0; s < rl.ScopeLogs().Len(); s++ {
				sl := rl.ScopeLogs().At(s)
				for k := 0; k < sl.LogRecords().Len(); k++ {
					tc := ottllogContext(rl, sl, sl.LogRecords().At(k))
					want, err := oc.Eval(context.Background(), tc)
					tc.Close()
					if got[i] != otlpwire.Unknown {
						require.Equal(t, want && err == nil, got[i] == otlpwire.True, "record %d, condition %q (OTTL error: %v)", i, cond, err)
					}
					i++
				}
			}
		}
	})
}

type deciderFunc func(*otlpwire.Resource, *otlpwire.LogRecord) bool

func (f deciderFunc) DropLog(res *otlpwire.Resource, rec *otlpwire.LogRecord) bool {
	return f(res, rec)
}

func ottllogContext(rl plog.ResourceLogs, sl plog.ScopeLogs, lr plog.LogRecord) *ottllog.TransformContext {
	return ottllog.NewTransformContextPtr(rl, sl, lr)
}
