package retryafter

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	now := time.Date(2023, 11, 14, 22, 13, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{in: "", wantOK: false},
		{in: "0", want: 0, wantOK: true},
		{in: "120", want: 2 * time.Minute, wantOK: true},
		{in: "-5", wantOK: false},
		{in: "soon", wantOK: false},
		{in: "Tue, 14 Nov 2023 22:14:00 GMT", want: time.Minute, wantOK: true},
		{in: "Tue, 14 Nov 2023 22:12:00 GMT", want: 0, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := Parse(tt.in, now)
			require.Equal(t, tt.wantOK, ok)
			require.Equal(t, tt.want, got)
		})
	}
}
