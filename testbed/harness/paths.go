package harness

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// RepoPath returns a path relative to the repository root, e.g. RepoPath("configs/gateway.yaml").
// The root is found from this file, so tests and commands can run from any directory.
func RepoPath(rel string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", rel)
}

// SieveBinary returns the absolute path of $SIEVE_BIN, or of bin/sieve at the repository root.
func SieveBinary() (string, error) {
	p := os.Getenv("SIEVE_BIN")
	if p == "" {
		p = RepoPath("bin/sieve")
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("sieve binary %s: %w (run `make build` at the repository root or set SIEVE_BIN)", p, err)
	}
	return filepath.Abs(p)
}

var portMu sync.Mutex

// FreePorts reserves n distinct free loopback ports. They are released before the child binds
// them, so a race with another process is possible but rare on loopback; the lock keeps this
// process's own callers from being handed the same port.
func FreePorts(n int) ([]int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("reserve a loopback port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// FreeAddrs is FreePorts as 127.0.0.1:port addresses.
func FreeAddrs(n int) ([]string, error) {
	ports, err := FreePorts(n)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ports))
	for i, p := range ports {
		out[i] = fmt.Sprintf("127.0.0.1:%d", p)
	}
	return out, nil
}
