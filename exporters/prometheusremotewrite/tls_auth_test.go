package prometheusremotewrite

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exportertest"
)

func TestTLS(t *testing.T) {
	var got atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))

	tests := []struct {
		name    string
		caFile  string
		wantErr bool
	}{
		{name: "trusted CA", caFile: caFile},
		{name: "unknown CA", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(srv.URL + "/api/v1/write")
			cfg.Protocol = protocolV1
			cfg.TLS.CAFile = tt.caFile
			before := got.Load()
			e := startRaw(t, cfg, time.Now)
			err := e.pushMetrics(context.Background(), oneGauge(1))
			if tt.wantErr {
				require.ErrorContains(t, err, "certificate")
				require.Equal(t, before, got.Load())
				return
			}
			require.NoError(t, err)
			require.Equal(t, before+1, got.Load())
		})
	}
}

// TestAuthExtensionIsResolved shows that `auth` goes through confighttp:
// naming an authenticator the host does not have fails at start, before
// any data could be sent unauthenticated.
func TestAuthExtensionIsResolved(t *testing.T) {
	cfg := testConfig("http://localhost:9090/api/v1/write")
	cfg.Auth = configoptional.Some(configauth.Config{AuthenticatorID: component.MustNewID("basicauth")})
	e, err := newExporter(cfg, exportertest.NewNopSettings(component.MustNewType(typeStr)), time.Now)
	require.NoError(t, err)
	err = e.start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, "basicauth")
	require.NoError(t, e.shutdown(context.Background()))
}
