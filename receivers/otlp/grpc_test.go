package otlp

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"google.golang.org/grpc/mem"
)

// poisonPool overwrites every buffer returned to it, so a request read after its buffer was
// released no longer holds its bytes.
type poisonPool struct{ puts atomic.Int32 }

func (p *poisonPool) Get(n int) *[]byte {
	b := make([]byte, n)
	return &b
}

func (p *poisonPool) Put(b *[]byte) {
	for i := range *b {
		(*b)[i] = 0xEE
	}
	p.puts.Add(1)
}

// The request's bytes stay gRPC's own buffer, unchanged, for the whole export call, and the
// buffer is released once the call returns, as gRPC releases it after decoding when a codec
// keeps no reference. A message in several pieces is copied once.
func TestGRPCRequestBufferHeldUntilExportReturns(t *testing.T) {
	// Pieces of at least 1 KiB: gRPC does not pool smaller buffers.
	want := bytes.Repeat([]byte("an OTLP request, as bytes. "), 200)
	for _, pieces := range []int{1, 2} {
		pool := &poisonPool{}
		parts := [][]byte{want}
		if pieces == 2 {
			parts = [][]byte{want[:2048], want[2048:]}
		}
		var slice mem.BufferSlice
		for _, part := range parts {
			b := pool.Get(len(part))
			copy(*b, part)
			slice = append(slice, mem.NewBuffer(b, pool))
		}
		var during []byte
		var putsDuring int32
		desc := exportService(logsService, func(_ context.Context, _ *receiverhelper.ObsReport, body []byte) error {
			during = bytes.Clone(body)
			putsDuring = pool.puts.Load()
			return nil
		})
		dec := func(v any) error {
			err := newRawCodec().Unmarshal(slice, v)
			slice.Free() // gRPC releases its reference once the codec returns
			return err
		}
		_, err := desc.Methods[0].Handler(&grpcExporter{}, context.Background(), dec, nil)
		require.NoError(t, err)
		require.Equal(t, want, during, "%d pieces: the export saw the request's bytes", pieces)
		if pieces == 1 {
			require.Zero(t, putsDuring, "the buffer is held while the export runs")
		}
		require.EqualValues(t, pieces, pool.puts.Load(), "%d pieces: every buffer is released after the call", pieces)
	}
}
