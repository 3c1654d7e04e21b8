//go:generate ../../.tools/bin/mdatagen metadata.yaml

// Package loki pushes logs to Grafana Loki's push API as snappy
// compressed protobuf (or JSON), with a cardinality guard that demotes
// over-budget labels to structured metadata instead of dropping them.
package loki // import "github.com/sieveobs/sieve/exporters/loki"
