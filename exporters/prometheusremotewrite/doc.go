//go:generate ../../.tools/bin/mdatagen metadata.yaml

// Package prometheusremotewrite sends metrics to a Prometheus remote-write
// endpoint using Remote Write 2.0 with automatic fallback to 1.0, keeping the
// samples of every series in time order while sending shards of series in
// parallel.
package prometheusremotewrite // import "github.com/sieveobs/sieve/exporters/prometheusremotewrite"
