// Package policyflap runs bin/sieve with its sampling policy coming from a source that misbehaves
// (a file caught half-written or replaced by an invalid one, an HTTP endpoint answering errors and
// cut-off bodies, an etcd key holding a truncated document) and checks that the last good policy
// stays in force, that each refusal is counted in Sieve's telemetry, and that no rate from a
// partial document is ever served.
package policyflap
