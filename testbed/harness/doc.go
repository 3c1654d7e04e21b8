// Package harness is the plumbing every process-level suite of the testbed shares: one child
// process type (environment, log file, CPU pinning, SIGTERM then SIGKILL to its process group),
// free loopback ports, the repository's paths and Sieve's binary, readers of /proc (CPU time,
// status fields, a peak watcher), one scraper of Prometheus text expositions such as Sieve's
// own telemetry, and the switch between the short and the long forms of the suites.
package harness
