package otlp // import "github.com/sieveobs/sieve/receivers/otlp"

import (
	"context"

	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the "proto" codec used as fallback
	"google.golang.org/grpc/mem"
)

const (
	logsService    = "opentelemetry.proto.collector.logs.v1.LogsService"
	tracesService  = "opentelemetry.proto.collector.trace.v1.TraceService"
	metricsService = "opentelemetry.proto.collector.metrics.v1.MetricsService"
)

// rawMessage is a request or response kept as its protobuf bytes. A request holds gRPC's own
// buffer (a reference taken, no copy when the message arrived in one piece), released with free
// once the request is decoded.
type rawMessage struct {
	b   []byte
	buf mem.Buffer
}

func (m *rawMessage) free() {
	if m.buf != nil {
		m.buf.Free()
		m.buf, m.b = nil, nil
	}
}

// rawCodec hands the OTLP services their requests as bytes (decompressed, size-checked by gRPC)
// and writes their empty responses; any other message goes to gRPC's proto codec.
type rawCodec struct{ fallback encoding.CodecV2 }

func newRawCodec() encoding.CodecV2 { return rawCodec{fallback: encoding.GetCodecV2("proto")} }

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(*rawMessage); ok {
		return mem.BufferSlice{mem.SliceBuffer(m.b)}, nil
	}
	return c.fallback.Marshal(v)
}

func (c rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if m, ok := v.(*rawMessage); ok {
		m.buf = data.MaterializeToBuffer(mem.DefaultBufferPool())
		m.b = m.buf.ReadOnlyData()
		return nil
	}
	return c.fallback.Unmarshal(data, v)
}

func (rawCodec) Name() string { return "proto" }

// exportService describes one OTLP service whose Export method takes the request's bytes; its
// response is the empty Export*ServiceResponse (zero bytes).
func exportService(name string, export func(context.Context, *receiverhelper.ObsReport, []byte) error) *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: name,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Export",
			Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
				in := new(rawMessage)
				if err := dec(in); err != nil {
					return nil, err
				}
				// The export decodes the bytes before it returns (pdata copies what it keeps), and
				// interceptors do not hold requests past the call.
				defer in.free()
				r := srv.(*grpcExporter)
				handle := func(ctx context.Context, req any) (any, error) {
					if err := export(ctx, r.obs, req.(*rawMessage).b); err != nil {
						return nil, err
					}
					return &rawMessage{}, nil
				}
				if interceptor == nil {
					return handle(ctx, in)
				}
				return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/" + name + "/Export"}, handle)
			},
		}},
		Metadata: "opentelemetry/proto/collector",
	}
}

// grpcExporter is the service implementation handed to gRPC: the observability report of the
// gRPC transport.
type grpcExporter struct{ obs *receiverhelper.ObsReport }
