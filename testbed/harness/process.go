package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Spec describes one child process.
type Spec struct {
	// Name names the process in error messages ("sieve", "loki", ...).
	Name string
	// Path is the program and Args its arguments.
	Path string
	Args []string
	// Dir is the working directory; empty keeps this process's.
	Dir string
	// Env is added to this process's environment, overriding variables of the same name.
	Env map[string]string
	// Unset names variables of this process's environment the child must not inherit.
	Unset []string
	// LogPath receives the child's stdout and stderr. The file is appended to, so a restarted
	// process continues its predecessor's log, unless TruncateLog is set.
	LogPath     string
	TruncateLog bool
	// CPUs, when set, pins the child with taskset -c (e.g. "0" or "2-3").
	CPUs string
}

// Process is a running child. It has its own process group, so signals reach anything it
// starts, and it is killed when the thread that started it dies (Pdeathsig), so a crashed test
// binary leaves no server behind.
type Process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
}

// Start starts the child and returns without waiting for it to be ready.
func Start(s Spec) (*Process, error) {
	name := s.Name
	if name == "" {
		name = s.Path
	}
	path, args := s.Path, s.Args
	if s.CPUs != "" {
		tasks, err := exec.LookPath("taskset")
		if err != nil {
			return nil, fmt.Errorf("pinning %s needs taskset (util-linux): %w", name, err)
		}
		path, args = tasks, append([]string{"-c", s.CPUs, s.Path}, s.Args...)
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if s.TruncateLog {
		flags = os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	}
	logFile, err := os.OpenFile(s.LogPath, flags, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: open log: %w", name, err)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = s.Dir
	cmd.Env = os.Environ()
	if len(s.Unset) > 0 {
		cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool {
			name, _, _ := strings.Cut(kv, "=")
			return slices.Contains(s.Unset, name)
		})
	}
	for k, v := range s.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("%s: start %s: %w", name, path, err)
	}
	p := &Process{name: name, logPath: s.LogPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// Name is the name the process was started with.
func (p *Process) Name() string { return p.name }

// PID is the child's process ID (taskset execs in place, so it is the program's).
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed when the child has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the child has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitError is what the child ended with (nil for exit status 0); nil while it runs.
func (p *Process) ExitError() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Wait waits up to timeout for the child to end by itself and reports whether it did.
func (p *Process) Wait(timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Stop sends SIGTERM to the child's process group and waits up to grace for it to exit; then it
// kills the group and reports that it had to.
func (p *Process) Stop(grace time.Duration) error {
	if p == nil || p.Exited() {
		return nil
	}
	_ = syscall.Kill(-p.PID(), syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("%s did not stop within %s of SIGTERM and was killed", p.name, grace)
}

// Kill ends the child's process group with SIGKILL, as a crash or the OOM killer would, and
// waits for it.
func (p *Process) Kill() error {
	if p.Exited() {
		return nil
	}
	if err := syscall.Kill(-p.PID(), syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	<-p.done
	return nil
}

// LogPath is the file holding the child's output.
func (p *Process) LogPath() string { return p.logPath }

// LogTail returns the last lines of the child's output, for error messages.
func (p *Process) LogTail(lines int) string { return LogTail(p.logPath, lines) }

// LogTailBytes returns the last n bytes of the child's output, trimmed of surrounding space.
func (p *Process) LogTailBytes(n int) string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

// LogTail returns the last lines of a log file, or "" when it cannot be read.
func LogTail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
