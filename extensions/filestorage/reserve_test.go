package filestorage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/sieveobs/sieve/extensions/filestorage/internal/metadatatest"
)

const reserveName = "sieve-reserve-file_storage"

// fullDisk is a storage client whose writes fail with the error a full disk gives, fails
// times over; reads always succeed.
type fullDisk struct {
	storage.Client
	fails int
	err   error
	calls [][]*storage.Operation
}

func (f *fullDisk) Batch(_ context.Context, ops ...*storage.Operation) error {
	f.calls = append(f.calls, ops)
	if f.fails > 0 && writes(ops) {
		f.fails--
		if f.err != nil {
			return f.err
		}
		return fmt.Errorf("write /var/lib/sieve/exporter_loki__logs: %w", syscall.ENOSPC)
	}
	return nil
}

// reading is what the queue writes when it hands out item 7: its progress, and the item.
func reading() []*storage.Operation {
	return []*storage.Operation{storage.SetOperation("qmv0", []byte{1}), storage.GetOperation("7")}
}

// adding is what the queue writes for a new item 8.
func adding() []*storage.Operation {
	return []*storage.Operation{storage.SetOperation("qmv0", []byte{2}), storage.SetOperation("8", []byte("item"))}
}

func withReserve(size int64) func(*Config) {
	return func(c *Config) { c.ReserveBytes = size }
}

func guarded(s started, inner storage.Client) *guardedClient {
	return &guardedClient{Client: inner, ext: s.ext, queue: true}
}

// running starts the extension with a 1 MiB reserve in dir, its pipelines ready.
func running(t *testing.T, dir string) started {
	t.Helper()
	s := start(t, dir, withReserve(1<<20))
	require.NoError(t, s.ext.Ready())
	return s
}

// diskFree makes the extension see *avail bytes free on its disk.
func diskFree(s started, avail *int64) {
	s.ext.reserve.free = func(string) (int64, error) { return *avail, nil }
}

func TestReserveIsHeldOnDiskAtStart(t *testing.T) {
	dir := t.TempDir()
	start(t, dir, withReserve(1<<20))
	fi, err := os.Stat(filepath.Join(dir, reserveName))
	require.NoError(t, err)
	require.EqualValues(t, 1<<20, fi.Size())
	st := fi.Sys().(*syscall.Stat_t)
	require.GreaterOrEqual(t, st.Blocks*512, int64(1<<20), "the reserve is allocated, not sparse")
}

func TestReserveShrinksToAConfiguredSmallerSize(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, reserveName), make([]byte, 3<<20), 0o600))
	start(t, dir, withReserve(1<<20))
	fi, err := os.Stat(filepath.Join(dir, reserveName))
	require.NoError(t, err)
	require.EqualValues(t, 1<<20, fi.Size())
}

func TestFullDiskBookkeepingDrawsOnTheReserve(t *testing.T) {
	dir := t.TempDir()
	s := running(t, dir)
	var avail int64
	diskFree(s, &avail)
	inner := &fullDisk{fails: 1}
	g := guarded(s, inner)
	ctx := context.Background()

	require.NoError(t, g.Batch(ctx, reading()...), "the queue records that it read the item")
	require.Len(t, inner.calls, 2, "tried, then tried again once the reserve was given up")
	require.NoFileExists(t, filepath.Join(dir, reserveName))
	metadatatest.AssertEqualFileStorageReserveReleases(t, s.tel,
		[]metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())

	err := g.Batch(ctx, adding()...)
	require.ErrorIs(t, err, syscall.ENOSPC, "a new item is refused the way a full disk refuses it")
	require.Len(t, inner.calls, 2, "a refused item never reaches the disk")
	require.NoError(t, g.Set(ctx, "qmv0", []byte{3}), "bookkeeping still goes through")
	require.NoError(t, g.Delete(ctx, "7"), "so do deletions of delivered items")
	metadatatest.AssertEqualFileStorageItemsRefused(t, s.tel,
		[]metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	_, err = s.tel.GetMetric("otelcol_file_storage_bookkeeping_failures")
	require.Error(t, err, "nothing was lost")

	// Delivered items freed room; as long as half the reserve stays free, new items go in.
	avail = 1<<19 + 1
	require.NoError(t, g.Batch(ctx, adding()...))
	require.True(t, s.ext.reserve.isSpent(), "not taken again: too little room")
	avail = 1<<19 - 1
	require.ErrorIs(t, g.Batch(ctx, adding()...), errReserveSpent)
}

func TestItemsPutBackAtStartMayUseTheReserve(t *testing.T) {
	s := start(t, t.TempDir(), withReserve(1<<20))
	var avail int64
	diskFree(s, &avail)
	g := guarded(s, &fullDisk{fails: 1})
	ctx := context.Background()
	require.NoError(t, g.Batch(ctx, adding()...), "before the pipelines run, an item Set puts back acknowledged data")
	require.True(t, s.ext.reserve.isSpent())
	require.NoError(t, g.Batch(ctx, adding()...))
	require.NoError(t, s.ext.Ready())
	require.ErrorIs(t, g.Batch(ctx, adding()...), errReserveSpent)
}

func TestSpentReserveLosesCountedItems(t *testing.T) {
	s := running(t, t.TempDir())
	ctx := context.Background()
	// The reserve is given up for the first failure, and the retry takes the room it freed.
	require.NoError(t, guarded(s, &fullDisk{fails: 1}).Batch(ctx, reading()...))
	// The disk is full again, and there is nothing left to give.
	inner := &fullDisk{fails: 1}
	require.ErrorIs(t, guarded(s, inner).Batch(ctx, reading()...), syscall.ENOSPC)
	require.Len(t, inner.calls, 1)
	metadatatest.AssertEqualFileStorageBookkeepingFailures(t, s.tel,
		[]metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualFileStorageReserveReleases(t, s.tel,
		[]metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
}

func TestOtherErrorsAreLeftAlone(t *testing.T) {
	dir := t.TempDir()
	s := running(t, dir)
	ctx := context.Background()
	broken := errors.New("database not open")
	inner := &fullDisk{fails: 1, err: broken}
	require.ErrorIs(t, guarded(s, inner).Batch(ctx, reading()...), broken)
	require.Len(t, inner.calls, 1, "not tried again")
	require.FileExists(t, filepath.Join(dir, reserveName))

	reads := &fullDisk{fails: 1}
	require.NoError(t, guarded(s, reads).Batch(ctx, storage.GetOperation("7")), "a read needs no room")
	require.FileExists(t, filepath.Join(dir, reserveName))
}

func TestSpentReserveIsTakenAgainOnceTheDiskHasRoom(t *testing.T) {
	dir := t.TempDir()
	s := running(t, dir)
	ctx := context.Background()
	g := guarded(s, &fullDisk{fails: 1})
	require.NoError(t, g.Batch(ctx, reading()...))
	require.True(t, s.ext.reserve.isSpent())

	avail := int64(1<<20 + 1<<18)
	diskFree(s, &avail)
	s.ext.retakeReserve()
	require.True(t, s.ext.reserve.isSpent(), "1.25 reserves free is not enough room to take it back")
	require.NoFileExists(t, filepath.Join(dir, reserveName))

	avail = 2 << 20
	s.ext.retakeReserve()
	require.False(t, s.ext.reserve.isSpent())
	require.FileExists(t, filepath.Join(dir, reserveName))
	require.NoError(t, g.Batch(ctx, adding()...), "new items are accepted again")
}

func TestNoRoomForTheReserveAtStartRefusesNewItems(t *testing.T) {
	dir := t.TempDir()
	// A directory where the file should be: the reserve cannot be claimed, as on a full disk.
	require.NoError(t, os.Mkdir(filepath.Join(dir, reserveName), 0o700))
	s := running(t, dir)
	var avail int64
	diskFree(s, &avail)
	require.ErrorIs(t, guarded(s, &fullDisk{}).Batch(context.Background(), adding()...), errReserveSpent)
}

func TestReserveOffLeavesClientsAsTheyAre(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir, withReserve(0))
	c, err := s.ext.GetClient(context.Background(), component.KindExporter, exporterID, "logs")
	require.NoError(t, err)
	require.NoError(t, c.Close(context.Background()))
	_, wrapped := c.(*guardedClient)
	require.False(t, wrapped)
	require.NoFileExists(t, filepath.Join(dir, reserveName))
}

// A spent reserve comes back once the delivered items' pages are given back to the disk: the
// queue file is compacted, and the reserve is taken again.
func TestDrainedQueueFileIsCompactedAndTheReserveTakenAgain(t *testing.T) {
	dir := t.TempDir()
	s := running(t, dir)
	ctx := context.Background()
	client, err := s.ext.GetClient(ctx, component.KindExporter, exporterID, "logs")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, client.Close(ctx)) })
	item := make([]byte, 16<<10)
	for i := range 200 {
		require.NoError(t, client.Set(ctx, fmt.Sprint(i), item))
	}
	for i := range 200 {
		require.NoError(t, client.Delete(ctx, fmt.Sprint(i)))
	}
	queue := filepath.Join(dir, "exporter_loki__logs")
	size := func(path string) int64 {
		fi, err := os.Stat(path)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	// A disk that the drained file and 300 KiB fill, the reserve already given up.
	disk := size(queue) + 300<<10
	s.ext.reserve.free = func(string) (int64, error) { return disk - size(queue) - size(s.ext.reserve.path), nil }
	released, err := s.ext.reserve.release()
	require.NoError(t, err)
	require.True(t, released)
	require.ErrorIs(t, client.Set(ctx, "200", item), errReserveSpent)

	s.ext.retakeReserve()
	metadatatest.AssertEqualFileStorageCompactions(t, s.tel,
		[]metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	require.Less(t, size(queue), disk-300<<10-(1<<20), "compaction gave the free pages back")
	require.False(t, s.ext.reserve.isSpent())
	require.FileExists(t, s.ext.reserve.path)
	require.NoError(t, client.Set(ctx, "200", item), "new items are accepted again")
	got, err := client.Get(ctx, "200")
	require.NoError(t, err)
	require.Len(t, got, len(item))
}

// A receiver's checkpoints draw on the reserve too, but their failed write loses no queue item.
func TestOtherComponentsUseTheReserveWithoutCountingLosses(t *testing.T) {
	s := running(t, t.TempDir())
	var avail int64
	diskFree(s, &avail)
	ctx := context.Background()
	checkpoints := &guardedClient{Client: &fullDisk{fails: 1}, ext: s.ext}
	require.NoError(t, checkpoints.Set(ctx, "$.knownFiles", []byte{1}))
	require.True(t, s.ext.reserve.isSpent())
	require.NoError(t, checkpoints.Set(ctx, "12", []byte{1}), "a digit key of a receiver is not a queue item")
	require.ErrorIs(t, (&guardedClient{Client: &fullDisk{fails: 1}, ext: s.ext}).Set(ctx, "$.knownFiles", []byte{2}), syscall.ENOSPC)
	_, err := s.tel.GetMetric("otelcol_file_storage_bookkeeping_failures")
	require.Error(t, err, "no queue item was lost")
}
