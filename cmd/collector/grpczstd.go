// Hand-written, not generated: ocb leaves it beside the files it writes.

package main

// Every gRPC server of the distribution (the OTLP receivers, the sampling API) decodes zstd
// through Sieve's bounded decoder: the program itself registers it, so the bound holds whatever
// components a build carries.
import _ "github.com/sieveobs/sieve/internal/grpczstd"
