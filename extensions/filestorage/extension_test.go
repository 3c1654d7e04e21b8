package filestorage

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/sieveobs/sieve/extensions/filestorage/internal/metadata"
	"github.com/sieveobs/sieve/extensions/filestorage/internal/metadatatest"
)

const queueFile = "exporter_loki__logs"

var exporterID = component.MustNewID("loki")

// writeQueueFile makes a bbolt file shaped like a persistent queue: one bucket, many values
// large enough to need branch, leaf and overflow pages.
func writeQueueFile(t *testing.T, path string) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("default"))
		if err != nil {
			return err
		}
		for i := range 300 {
			if err := b.Put([]byte{byte(i >> 8), byte(i)}, []byte(strings.Repeat("x", 100+i*40))); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, db.Close())
}

func overwrite(t *testing.T, path string, off int64, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte(strings.Repeat("\xa5", n)), off)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

type started struct {
	ext *checked
	tel *componenttest.Telemetry
}

func start(t *testing.T, dir string, mutate func(*Config)) started {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.Directory = dir
	cfg.Compaction.Directory = dir
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := extensiontest.NewNopSettings(metadata.Type)
	set.ID = component.NewID(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	e, err := NewFactory().Create(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, e.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, e.Shutdown(context.Background())) })
	return started{ext: e.(*checked), tel: tel}
}

// roundTrip proves the queue's storage works after start: the file opens and takes writes.
func roundTrip(t *testing.T, ext storage.Extension) []byte {
	t.Helper()
	ctx := context.Background()
	client, err := ext.GetClient(ctx, component.KindExporter, exporterID, "logs")
	require.NoError(t, err)
	defer func() { require.NoError(t, client.Close(ctx)) }()
	old, err := client.Get(ctx, "\x00\x07")
	require.NoError(t, err)
	require.NoError(t, client.Set(ctx, "probe", []byte("ok")))
	got, err := client.Get(ctx, "probe")
	require.NoError(t, err)
	require.Equal(t, []byte("ok"), got)
	return old
}

func quarantined(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, queueFile+".*.corrupt"))
	require.NoError(t, err)
	return m
}

func TestHealthyQueueFileIsKept(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, queueFile)
	writeQueueFile(t, path)
	s := start(t, dir, nil)
	require.Empty(t, quarantined(t, dir))
	require.NotNil(t, roundTrip(t, s.ext), "the queue's items are still there")
	_, err := s.tel.GetMetric("otelcol_file_storage_files_quarantined")
	require.Error(t, err, "nothing counted")
}

func TestCorruptQueueFileIsMovedAsideAndCounted(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(t *testing.T, path string)
	}{
		{"truncated", func(t *testing.T, path string) {
			fi, err := os.Stat(path)
			require.NoError(t, err)
			require.NoError(t, os.Truncate(path, fi.Size()/3))
		}},
		{"header overwritten", func(t *testing.T, path string) { overwrite(t, path, 0, 8192) }},
		{"data pages overwritten", func(t *testing.T, path string) {
			fi, err := os.Stat(path)
			require.NoError(t, err)
			for off := int64(16384); off < fi.Size(); off += 3 * 4096 {
				overwrite(t, path, off, 4096)
			}
		}},
		{"not a database", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("not bbolt\n", 2000)), 0o600))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, queueFile)
			writeQueueFile(t, path)
			tt.corrupt(t, path)
			s := start(t, dir, nil)
			require.Len(t, quarantined(t, dir), 1, "the corrupt file is kept aside for inspection")
			require.Nil(t, roundTrip(t, s.ext), "the queue starts empty")
			metadatatest.AssertEqualFileStorageFilesQuarantined(t, s.tel,
				[]metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
		})
	}
}

func TestCheckOnStartOffLeavesFilesToFileStorage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, queueFile)
	writeQueueFile(t, path)
	overwrite(t, path, 0, 8192)
	s := start(t, dir, func(c *Config) { c.CheckOnStart = false })
	require.Empty(t, quarantined(t, dir))
	_, err := s.ext.GetClient(context.Background(), component.KindExporter, exporterID, "logs")
	require.Error(t, err, "without the check, file_storage refuses the file as before")
}

func TestForeignFilesAreLeftAlone(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"notes.txt", queueFile + ".20260101T000000.000Z.backup", "tempdb123", "exporter_empty__logs"} {
		content := []byte("not a database")
		if name == "exporter_empty__logs" {
			content = nil
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), content, 0o600))
	}
	start(t, dir, nil)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.ElementsMatch(t, []string{"notes.txt", queueFile + ".20260101T000000.000Z.backup", "tempdb123", "exporter_empty__logs", "sieve-reserve-file_storage"}, names)
}
