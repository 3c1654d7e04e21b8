package gomemlimit // import "github.com/sieveobs/sieve/extensions/gomemlimit"

// The bound on zstd windows for gRPC receivers is, like GOMEMLIMIT, a memory bound on the whole
// process; every Sieve build carries this extension, so it carries the bound too.
import _ "github.com/sieveobs/sieve/internal/grpczstd"
