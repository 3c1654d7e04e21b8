package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/sieveobs/sieve/testbed/harness"
)

// stopGrace is how long a collector may take to exit on SIGTERM before it is killed.
const stopGrace = 15 * time.Second

// startProcess runs bin with args, pinned to cpus with taskset when cpus is not empty; unset names
// variables of this process's environment the collector must not inherit. A crashed benchmark
// must not leave a collector holding the core: harness processes die with it.
func startProcess(bin string, args []string, env map[string]string, unset []string, cpus, logPath string) (*harness.Process, error) {
	return harness.Start(harness.Spec{Name: "collector", Path: bin, Args: args, Env: env, Unset: unset, CPUs: cpus, LogPath: logPath, TruncateLog: true})
}

// GOGC is the garbage collector setting both collectors run with in every row but the GC-default
// ones: Go's own default, set explicitly so that a GOGC in the environment of the bench, or a GC
// default Sieve ships, does not make one side's GC cheaper than the other's.
const GOGC = "100"

// gcEnvironment is what the collector's environment gets, and loses, for the garbage collector:
// GOGC=100 for ordinary rows; for a GCDefaults row nothing, and no GOGC or GOMEMLIMIT inherited
// from the bench either, so that each collector runs with the defaults it ships.
func gcEnvironment(p Pipeline) (set map[string]string, unset []string) {
	if p.GCDefaults {
		return nil, []string{"GOGC", "GOMEMLIMIT"}
	}
	return map[string]string{"GOGC": GOGC}, nil
}

// waitListening waits until every address accepts TCP connections or the process exits.
func waitListening(ctx context.Context, p *harness.Process, timeout time.Duration, addrs ...string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ready := true
		for _, a := range addrs {
			c, err := net.DialTimeout("tcp", a, 200*time.Millisecond)
			if err != nil {
				ready = false
				break
			}
			c.Close()
		}
		if ready {
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("collector exited during start-up: %v\n%s", p.ExitError(), p.LogTailBytes(logTailBytes))
		case <-ctx.Done():
			return fmt.Errorf("collector not listening on %v after %s\n%s", addrs, timeout, p.LogTailBytes(logTailBytes))
		case <-tick.C:
		}
	}
}

// logTailBytes is how much of a collector's log goes into an error message.
const logTailBytes = 2000

// BaselineBinary returns $BASELINE_BIN, or builds (or reuses the cached) baseline collector with
// testbed/baseline/build.sh.
func BaselineBinary(ctx context.Context) (string, error) {
	if p := os.Getenv("BASELINE_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("BASELINE_BIN %s: %w", p, err)
		}
		return p, nil
	}
	cmd := exec.CommandContext(ctx, "bash", harness.RepoPath("testbed/baseline/build.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("building the baseline collector: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

const pinnedEnv = "SIEVE_BENCH_PINNED"

// Pinned reports whether PinSelf already re-executed this process.
func Pinned() bool { return os.Getenv(pinnedEnv) != "" }

// PinSelf re-executes the current program under taskset on cpus, so the load generator and
// sinks stay off the collector's core. It returns only in the pinned process (or when pinning
// is not possible, reporting why).
func PinSelf(cpus string) error {
	if os.Getenv(pinnedEnv) == cpus {
		return nil
	}
	tasks, err := exec.LookPath("taskset")
	if err != nil {
		return fmt.Errorf("taskset not found: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	env := append(os.Environ(), pinnedEnv+"="+cpus)
	return syscall.Exec(tasks, append([]string{tasks, "-c", cpus, self}, os.Args[1:]...), env)
}
