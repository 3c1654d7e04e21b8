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

	"github.com/sieveobs/sieve/testbed/harness"
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
	r                  *Rig
	logs               *Stream
	sent, acked, fails uint64
	enqueueFailed      float64
	// reserve is what file_storage's reserve did while the disk filled.
	reserve reserveUse
}

// reserveUse is file_storage's account of its reserve in one process.
type reserveUse struct {
	releases, refused, compactions, lost float64
}

func reserveOf(t *testing.T, r *Rig) reserveUse {
	t.Helper()
	text, err := harness.Scrape(context.Background(), nil, r.Proc.TelemetryURL)
	require.NoError(t, err)
	return reserveUse{
		releases:    text.Sum("otelcol_file_storage_reserve_releases"),
		refused:     text.Sum("otelcol_file_storage_items_refused"),
		compactions: text.Sum("otelcol_file_storage_compactions"),
		lost:        text.Sum("otelcol_file_storage_bookkeeping_failures"),
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
func sendUntilRefused(t *testing.T, dir string, env map[string]string) (*Rig, *Stream) {
	t.Helper()
	r := NewRig(t, "crash.yaml", true, env)
	r.Opts.StorageDir, r.Storage = dir, dir
	r.Start()
	logs := NewStream(loadgen.Logs, "grpc", 5000)
	l := StartLoad(t, r.Proc, logs)
	deadline := time.Now().Add(harness.Pick(60*time.Second, 120*time.Second))
	for {
		_, acked, fails := logs.Counts()
		if fails > 20 && acked > 0 {
			break
		}
		if time.Now().After(deadline) || r.Proc.Exited() {
			l.Stop()
			t.Fatalf("the queue never filled up: acked=%d failed requests=%d exited=%v", acked, fails, r.Proc.Exited())
		}
		Pause(200 * time.Millisecond)
	}
	Pause(harness.Pick(2*time.Second, 10*time.Second))
	l.Stop()
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
	fd.sent, fd.acked, fd.fails = logs.Counts()
	require.False(t, r.Proc.Exited(), "Sieve died on a full disk:\n%s", r.Proc.LogTail(30))
	require.True(t, healthy(r.Proc.HealthURL), "Sieve is not healthy with a full queue disk")
	require.True(t, retryable(logs.LastError()), "a full queue must refuse retryably, got %v", logs.LastError())
	text, err := harness.Scrape(context.Background(), nil, r.Proc.TelemetryURL)
	require.NoError(t, err)
	fd.enqueueFailed = text.Sum("otelcol_exporter_enqueue_failed_log_records")
	require.Positive(t, fd.enqueueFailed, "refused records are not counted")
	logText, err := os.ReadFile(r.Proc.LogPath)
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
	r.Sink.SetFaults(sinks.Faults{})
	r.WaitDelivered(harness.Pick(60*time.Second, 3*time.Minute), logs)
	t.Logf("after the drain: %s", diskUse(r.Storage))
	// The drained file gives its pages back to the disk when it is next compacted (at most
	// every 5 s while items are refused); from then on new data must be accepted.
	l := StartLoad(t, r.Proc, logs)
	drained := time.Now()
	for {
		if _, acked, _ := logs.Counts(); acked > fd.acked || time.Since(drained) > 30*time.Second {
			break
		}
		Pause(100 * time.Millisecond)
	}
	recovered := time.Since(drained)
	Pause(2 * time.Second)
	l.Stop()
	_, ackedAfter, _ := logs.Counts()
	require.Greater(t, ackedAfter, fd.acked, "Sieve accepts nothing within 30 s of the queue draining: %s", diskUse(r.Storage))
	t.Logf("accepting again %s after the drain: %s", recovered.Round(100*time.Millisecond), diskUse(r.Storage))
	vs := r.WaitDelivered(harness.Pick(60*time.Second, 3*time.Minute), logs)
	after := reserveOf(t, r)
	t.Logf("queue disk full (2 MiB tmpfs): %srestarts=%d while_full: sent=%d acked=%d refused_requests=%d enqueue_failed_records=%.0f %s; at_end: %s; accepted_after_drain=%d",
		r.Figures(vs, logs), r.Restarts, fd.sent, fd.acked, fd.fails, fd.enqueueFailed, fd.reserve, after, ackedAfter-fd.acked)
	require.Zero(t, after.lost, "queue bookkeeping failed for lack of space")
}

// A crash while the queue disk is full: the next process must start although compaction and
// the re-queueing of batches that were being sent have no room, and deliver every item that was
// acknowledged before the crash.
func TestRestartOnFullQueueDiskLosesNothingAcknowledged(t *testing.T) {
	fd := fillQueueDisk(t)
	r, logs := fd.r, fd.logs
	require.NoError(t, r.Proc.Kill())
	r.Restart()
	t.Cleanup(func() {
		// Whether a loss at least shows in the restarted process' telemetry.
		if text, err := harness.Scrape(context.Background(), nil, r.Proc.TelemetryURL); err == nil && t.Failed() {
			t.Logf("after restart: send_failed_log_records=%.0f enqueue_failed_log_records=%.0f queue_size=%.0f sent_log_records=%.0f",
				text.Sum("otelcol_exporter_send_failed_log_records"), text.Sum("otelcol_exporter_enqueue_failed_log_records"),
				text.Sum("otelcol_exporter_queue_size", "exporter", "loki"), text.Sum("otelcol_exporter_sent_log_records"))
			t.Logf("log of the restarted process:\n%s", r.Proc.LogTail(40))
		}
	})
	r.Sink.SetFaults(sinks.Faults{})
	vs := r.WaitDelivered(harness.Pick(60*time.Second, 3*time.Minute), logs)
	after := reserveOf(t, r)
	t.Logf("restart on full queue disk (2 MiB tmpfs): %srestarts=%d while_full: refused_requests=%d enqueue_failed_records=%.0f %s; after_restart: %s",
		r.Figures(vs, logs), r.Restarts, fd.fails, fd.enqueueFailed, fd.reserve, after)
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
		l := StartLoad(t, r.Proc, logs)
		if round == 2 {
			r.Sink.SetFaults(sinks.Faults{})
		}
		Pause(harness.Pick(3*time.Second, 15*time.Second))
		uses = append(uses, reserveOf(t, r))
		if round < 2 {
			require.NoError(t, r.Proc.Kill())
			l.Stop()
			r.Restart()
			continue
		}
		l.Stop()
	}
	vs := r.WaitDelivered(harness.Pick(60*time.Second, 3*time.Minute), logs)
	uses[len(uses)-1] = reserveOf(t, r)
	t.Logf("full queue disk under load (2 MiB tmpfs), killed twice: %srestarts=%d while_full: refused_requests=%d %s; processes: %v; at_end: %s",
		r.Figures(vs, logs), r.Restarts, fd.fails, fd.reserve, uses, diskUse(r.Storage))
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
			r := NewRig(t, "crash.yaml", true, nil)
			r.Start()
			logs := NewStream(loadgen.Logs, "grpc", 3000)
			l := StartLoad(t, r.Proc, logs)
			Pause(1500 * time.Millisecond)
			l.Stop()
			_, ackedBefore, _ := logs.Counts()
			require.NoError(t, r.Proc.Kill())
			files, err := filepath.Glob(filepath.Join(r.Storage, "exporter_loki_*"))
			require.NoError(t, err)
			require.Len(t, files, 1, "the Loki exporter's queue file")
			fi, err := os.Stat(files[0])
			require.NoError(t, err)
			require.NoError(t, tc.do(files[0]))

			p, err := r.Proc.Launch()
			require.NoError(t, err)
			r.Proc = p
			r.Restarts++
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			require.NoError(t, p.WaitHealthy(ctx), "Sieve does not start with a corrupted queue file; a supervisor would restart it in a loop")
			Pause(3 * time.Second)
			require.False(t, p.Exited(), "Sieve exited after starting with a corrupted queue file:\n%s", p.LogTail(30))
			require.True(t, healthy(p.HealthURL))
			logText, err := os.ReadFile(p.LogPath)
			require.NoError(t, err)
			require.Regexp(t, `(?i)corrupt`, string(logText), "the lost queue is not logged")
			text, err := harness.Scrape(context.Background(), nil, p.TelemetryURL)
			require.NoError(t, err)
			require.Equal(t, 1.0, text.Sum("otelcol_file_storage_files_quarantined"), "the lost queue is not counted")

			// New data flows again once the backend is up. Old items may be lost; only what
			// this process acknowledged is owed.
			r.Sink.SetFaults(sinks.Faults{})
			fresh := NewStream(loadgen.Logs, "grpc", 3000)
			fresh.next = logs.next
			l = StartLoad(t, r.Proc, fresh)
			Pause(1500 * time.Millisecond)
			l.Stop()
			vs := r.WaitDelivered(60*time.Second, fresh)
			old := r.Sink.Loki.Snapshot().TotalUnique() - vs[loadgen.Logs].Delivered
			t.Logf("corrupted queue (%s, %d bytes): %srestarts=%d acked_before_corruption=%d of_them_delivered=%d",
				tc.name, fi.Size(), r.Figures(vs, fresh), r.Restarts, ackedBefore, old)
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
	require.True(t, retryable(logs.LastError()), "a full queue must refuse retryably, got %v", logs.LastError())
	text, err := harness.Scrape(context.Background(), nil, r.Proc.TelemetryURL)
	require.NoError(t, err)
	enqueueFailed := text.Sum("otelcol_exporter_enqueue_failed_log_records")
	require.Positive(t, enqueueFailed, "refused records are not counted")
	logText, err := os.ReadFile(r.Proc.LogPath)
	require.NoError(t, err)
	require.NotContains(t, string(logText), "no space left on device", "the queue bound must keep the disk from filling")
	require.NoError(t, r.Proc.Kill())
	r.Restart()
	r.Sink.SetFaults(sinks.Faults{})
	vs := r.WaitDelivered(harness.Pick(60*time.Second, 3*time.Minute), logs)
	_, _, fails := logs.Counts()
	t.Logf("restart with byte-bounded queue (800 kB on 2 MiB tmpfs): %srestarts=%d refused_requests=%d enqueue_failed_records=%.0f",
		r.Figures(vs, logs), r.Restarts, fails, enqueueFailed)
}
