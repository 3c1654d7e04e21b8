package samplingpolicy

import (
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/sieveobs/sieve/internal/policy/engine"
	"github.com/sieveobs/sieve/internal/policy/policyfile"
)

// Jaeger's remote sampling JSON (api_v2 SamplingStrategyResponse as jsonpb renders it), so SDKs
// built for Jaeger, including the OTel jaegerremote sampler, read it unchanged.
type strategyResponse struct {
	StrategyType          string                    `json:"strategyType"`
	ProbabilisticSampling *probabilisticSampling    `json:"probabilisticSampling,omitempty"`
	OperationSampling     *perOperationSamplingJSON `json:"operationSampling,omitempty"`
}

type probabilisticSampling struct {
	SamplingRate float64 `json:"samplingRate"`
}

type perOperationSamplingJSON struct {
	DefaultSamplingProbability       float64             `json:"defaultSamplingProbability"`
	DefaultLowerBoundTracesPerSecond float64             `json:"defaultLowerBoundTracesPerSecond"`
	PerOperationStrategies           []operationStrategy `json:"perOperationStrategies"`
}

type operationStrategy struct {
	Operation             string                `json:"operation"`
	ProbabilisticSampling probabilisticSampling `json:"probabilisticSampling"`
}

type policyResponse struct {
	Version        string             `json:"version"`
	Hash           string             `json:"hash"`
	Format         string             `json:"format"`
	Source         string             `json:"source"`
	AppliedAt      time.Time          `json:"applied_at"`
	EffectiveRates map[string]float64 `json:"effective_rates"`
	Policy         policyfile.Policy  `json:"policy"`
}

func (e *policyExtension) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sampling", e.serveSampling)
	mux.HandleFunc("GET /policy", e.servePolicy)
	return mux
}

func (e *policyExtension) serveSampling(w http.ResponseWriter, r *http.Request) {
	services := r.URL.Query()["service"]
	if len(services) != 1 || services[0] == "" {
		http.Error(w, "'service' parameter must be provided once", http.StatusBadRequest)
		return
	}
	writeJSON(w, strategyFor(e.engine.Load(), services[0]))
}

// strategyFor serves effective rates, never the configured ones, so SDKs follow the adaptive
// controller. Always/never rules that name only a span are served as operation rates of 1 and
// 0, so SDKs stop producing what the collector would drop anyway.
func strategyFor(snap *engine.Snapshot, service string) strategyResponse {
	ent := snap.Lookup(service)
	rate := ent.Rate().Probability
	resp := strategyResponse{StrategyType: "PROBABILISTIC", ProbabilisticSampling: &probabilisticSampling{SamplingRate: rate}}
	ops := ent.Operations()
	for _, r := range snap.Policy.Rules {
		if r.SpanName == "" || r.Attribute != "" || (r.Service != "" && r.Service != service) {
			continue
		}
		if _, set := ops[r.SpanName]; set {
			continue
		}
		if r.Action == policyfile.ActionNever {
			ops[r.SpanName] = 0
		} else {
			ops[r.SpanName] = 1
		}
	}
	if len(ops) == 0 {
		return resp
	}
	per := &perOperationSamplingJSON{DefaultSamplingProbability: rate, PerOperationStrategies: make([]operationStrategy, 0, len(ops))}
	for name, p := range ops {
		per.PerOperationStrategies = append(per.PerOperationStrategies, operationStrategy{Operation: name, ProbabilisticSampling: probabilisticSampling{SamplingRate: p}})
	}
	sort.Slice(per.PerOperationStrategies, func(i, j int) bool {
		return per.PerOperationStrategies[i].Operation < per.PerOperationStrategies[j].Operation
	})
	resp.OperationSampling = per
	return resp
}

func (e *policyExtension) servePolicy(w http.ResponseWriter, _ *http.Request) {
	snap := e.engine.Load()
	rates := map[string]float64{}
	snap.Entries(func(en *engine.Entry) { rates[en.Name] = en.Rate().Probability })
	writeJSON(w, policyResponse{
		Version: snap.Version, Hash: snap.Hash, Format: snap.Format, Source: snap.Source,
		AppliedAt: snap.Applied.UTC(), EffectiveRates: rates, Policy: snap.Policy,
	})
}

// writeJSON encodes before writing, so a value that cannot be encoded is a 500 rather than a
// 200 with an empty or cut body.
func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding the response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}
