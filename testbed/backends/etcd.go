package backends

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sieveobs/sieve/testbed/harness"
)

// Etcd is a running single-member etcd. Stop and Start restart it on the same ports and data,
// so clients can be tested across an etcd restart.
type Etcd struct {
	// Endpoint is the client URL, e.g. http://127.0.0.1:43121.
	Endpoint string
	dir      string
	bin      string
	peerPort int
	proc     *harness.Process
}

// EtcdBinary returns $SIEVE_ETCD_BIN or etcd from PATH (Debian's etcd-server).
func EtcdBinary() (string, error) {
	return lookBinary("SIEVE_ETCD_BIN", "etcd", "run testbed/scripts/install-deps.sh")
}

// NewEtcd starts etcd and waits until it is healthy. Close stops it and removes its data.
func NewEtcd(ctx context.Context) (*Etcd, error) {
	bin, err := EtcdBinary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sieve-etcd-")
	if err != nil {
		return nil, err
	}
	ports, err := harness.FreePorts(2)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	e := &Etcd{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), dir: dir, bin: bin, peerPort: ports[1]}
	if err := e.Start(ctx); err != nil {
		return nil, joinErr(err, os.RemoveAll(dir))
	}
	return e, nil
}

// Start (re)starts a stopped etcd on its ports and data directory.
func (e *Etcd) Start(ctx context.Context) error {
	if e.proc != nil && !e.proc.Exited() {
		return fmt.Errorf("etcd is already running")
	}
	peer := fmt.Sprintf("http://127.0.0.1:%d", e.peerPort)
	proc, err := startProcess("etcd", e.dir, e.bin,
		"--name=sieve",
		"--data-dir="+filepath.Join(e.dir, "data"),
		"--listen-client-urls="+e.Endpoint,
		"--advertise-client-urls="+e.Endpoint,
		"--listen-peer-urls="+peer,
		"--initial-advertise-peer-urls="+peer,
		"--initial-cluster=sieve="+peer,
		"--log-level=warn",
		"--logger=zap",
	)
	if err != nil {
		return err
	}
	e.proc = proc
	if err := waitReady(ctx, proc, e.Endpoint+"/health", `"health":"true"`); err != nil {
		return joinErr(err, proc.Stop(stopGrace))
	}
	return nil
}

// Stop stops etcd, keeping its data for a later Start.
func (e *Etcd) Stop() error { return e.proc.Stop(stopGrace) }

// Close stops etcd and removes its directory.
func (e *Etcd) Close() error {
	err := e.proc.Stop(stopGrace)
	return joinErr(err, os.RemoveAll(e.dir))
}
