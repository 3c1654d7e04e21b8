// Package sieveproc runs bin/sieve as a child process for end-to-end tests and the demo: it picks
// free loopback ports for every listener the shipped configs expose through environment
// variables, waits for the health check, and stops the process on cleanup.
package sieveproc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sieveobs/sieve/testbed/harness"
)

// Options describe one Sieve process.
type Options struct {
	// Config is the path of the collector configuration.
	Config string
	// Overlays are further configuration files the collector merges over Config, in order.
	Overlays []string
	// Env adds or overrides environment variables (e.g. the backends' URLs).
	Env map[string]string
	// LogPath receives the collector's own log; empty writes it to a file in the work directory.
	LogPath string
	// StorageDir, when set, holds the persistent queues instead of a directory inside the work
	// directory; it is neither created nor removed, so it can outlive the process and be handed
	// to the next one (crash and restart tests).
	StorageDir string
	// Hosts, when set, is the path of a file bound over /etc/hosts for this process only, in a
	// private mount namespace (Linux, as root): a name can then resolve to several loopback
	// addresses, as a gateway pool's DNS name does, without touching the machine's /etc/hosts.
	Hosts string
}

// Process is a running bin/sieve.
type Process struct {
	// OTLPGRPC and OTLPHTTP are the receiver addresses (host:port) on loopback.
	OTLPGRPC, OTLPHTTP string
	// TelemetryURL serves Sieve's own Prometheus metrics.
	TelemetryURL string
	// HealthURL is the health_check endpoint.
	HealthURL string
	// SamplingURL serves the live sampling policy (Jaeger remote sampling API and /policy).
	SamplingURL string
	// SamplingGRPC is the Jaeger remote sampling API over gRPC (host:port).
	SamplingGRPC string
	// StorageDir holds the persistent queues.
	StorageDir string
	LogPath    string

	proc *harness.Process
	dir  string

	// opts and ports let Restart launch the next process on the same addresses.
	opts  Options
	ports []int
}

// NumPorts is how many ports Env needs.
const NumPorts = 8

// Env is the environment that puts every listener of the shipped configurations on one of ports
// (NumPorts of them, from harness.FreePorts), the persistent queues in storageDir and the
// sampling policy on configs/policy.yaml.
func Env(ports []int, storageDir string) map[string]string {
	return map[string]string{
		"SIEVE_OTLP_GRPC_ENDPOINT": fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"SIEVE_OTLP_HTTP_ENDPOINT": fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"SIEVE_TELEMETRY_PORT":     fmt.Sprint(ports[2]),
		"SIEVE_HEALTH_ENDPOINT":    fmt.Sprintf("127.0.0.1:%d", ports[3]),
		"SIEVE_PPROF_ENDPOINT":     fmt.Sprintf("127.0.0.1:%d", ports[4]),
		"SIEVE_ZPAGES_ENDPOINT":    fmt.Sprintf("127.0.0.1:%d", ports[5]),
		"SIEVE_STORAGE_DIR":        storageDir,
		"SIEVE_SAMPLING_ENDPOINT":  fmt.Sprintf("127.0.0.1:%d", ports[6]),
		"SIEVE_POLICY_FILE":        harness.RepoPath("configs/policy.yaml"),
		// A free port for every process: on one host the default 14250 would collide.
		"SIEVE_SAMPLING_GRPC_ENDPOINT": fmt.Sprintf("127.0.0.1:%d", ports[7]),
	}
}

// Start runs Sieve and waits until its health check answers.
func Start(ctx context.Context, opts Options) (*Process, error) {
	bin, err := harness.SieveBinary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sieve-run-")
	if err != nil {
		return nil, err
	}
	ports, err := harness.FreePorts(NumPorts)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p, err := launch(bin, dir, ports, opts)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := p.waitHealthy(ctx); err != nil {
		return nil, errors.Join(err, p.Stop())
	}
	return p, nil
}

// launch starts bin/sieve with the given work directory and ports without waiting for health.
func launch(bin, dir string, ports []int, opts Options) (*Process, error) {
	p := &Process{
		OTLPGRPC:     fmt.Sprintf("127.0.0.1:%d", ports[0]),
		OTLPHTTP:     fmt.Sprintf("127.0.0.1:%d", ports[1]),
		TelemetryURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[2]),
		HealthURL:    fmt.Sprintf("http://127.0.0.1:%d/", ports[3]),
		SamplingURL:  fmt.Sprintf("http://127.0.0.1:%d", ports[6]),
		SamplingGRPC: fmt.Sprintf("127.0.0.1:%d", ports[7]),
		StorageDir:   filepath.Join(dir, "storage"),
		LogPath:      opts.LogPath,
		dir:          dir,
		opts:         opts,
		ports:        ports,
	}
	if opts.StorageDir != "" {
		p.StorageDir = opts.StorageDir
	}
	if p.LogPath == "" {
		p.LogPath = filepath.Join(dir, "sieve.log")
	}
	env := Env(ports, p.StorageDir)
	for k, v := range opts.Env {
		env[k] = v
	}
	args := []string{"--config", opts.Config}
	for _, o := range opts.Overlays {
		args = append(args, "--config", o)
	}
	path := bin
	if opts.Hosts != "" {
		// unshare execs in place, and so do sh and its exec: the PID stays the collector's, so
		// signals and Pdeathsig reach it as without the wrapper.
		path, args = "unshare", append([]string{"--mount", "--propagation", "private", "--",
			"sh", "-c", `mount --bind "$0" /etc/hosts && exec "$@"`, opts.Hosts, bin}, args...)
	}
	proc, err := harness.Start(harness.Spec{Name: "sieve", Path: path, Args: args, Env: env, LogPath: p.LogPath})
	if err != nil {
		return nil, err
	}
	p.proc = proc
	return p, nil
}

func (p *Process) waitHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if p.proc.Exited() {
			return fmt.Errorf("sieve exited during start-up (%v):\n%s", p.proc.ExitError(), p.LogTail(40))
		}
		if resp, err := client.Get(p.HealthURL); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sieve not healthy at %s within 60s:\n%s", p.HealthURL, p.LogTail(40))
		case <-tick.C:
		}
	}
}

// stopGrace is how long Stop lets Sieve drain its pipelines after SIGTERM before killing it.
const stopGrace = 30 * time.Second

// Stop sends SIGTERM (Sieve drains its pipelines) and waits; it kills after 30 s. It removes the
// work directory unless the log file was placed elsewhere by the caller and kept.
func (p *Process) Stop() error {
	return errors.Join(p.proc.Stop(stopGrace), os.RemoveAll(p.dir))
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool { return p.proc.Exited() }

// LogTail returns the last lines of Sieve's log.
func (p *Process) LogTail(lines int) string { return harness.LogTail(p.LogPath, lines) }

// StartT starts Sieve for a test; it is stopped at cleanup and its log printed if the test failed.
func StartT(tb testing.TB, opts Options) *Process {
	tb.Helper()
	p, err := Start(context.Background(), opts)
	if err != nil {
		tb.Fatalf("start sieve: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("sieve log tail:\n%s", p.LogTail(60))
		}
		if err := p.Stop(); err != nil {
			tb.Errorf("stop sieve: %v", err)
		}
	})
	return p
}

// PID is the process ID of the running collector.
func (p *Process) PID() int { return p.proc.PID() }

// Kill ends the collector with SIGKILL, as a crash or the OOM killer would: nothing is drained
// or flushed. The work directory is kept, so the storage and the log survive for Restart.
func (p *Process) Kill() error { return p.proc.Kill() }

// Terminate sends SIGTERM and waits up to timeout for the collector to drain and exit; unlike
// Stop it keeps the work directory for Restart. It kills the process when the timeout passes.
func (p *Process) Terminate(timeout time.Duration) error { return p.proc.Stop(timeout) }

// Wait waits up to timeout for the process to end by itself and reports whether it did.
func (p *Process) Wait(timeout time.Duration) bool { return p.proc.Wait(timeout) }

// ExitError is what the process ended with (nil for exit status 0); nil while it runs.
func (p *Process) ExitError() error { return p.proc.ExitError() }

// Restart starts a new collector after this one ended, with the same options, addresses, work
// directory (storage and log file, which is appended to) and waits for its health check. The
// returned Process owns the work directory from then on; this one must not be stopped again. When
// the health check fails the new process is returned with the error, for its log and Stop.
func (p *Process) Restart(ctx context.Context) (*Process, error) {
	if !p.Exited() {
		return nil, errors.New("restart: the previous process is still running")
	}
	bin, err := harness.SieveBinary()
	if err != nil {
		return nil, err
	}
	next, err := launch(bin, p.dir, p.ports, p.opts)
	if err != nil {
		return nil, err
	}
	if err := next.waitHealthy(ctx); err != nil {
		return next, err
	}
	return next, nil
}

// Launch starts a collector like Restart but does not wait for its health check, for callers
// that expect it may fail to start.
func (p *Process) Launch() (*Process, error) {
	if !p.Exited() {
		return nil, errors.New("launch: the previous process is still running")
	}
	bin, err := harness.SieveBinary()
	if err != nil {
		return nil, err
	}
	return launch(bin, p.dir, p.ports, p.opts)
}

// WaitHealthy waits until the health check answers, for a process from Launch.
func (p *Process) WaitHealthy(ctx context.Context) error { return p.waitHealthy(ctx) }
