// Package backends starts the real servers Sieve's tests and demo talk to (Grafana Loki,
// Prometheus, Jaeger, etcd) on free loopback ports in temporary directories, waits until they are ready
// and stops them again, leaving no process or directory behind.
package backends

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/sieveobs/sieve/testbed/harness"
)

// readyTimeout bounds how long a server may take to become ready. Loki's ingester is the slowest
// part on a loaded 2-core machine.
const readyTimeout = 90 * time.Second

// stopGrace is how long a server may take to exit on SIGTERM before it is killed.
const stopGrace = 15 * time.Second

// startProcess runs a server in dir with its output captured to dir/<name>.log.
func startProcess(name, dir, bin string, args ...string) (*harness.Process, error) {
	return harness.Start(harness.Spec{Name: name, Path: bin, Args: args, Dir: dir, LogPath: filepath.Join(dir, name+".log")})
}

// waitReady polls url until it answers 200 and the body contains want.
func waitReady(ctx context.Context, p *harness.Process, url, want string) error {
	name := p.Name()
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		if p.Exited() {
			return fmt.Errorf("%s exited before it was ready (%v); log tail:\n%s", name, p.ExitError(), p.LogTail(40))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(buf.String(), want) {
				return nil
			}
			last = fmt.Sprintf("HTTP %d %s", resp.StatusCode, strings.TrimSpace(buf.String()))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s after %s (last answer: %s); log tail:\n%s", name, url, readyTimeout, last, p.LogTail(40))
		case <-tick.C:
		}
	}
}

// lookBinary finds a server binary: the environment variable first, then PATH.
func lookBinary(envVar, name, hint string) (string, error) {
	if p := os.Getenv(envVar); p != "" {
		return p, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found on PATH and %s is not set: %s", name, envVar, hint)
	}
	return p, nil
}

func writeFile(path, content string) error {
	return os.WriteFile(path, []byte(content), 0o600)
}

// joinErr folds a cleanup error into an earlier one.
func joinErr(errs ...error) error { return errors.Join(errs...) }
