// Package otlpreceiver is Sieve's otlp receiver: upstream's OTLP receiver, every key unchanged,
// plus sample_before_decode, with which the sampler following a sampling_policy extension drops
// records on the OTLP bytes so that only the records it may keep are decoded.
//
//go:generate ../../.tools/bin/mdatagen metadata.yaml
package otlp // import "github.com/sieveobs/sieve/receivers/otlp"
