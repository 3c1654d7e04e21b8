// Package hostile runs bin/sieve against hostile input and checks that it refuses it cheaply and
// stays healthy: compression bombs, oversized bodies and slow-drip clients on the OTLP receivers
// of the shipped gateway configuration, records far beyond Loki's limits on their way to a real
// Loki, alias bombs and malformed keys in collector configurations and policy files, and the
// transport security of the sampling policy endpoint.
//
// Every test logs what it measured (peak resident memory, sizes, counts). The default sizes keep
// the package within a few minutes; SIEVE_LONG=1 makes them larger (more bombs in flight, a
// million distinct label values).
//
//	make build && cd testbed && go test -count=1 -p 1 ./reliability/hostile/
//	SIEVE_LONG=1 go test -count=1 -p 1 -timeout 60m ./reliability/hostile/
package hostile
