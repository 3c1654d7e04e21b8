package crash

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sieveobs/sieve/testbed/loadgen"
	"github.com/sieveobs/sieve/testbed/sinks"
)

func healthy(url string) bool {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// retryable reports whether a refusal tells an OTLP client to retry.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.ResourceExhausted, codes.Aborted, codes.DeadlineExceeded:
		return true
	}
	return false
}

// fullDisk is Sieve with its queue on a 2 MiB tmpfs, the backend down, and logs sent until the
// queue disk is full and Sieve refuses them.
type fullDisk struct {
	r                  *rig
	logs               *stream
	sent, acked, fails uint64
	enqueueFailed      float64
	// reserve is what file_storage's reserve did while the disk filled.
	reserve reserveUse
}

// reserveUse is file_storage's account of its reserve in one process.
type reserveUse struct {
	releases, refused, compactions, lost float64
}

func reserveOf(t *testing.T, r *rig) reserveUse {
	t.Helper()
	text, err := scrape(r.proc.TelemetryURL)
	require.NoError(t, err)
	return reserveUse{
		releases:    metricSum(text, "otelcol_file_storage_reserve_releases"),
		refused:     metricSum(text, "otelcol_file_storage_items_refused"),
		compactions: metricSum(text, "otelcol_file_storage_compactions"),
		lost:        metricSum(text, "otelcol_file_storage_bookkeeping_failures"),
	}
}

func (u reserveUse) String() string {
	return fmt.Sprintf("reserve_releases=%.0f items_refused=%.0f compactions=%.0f bookkeeping_failures=%.0f",
		u.releases, u.refused, u.compactions, u.lost)
}

// smallDisk mounts a 2 MiB tmpfs for the queue, or skips the test where that is not allowed.
func smallDisk(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting the 2 MiB tmpfs that plays the full disk needs root")
	}
	dir := filepath.Join(t.TempDir(), "storage")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs for the full disk (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// sendUntilRefused starts Sieve on dir with the backend down and sends logs until Sieve has
// refused a good number of requests.
func sendUntilRefused(t *testing.T, dir string, env map[string]string) (*rig, *stream) {
	t.Helper()
	r := newRig(t, "crash.yaml", true, env)
	r.opts.StorageDir, r.storage = dir, dir
	r.start()
	logs := newStream(loadgen.Logs, "grpc", 5000)
	l := startLoad(t, r.proc, logs)
	deadline := time.Now().Add(size(60*time.Second, 120*time.Second))
	for {
		_, acked, fails := logs.counts()
		if fails > 20 && acked > 0 {
			break
		}
		if time.Now().After(deadline) || r.proc.Exited() {
			l.stop()
			t.Fatalf("the queue never filled up: acked=%d failed requests=%d exited=%v", acked, fails, r.proc.Exited())
		}
		pause(200 * time.Millisecond)
	}
	pause(size(2*time.Second, 10*time.Second))
	l.stop()
	return r, logs
}

// diskUse lists the files of the queue directory with the blocks they use, and the room left.
func diskUse(dir string) string {
	var b strings.Builder
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if info, err := e.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				fmt.Fprintf(&b, "%s=%dKiB ", e.Name(), st.Blocks/2)
			}
		}
	}
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) == nil {
		fmt.Fprintf(&b, "free=%dKiB", int64(st.Bavail)*st.Bsize/1024)
	}
	return b.String()
}

func fillQueueDisk(t *testing.T) *fullDisk {
	t.Helper()
	r, logs := sendUntilRefused(t, smallDisk(t), nil)
	fd := &fullDisk{r: r, logs: logs}
	fd.sent, fd.acked, fd.fails = logs.counts()
	require.False(t, r.proc.Exited(), "Sieve died on a full disk:\n%s", r.proc.LogTail(30))
	require.True(t, healthy(r.proc.HealthURL), "Sieve is not healthy with a full queue disk")
	require.True(t, retryable(logs.lastError()), "a full queue must refuse retryably, got %v", logs.lastError())
	text, err := scrape(r.proc.TelemetryURL)
	require.NoError(t, err)
	fd.enqueueFailed = metricSum(text, "otelcol_exporter_enqueue_failed_log_records")
	require.Positive(t, fd.enqueueFailed, "refused records are not counted")
	logText, err := os.ReadFile(r.proc.LogPath)
	require.NoError(t, err)
	require.Contains(t, string(logText), "no space left on device", "the full disk is not logged")
	fd.reserve = reserveOf(t, r)
	return fd
}

// A full disk under the persistent queue must refuse new data (retryably, counted, logged)
// instead of acknowledging what it cannot persist, keep Sieve running, and recover once the
// queue drains.
func TestQueueDiskFullRefusesAndRecovers(t *testing.T) {
	fd := fillQueueDisk(t)
	r, logs := fd.r, fd.logs
	// The backend returns: everything acknowledged arrives, and once the queue drained new
	// data is accepted again.
	r.sink.SetFaults(sinks.Faults{})
	r.waitDelivered(size(60*time.Second, 3*time.Minute), logs)
	t.Logf("after the drain: %s", diskUse(r.storage))
	// The drained file gives its pages back to the disk when it is next compacted (at most
	// every 5 s while items are refused); from then on new data must be accepted.
	l := startLoad(t, r.proc, logs)
	drained := time.Now()
	for {
		if _, acked, _ := logs.counts(); acked > fd.acked || time.Since(drained) > 30*time.Second {
			break
		}
		pause(100 * time.Millisecond)
	}
	recovered := time.Since(drained)
	pause(2 * time.Second)
	l.stop()
	_, ackedAfter, _ := logs.counts()
	require.Greater(t, ackedAfter, fd.acked, "Sieve accepts nothing within 30 s of the queue draining: %s", diskUse(r.storage))
	t.Logf("accepting again %s after the drain: %s", recovered.Round(100*time.Millisecond), diskUse(r.storage))
	vs := r.waitDelivered(size(60*time.Second, 3*time.Minute), logs)
	after := reserveOf(t, r)
	t.Logf("queue disk full (2 MiB tmpfs): %srestarts=%d while_full: sent=%d acked=%d refused_requests=%d enqueue_failed_records=%.0f %s; at_end: %s; accepted_after_drain=%d",
		r.figures(vs, logs), r.restarts, fd.sent, fd.acked, fd.fails, fd.enqueueFailed, fd.reserve, after, ackedAfter-fd.acked)
	require.Zero(t, after.lost, "queue bookkeeping failed for lack of space")
}

// A crash while the queue disk is full: the next process must start although compaction and
// the re-queueing of batches that were being sent have no room, and deliver every item that was
// acknowledged before the crash.
func TestRestartOnFullQueueDiskLosesNothingAcknowledged(t *testing.T) {
	fd := fillQueueDisk(t)
	r, logs := fd.r, fd.logs
	require.NoError(t, r.proc.Kill())
	r.restart()
	t.Cleanup(func() {
		// Whether a loss at least shows in the restarted process' telemetry.
		if text, err := scrape(r.proc.TelemetryURL); err == nil && t.Failed() {
			t.Logf("after restart: send_failed_log_records=%.0f enqueue_failed_log_records=%.0f queue_size=%.0f sent_log_records=%.0f",
				metricSum(text, "otelcol_exporter_send_failed_log_records"), metricSum(text, "otelcol_exporter_enqueue_failed_log_records"),
				metricSum(text, "otelcol_exporter_queue_size", `exporter="loki"`), metricSum(text, "otelcol_exporter_sent_log_records"))
			t.Logf("log of the restarted process:\n%s", r.proc.LogTail(40))
		}
	})
	r.sink.SetFaults(sinks.Faults{})
	vs := r.waitDelivered(size(60*time.Second, 3*time.Minute), logs)
	after := reserveOf(t, r)
	t.Logf("restart on full queue disk (2 MiB tmpfs): %srestarts=%d while_full: refused_requests=%d enqueue_failed_records=%.0f %s; after_restart: %s",
		r.figures(vs, logs), r.restarts, fd.fails, fd.enqueueFailed, fd.reserve, after)
	require.Zero(t, fd.reserve.lost+after.lost, "queue bookkeeping failed for lack of space")
}

// The disk stays full while data keeps coming: Sieve is killed and restarted twice with the
// backend down and senders pushing more than the disk holds, then the backend returns under
// the same load. New data and the queue's bookkeeping compete for the last pages; the
// bookkeeping must win, or the queue skips acknowledged items.
func TestFullQueueDiskUnderLoadLosesNothingAcknowledged(t *testing.T) {
	fd := fillQueueDisk(t)
	r, logs := fd.r, fd.logs
	var uses []reserveUse
	for round := range 3 {
		l := startLoad(t, r.proc, logs)
		if round == 2 {
			r.sink.SetFaults(sinks.Faults{})
		}
		pause(size(3*time.Second, 15*time.Second))
		uses = append(uses, reserveOf(t, r))
		if round < 2 {
			require.NoError(t, r.proc.Kill())
			l.stop()
			r.restart()
			continue
		}
		l.stop()
	}
	vs := r.waitDelivered(size(60*time.Second, 3*time.Minute), logs)
	uses[len(uses)-1] = reserveOf(t, r)
	t.Logf("full queue disk under load (2 MiB tmpfs), killed twice: %srestarts=%d while_full: refused_requests=%d %s; processes: %v; at_end: %s",
		r.figures(vs, logs), r.restarts, fd.fails, fd.reserve, uses, diskUse(r.storage))
	for _, u := range append(uses, fd.reserve) {
		require.Zero(t, u.lost, "queue bookkeeping failed for lack of space")
	}
}

// corruptions damage a bbolt file the way a failing disk or a torn write would.
var corruptions = []struct {
	name string
	do   func(path string) error
}{
	{"truncated", func(path string) error {
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		return os.Truncate(path, fi.Size()/3)
	}},
	{"header overwritten", func(path string) error { return overwrite(path, 0, 8192) }},
	{"data pages overwritten", func(path string) error {
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		for off := int64(16384); off < fi.Size(); off += 3 * 4096 {
			if err := overwrite(path, off, 4096); err != nil {
				return err
			}
		}
		return nil
	}},
}

func overwrite(path string, off int64, n int) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	junk := make([]byte, n)
	for i := range junk {
		junk[i] = byte(0xa5 ^ i*7)
	}
	_, err = f.WriteAt(junk, off)
	return errors.Join(err, f.Close())
}

// A corrupted queue file must not put Sieve in a crash loop: the next process starts, stays
// healthy, logs that the queue was lost and carries on delivering new data.
func TestCorruptedQueueFileDoesNotCrashLoop(t *testing.T) {
	for _, tc := range corruptions {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, "crash.yaml", true, nil)
			r.start()
			logs := newStream(loadgen.Logs, "grpc", 3000)
			l := startLoad(t, r.proc, logs)
			pause(1500 * time.Millisecond)
			l.stop()
			_, ackedBefore, _ := logs.counts()
			require.NoError(t, r.proc.Kill())
			files, err := filepath.Glob(filepath.Join(r.storage, "exporter_loki_*"))
			require.NoError(t, err)
			require.Len(t, files, 1, "the Loki exporter's queue file")
			fi, err := os.Stat(files[0])
			require.NoError(t, err)
			require.NoError(t, tc.do(files[0]))

			p, err := r.proc.Launch()
			require.NoError(t, err)
			r.proc = p
			r.restarts++
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			require.NoError(t, p.WaitHealthy(ctx), "Sieve does not start with a corrupted queue file; a supervisor would restart it in a loop")
			pause(3 * time.Second)
			require.False(t, p.Exited(), "Sieve exited after starting with a corrupted queue file:\n%s", p.LogTail(30))
			require.True(t, healthy(p.HealthURL))
			logText, err := os.ReadFile(p.LogPath)
			require.NoError(t, err)
			require.Regexp(t, `(?i)corrupt`, string(logText), "the lost queue is not logged")
			text, err := scrape(p.TelemetryURL)
			require.NoError(t, err)
			require.Equal(t, 1.0, metricSum(text, "otelcol_file_storage_files_quarantined"), "the lost queue is not counted")

			// New data flows again once the backend is up. Old items may be lost; only what
			// this process acknowledged is owed.
			r.sink.SetFaults(sinks.Faults{})
			fresh := newStream(loadgen.Logs, "grpc", 3000)
			fresh.next = logs.next
			l = startLoad(t, r.proc, fresh)
			pause(1500 * time.Millisecond)
			l.stop()
			vs := r.waitDelivered(60*time.Second, fresh)
			old := r.sink.Loki.Snapshot().TotalUnique() - vs[loadgen.Logs].Delivered
			t.Logf("corrupted queue (%s, %d bytes): %srestarts=%d acked_before_corruption=%d of_them_delivered=%d",
				tc.name, fi.Size(), r.figures(vs, fresh), r.restarts, ackedBefore, old)
		})
	}
}

// The configuration that avoids the full disk: a persistent queue bounded in bytes well below
// the volume refuses (retryably) before the disk fills, so a crash in that state leaves room
// for compaction and the re-queueing at start, and nothing acknowledged is lost.
func TestRestartWithByteBoundedQueueNearFullDiskLosesNothing(t *testing.T) {
	r, logs := sendUntilRefused(t, smallDisk(t), map[string]string{
		// 800 kB of OTLP encoding on the 2 MiB volume.
		"SIEVE_TEST_LOKI_QUEUE_SIZER": "bytes",
		"SIEVE_TEST_LOKI_QUEUE_SIZE":  "800000",
	})
	require.True(t, retryable(logs.lastError()), "a full queue must refuse retryably, got %v", logs.lastError())
	text, err := scrape(r.proc.TelemetryURL)
	require.NoError(t, err)
	enqueueFailed := metricSum(text, "otelcol_exporter_enqueue_failed_log_records")
	require.Positive(t, enqueueFailed, "refused records are not counted")
	logText, err := os.ReadFile(r.proc.LogPath)
	require.NoError(t, err)
	require.NotContains(t, string(logText), "no space left on device", "the queue bound must keep the disk from filling")
	require.NoError(t, r.proc.Kill())
	r.restart()
	r.sink.SetFaults(sinks.Faults{})
	vs := r.waitDelivered(size(60*time.Second, 3*time.Minute), logs)
	_, _, fails := logs.counts()
	t.Logf("restart with byte-bounded queue (800 kB on 2 MiB tmpfs): %srestarts=%d refused_requests=%d enqueue_failed_records=%.0f",
		r.figures(vs, logs), r.restarts, fails, enqueueFailed)
}
