// Package loadbalancing is Sieve's load_balancing exporter: contrib's, same type and same
// configuration, except for logs routed by traceID. Contrib routes spans by the 16 raw bytes of
// the trace ID but log records by its 32-character hex string, so a trace's logs land on another
// gateway than its spans; trace-consistent log sampling at the gateways needs them together.
// Traces, metrics and logs routed by any other key are contrib's exporter, unchanged; logs routed
// by traceID are Sieve's, hashed exactly as contrib hashes spans.
//
//go:generate ../../.tools/bin/mdatagen metadata.yaml
package loadbalancing // import "github.com/sieveobs/sieve/exporters/loadbalancing"
