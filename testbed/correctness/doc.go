// Package correctness holds the short correctness runs of the benchmark pipelines: bin/sieve
// runs each pipeline under a modest load and a counting sink checks that every item that must be
// kept arrived exactly once, nothing that must be dropped arrived, and sampled classes arrived in
// the configured proportion.
package correctness
