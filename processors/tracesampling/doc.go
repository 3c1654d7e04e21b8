// Package tracesampling is the trace_sampling processor: parent-based consistent probability
// sampling of spans under the live policy of the sampling_policy extension (or a static rate).
//
//go:generate ../../.tools/bin/mdatagen metadata.yaml
package tracesampling // import "github.com/sieveobs/sieve/processors/tracesampling"
