package harness

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat; Linux fixes it at 100
// for user space whatever the kernel's tick rate.
const clockTicks = 100

// statFields returns the fields of /proc/<pid>/stat after the command name: index 0 is the
// state, 1 the parent pid, 11 utime and 12 stime.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	// The command name may hold spaces and parentheses; it ends at the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return nil, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	return f, nil
}

// CPUSeconds is the user plus system CPU time the process used so far.
func CPUSeconds(pid int) (float64, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime %q %q", pid, f[11], f[12])
	}
	return float64(utime+stime) / clockTicks, nil
}

// RunDelaySeconds sums, over the process's threads, the time they were runnable but waiting for
// a CPU (/proc/<pid>/task/*/schedstat, second field). A large share means the machine, not the
// process, limited a run. Threads that exited in between are not counted.
func RunDelaySeconds(pid int) (float64, error) {
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
		if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
			ns += v
		}
	}
	return float64(ns) / 1e9, nil
}

// StatusKiB reads a kB field of /proc/<pid>/status, e.g. VmRSS, RssAnon or VmHWM (peak RSS).
func StatusKiB(pid int, field string) (uint64, error) {
	fh, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		return strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

// PeakWatcher samples a /proc/<pid>/status field until stopped and keeps the highest value. The
// kernel keeps a high-water mark only for the whole RSS (VmHWM), not for its anonymous part, and
// a reading at the end of a test would miss a peak an OOM killer would have seen.
type PeakWatcher struct {
	pid   int
	field string
	first uint64
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once

	mu   sync.Mutex
	peak uint64
}

// WatchPeak samples field every interval from now on. The watcher runs even when the first
// sample fails; the error says why.
func WatchPeak(pid int, field string, interval time.Duration) (*PeakWatcher, error) {
	w := &PeakWatcher{pid: pid, field: field, stop: make(chan struct{}), done: make(chan struct{})}
	first, err := StatusKiB(pid, field)
	w.first, w.peak = first, first
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
	return w, err
}

func (w *PeakWatcher) sample() {
	if v, err := StatusKiB(w.pid, w.field); err == nil {
		w.mu.Lock()
		w.peak = max(w.peak, v)
		w.mu.Unlock()
	}
}

// First is the value (KiB) when watching began.
func (w *PeakWatcher) First() uint64 { return w.first }

// Peak is the highest value (KiB) sampled so far.
func (w *PeakWatcher) Peak() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peak
}

// FirstBytes and PeakBytes are First and Peak in bytes.
func (w *PeakWatcher) FirstBytes() int64 { return int64(w.First()) << 10 }
func (w *PeakWatcher) PeakBytes() int64  { return int64(w.Peak()) << 10 }

// Stop ends sampling, takes one last sample and returns the peak (KiB). It may be called more
// than once.
func (w *PeakWatcher) Stop() uint64 {
	w.once.Do(func() {
		close(w.stop)
		<-w.done
		w.sample()
	})
	return w.Peak()
}
