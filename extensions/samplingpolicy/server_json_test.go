package samplingpolicy

import (
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWriteJSONAnswers500WhenItCannotEncode(t *testing.T) {
	bad := httptest.NewRecorder()
	writeJSON(bad, map[string]float64{"rate": math.Inf(1)})
	require.Equal(t, http.StatusInternalServerError, bad.Code)
	require.NotEqual(t, "application/json", bad.Header().Get("Content-Type"))

	good := httptest.NewRecorder()
	writeJSON(good, map[string]float64{"rate": 0.5})
	require.Equal(t, http.StatusOK, good.Code)
	require.JSONEq(t, `{"rate":0.5}`, good.Body.String())
}
