// Package samplingpolicy holds Sieve's live sampling policy: it loads it from a file,
// an HTTP(S) URL or etcd, refuses invalid versions, serves it on the Jaeger remote sampling API,
// and hands it to the trace_sampling and tiered_sampling processors.
//
//go:generate ../../.tools/bin/mdatagen metadata.yaml
package samplingpolicy // import "github.com/sieveobs/sieve/extensions/samplingpolicy"
