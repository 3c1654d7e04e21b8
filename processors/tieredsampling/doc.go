// Package tieredsampling implements the tiered_sampling logs processor: ordered OTTL tiers, each
// with a consistent-probability keep rate, so that every error is kept while routine logs are
// thinned in a way that agrees with trace sampling decisions.
//
//go:generate ../../.tools/bin/mdatagen metadata.yaml
package tieredsampling // import "github.com/sieveobs/sieve/processors/tieredsampling"
