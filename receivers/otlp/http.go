package otlp // import "github.com/sieveobs/sieve/receivers/otlp"

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

const (
	pbContentType   = "application/x-protobuf"
	jsonContentType = "application/json"
)

// httpHandler serves one signal's path as upstream's receiver does: POST only, protobuf or
// JSON, errors as a google.rpc.Status in the request's encoding. Protobuf bodies take the byte
// path (and the prefilter); JSON bodies are decoded whole.
func (r *otlpReceiver) httpHandler(
	protoExport func(context.Context, *receiverhelper.ObsReport, []byte) error,
	jsonExport func(context.Context, []byte) error,
) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			writeResponse(w, "text/plain", http.StatusMethodNotAllowed,
				fmt.Appendf(nil, "%v method not allowed, supported: [POST]", http.StatusMethodNotAllowed))
			return
		}
		isJSON := false
		switch mediaType(req.Header.Get("Content-Type")) {
		case pbContentType:
		case jsonContentType:
			isJSON = true
		default:
			writeResponse(w, "text/plain", http.StatusUnsupportedMediaType,
				fmt.Appendf(nil, "%v unsupported media type, supported: [%s, %s]", http.StatusUnsupportedMediaType, jsonContentType, pbContentType))
			return
		}
		body, err := io.ReadAll(req.Body)
		if err == nil {
			err = req.Body.Close()
		}
		if err != nil {
			writeStatus(w, isJSON, status.New(codes.InvalidArgument, err.Error()), http.StatusBadRequest)
			return
		}
		if isJSON {
			err = jsonExport(req.Context(), body)
		} else {
			err = protoExport(req.Context(), r.obsHTTP, body)
		}
		if err != nil {
			s, _ := status.FromError(err)
			writeStatus(w, isJSON, s, httpStatusFromCode(s.Code()))
			return
		}
		if isJSON {
			writeResponse(w, jsonContentType, http.StatusOK, []byte("{}"))
			return
		}
		writeResponse(w, pbContentType, http.StatusOK, nil)
	}
}

// errorHandler answers the HTTP server's own errors (body too large, bad compression, auth) in
// the request's encoding.
func errorHandler(w http.ResponseWriter, req *http.Request, msg string, code int) {
	isJSON := mediaType(req.Header.Get("Content-Type")) != pbContentType
	writeStatus(w, isJSON, status.New(codeFromHTTPStatus(code), msg), code)
}

// writeStatus writes a google.rpc.Status, with Retry-After when a throttled answer carries a
// retry delay (the OTLP/HTTP throttling rule).
func writeStatus(w http.ResponseWriter, isJSON bool, s *status.Status, code int) {
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		for _, d := range s.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
				w.Header().Set("Retry-After", strconv.FormatInt(int64(ri.GetRetryDelay().AsDuration()/time.Second), 10))
			}
		}
	}
	var (
		msg []byte
		err error
		ct  = pbContentType
	)
	if isJSON {
		msg, err = protojson.Marshal(s.Proto())
		ct = jsonContentType
	} else {
		msg, err = proto.Marshal(s.Proto())
	}
	if err != nil {
		writeResponse(w, jsonContentType, http.StatusInternalServerError, []byte(`{"code": 13, "message": "failed to marshal error message"}`))
		return
	}
	writeResponse(w, ct, code, msg)
}

func writeResponse(w http.ResponseWriter, contentType string, code int, msg []byte) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(code)
	_, _ = w.Write(msg)
}

func mediaType(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	return mt
}

// httpStatusFromCode follows the OTLP specification's mapping, as upstream's receiver does.
func httpStatusFromCode(c codes.Code) int {
	switch c {
	case codes.Canceled, codes.DeadlineExceeded, codes.Aborted, codes.OutOfRange, codes.Unavailable, codes.DataLoss:
		return http.StatusServiceUnavailable
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.InvalidArgument:
		return http.StatusBadRequest
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unimplemented:
		return http.StatusNotFound
	default:
		return http.StatusInternalServerError
	}
}

func codeFromHTTPStatus(code int) codes.Code {
	switch code {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return codes.InvalidArgument
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.Unimplemented
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return codes.Unavailable
	}
	return codes.Unknown
}
