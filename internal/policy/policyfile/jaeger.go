package policyfile

import (
	"fmt"
	"math"
)

// JaegerStrategies is Jaeger's sampling strategies file, accepted as it is.
type JaegerStrategies struct {
	ServiceStrategies []JaegerServiceStrategy `json:"service_strategies" yaml:"service_strategies"`
	DefaultStrategy   *JaegerDefaultStrategy  `json:"default_strategy" yaml:"default_strategy"`
}

// JaegerServiceStrategy is one entry of service_strategies.
type JaegerServiceStrategy struct {
	Service             string                    `json:"service" yaml:"service"`
	Type                string                    `json:"type" yaml:"type"`
	Param               float64                   `json:"param" yaml:"param"`
	OperationStrategies []JaegerOperationStrategy `json:"operation_strategies" yaml:"operation_strategies"`
}

// JaegerDefaultStrategy is default_strategy.
type JaegerDefaultStrategy struct {
	Type                string                    `json:"type" yaml:"type"`
	Param               float64                   `json:"param" yaml:"param"`
	OperationStrategies []JaegerOperationStrategy `json:"operation_strategies" yaml:"operation_strategies"`
}

// JaegerOperationStrategy is one entry of operation_strategies.
type JaegerOperationStrategy struct {
	Operation string  `json:"operation" yaml:"operation"`
	Type      string  `json:"type" yaml:"type"`
	Param     float64 `json:"param" yaml:"param"`
}

const (
	jaegerProbabilistic = "probabilistic"
	jaegerRateLimiting  = "ratelimiting"
)

// jaegerDefaultRate is what Jaeger itself uses when default_strategy is absent.
const jaegerDefaultRate = 0.001

// toPolicy maps probabilistic strategies to rates and ratelimiting ones to adaptive rules with a
// traces/s target, since Sieve enforces every rate as a consistent probability.
func (j *JaegerStrategies) toPolicy() (Policy, error) {
	def := jaegerDefaultRate
	p := Policy{DefaultRate: &def, Services: map[string]Service{}}
	if d := j.DefaultStrategy; d != nil {
		switch d.Type {
		case jaegerProbabilistic:
			def = d.Param
		case jaegerRateLimiting:
			if d.Param <= 0 || math.IsNaN(d.Param) {
				return p, fmt.Errorf("default_strategy.param: ratelimiting needs a positive traces/s, got %v", d.Param)
			}
			def = 1
			p.Adaptive = append(p.Adaptive, Adaptive{TargetTracesPerSecond: d.Param})
		default:
			return p, fmt.Errorf("default_strategy.type: %q must be probabilistic or ratelimiting", d.Type)
		}
		if len(d.OperationStrategies) > 0 {
			return p, fmt.Errorf("default_strategy.operation_strategies: per-operation defaults are not supported, set them per service")
		}
	}
	for i, s := range j.ServiceStrategies {
		key := fmt.Sprintf("service_strategies[%d]", i)
		if s.Service == "" {
			return p, fmt.Errorf("%s.service: required", key)
		}
		if _, dup := p.Services[s.Service]; dup {
			return p, fmt.Errorf("%s.service: duplicate service %q", key, s.Service)
		}
		svc := Service{}
		switch s.Type {
		case jaegerProbabilistic:
			r := s.Param
			svc.Rate = &r
		case jaegerRateLimiting:
			if s.Param <= 0 || math.IsNaN(s.Param) {
				return p, fmt.Errorf("%s.param: ratelimiting needs a positive traces/s, got %v", key, s.Param)
			}
			one := 1.0
			svc.Rate = &one
			p.Adaptive = append(p.Adaptive, Adaptive{Service: s.Service, TargetTracesPerSecond: s.Param})
		default:
			return p, fmt.Errorf("%s.type: %q must be probabilistic or ratelimiting", key, s.Type)
		}
		for k, o := range s.OperationStrategies {
			okey := fmt.Sprintf("%s.operation_strategies[%d]", key, k)
			if o.Type != jaegerProbabilistic {
				return p, fmt.Errorf("%s.type: %q must be probabilistic", okey, o.Type)
			}
			if o.Operation == "" {
				return p, fmt.Errorf("%s.operation: required", okey)
			}
			if svc.Operations == nil {
				svc.Operations = map[string]float64{}
			}
			if _, dup := svc.Operations[o.Operation]; dup {
				return p, fmt.Errorf("%s.operation: duplicate operation %q", okey, o.Operation)
			}
			svc.Operations[o.Operation] = o.Param
		}
		p.Services[s.Service] = svc
	}
	return p, nil
}
