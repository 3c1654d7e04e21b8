package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat; Linux fixes it at 100 for
// user space on every architecture Sieve runs on.
const clockTicks = 100

// process is a collector running as a child.
type process struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

// startProcess runs bin with args, pinned to cpus with taskset when cpus is not empty.
func startProcess(bin string, args []string, env map[string]string, cpus, logPath string) (*process, error) {
	name := bin
	if cpus != "" {
		tasks, err := exec.LookPath("taskset")
		if err != nil {
			return nil, fmt.Errorf("pinning the collector needs taskset (util-linux): %w", err)
		}
		args = append([]string{"-c", cpus, bin}, args...)
		name = tasks
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Pdeathsig: a crashed benchmark must not leave a collector holding the core.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	p := &process{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and kills the process group if it has not exited within the grace period.
func (p *process) stop(grace time.Duration) error {
	if p.exited() {
		return nil
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("collector did not stop within %s and was killed", grace)
}

// logTail returns the end of the process's log for error messages.
func (p *process) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}

// waitListening waits until every address accepts TCP connections or the process exits.
func (p *process) waitListening(ctx context.Context, timeout time.Duration, addrs ...string) error {
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
		case <-p.done:
			return fmt.Errorf("collector exited during start-up: %v\n%s", p.err, p.logTail())
		case <-ctx.Done():
			return fmt.Errorf("collector not listening on %v after %s\n%s", addrs, timeout, p.logTail())
		case <-tick.C:
		}
	}
}

// cpuSeconds returns the user+system CPU time the process has used.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; fields are counted after its closing parenthesis.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	// utime and stime are fields 14 and 15 of stat, i.e. 12 and 13 after the state field.
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return float64(ut+st) / clockTicks, nil
}

// runDelaySeconds sums, over the process's threads, the time they were runnable but waiting
// for a CPU (/proc/PID/task/*/schedstat, second field). A large share means the machine, not
// the collector, limited the run. Threads that exited in between are not counted.
func runDelaySeconds(pid int) (float64, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, err
	}
	var ns uint64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue // the thread exited
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err == nil {
			ns += v
		}
	}
	return float64(ns) / 1e9, nil
}

// statusKB returns a "VmXxx:" value of /proc/PID/status in KiB.
func statusKB(pid int, key string) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			return strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s not in /proc/%d/status", key, pid)
}

// peakWatcher samples a /proc/<pid>/status field until stopped and keeps the highest value
// (kB). The kernel keeps a high-water mark only for the whole RSS (VmHWM), not for its
// anonymous part.
type peakWatcher struct {
	pid  int
	key  string
	peak atomic.Uint64
	stop chan struct{}
	done chan struct{}
}

func watchPeak(pid int, key string, interval time.Duration) *peakWatcher {
	w := &peakWatcher{pid: pid, key: key, stop: make(chan struct{}), done: make(chan struct{})}
	w.sample()
	go func() {
		defer close(w.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
				w.sample()
			}
		}
	}()
	return w
}

func (w *peakWatcher) sample() {
	if v, err := statusKB(w.pid, w.key); err == nil && v > w.peak.Load() {
		w.peak.Store(v)
	}
}

// Peak is the highest value sampled so far.
func (w *peakWatcher) Peak() uint64 { return w.peak.Load() }

// Stop ends sampling and returns the peak, including one last sample.
func (w *peakWatcher) Stop() uint64 {
	close(w.stop)
	<-w.done
	w.sample()
	return w.peak.Load()
}

func freeAddrs(n int) ([]string, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []string
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// SieveBinary returns $SIEVE_BIN or bin/sieve at the repository root.
func SieveBinary() (string, error) {
	p := os.Getenv("SIEVE_BIN")
	if p == "" {
		p = filepath.Join(repoRoot(), "bin", "sieve")
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("sieve binary %s: %w (run `make build` at the repository root or set SIEVE_BIN)", p, err)
	}
	return filepath.Abs(p)
}

// BaselineBinary returns $BASELINE_BIN, or builds (or reuses the cached) baseline collector with
// testbed/baseline/build.sh.
func BaselineBinary(ctx context.Context) (string, error) {
	if p := os.Getenv("BASELINE_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("BASELINE_BIN %s: %w", p, err)
		}
		return p, nil
	}
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot(), "testbed", "baseline", "build.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("building the baseline collector: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
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
