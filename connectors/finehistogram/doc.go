// Package finehistogram implements the fine_histogram connector: span durations and numeric log
// fields aggregated into fine explicit or exponential latency histograms, weighted by the
// adjusted count of sampled items, and histograms from agents merged at a gateway.
//
//go:generate ../../.tools/bin/mdatagen metadata.yaml
package finehistogram // import "github.com/sieveobs/sieve/connectors/finehistogram"
