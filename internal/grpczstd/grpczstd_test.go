package grpczstd

import (
	"bytes"
	"io"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
	_ "go.opentelemetry.io/collector/config/configgrpc" // registers the collector's zstd compressor too
	"go.uber.org/goleak"
	"google.golang.org/grpc/encoding"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func decompress(t *testing.T, frame []byte) ([]byte, error) {
	t.Helper()
	c := encoding.GetCompressor(Name)
	require.NotNil(t, c)
	r, err := c.Decompress(bytes.NewReader(frame))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestRoundTripThroughTheRegisteredCompressor(t *testing.T) {
	c := encoding.GetCompressor(Name)
	_, ours := c.(*compressor)
	require.True(t, ours, "the registered zstd compressor must be this package's")
	payload := bytes.Repeat([]byte("otlp payload "), 10_000)
	for range 3 { // pooled encoders and decoders are reused
		var buf bytes.Buffer
		w, err := c.Compress(&buf)
		require.NoError(t, err)
		_, err = w.Write(payload)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		got, err := decompress(t, buf.Bytes())
		require.NoError(t, err)
		require.Equal(t, payload, got)
	}
}

// rleFrame is a hand-made zstd frame declaring a window of 1<<log bytes, followed by RLE blocks
// that inflate to n bytes of 'x', as a hostile sender would craft it.
func rleFrame(log uint, n int) []byte {
	const blockSize = 16 << 10
	b := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, byte(log-10) << 3}
	for done := 0; done < n; done += blockSize {
		last := uint32(0)
		if done+blockSize >= n {
			last = 1
		}
		hdr := last | 1<<1 | blockSize<<3
		b = append(b, byte(hdr), byte(hdr>>8), byte(hdr>>16), 'x')
	}
	return b
}

func TestRefusesFramesDeclaringAHugeWindow(t *testing.T) {
	huge := rleFrame(29, 64<<10)
	hdr := zstd.Header{}
	require.NoError(t, hdr.Decode(huge))
	require.Equal(t, uint64(512<<20), hdr.WindowSize)
	_, err := decompress(t, huge)
	require.Error(t, err)

	// The same frame with a window within the bound decodes: the refusal is about the window.
	got, err := decompress(t, rleFrame(20, 64<<10))
	require.NoError(t, err)
	require.Equal(t, bytes.Repeat([]byte{'x'}, 64<<10), got)
}
