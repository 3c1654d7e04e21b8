package loadgen

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// ItemIDs must list exactly the IDs Render writes, in encoding order, with their classes.
func TestItemIDsMatchRender(t *testing.T) {
	for _, sig := range []Signal{Logs, Traces, Metrics} {
		t.Run(string(sig), func(t *testing.T) {
			ts, err := BuildTemplates(sig, DataConfig{Templates: 3})
			require.NoError(t, err)
			for seq := uint64(5); seq < 11; seq++ {
				tpl := ts[seq%3]
				type id struct {
					c Class
					n uint64
				}
				var rendered, listed []id
				ScanIDs(tpl.Render(nil, seq), func(c Class, n uint64) { rendered = append(rendered, id{c, n}) })
				tpl.ItemIDs(seq, func(c Class, n uint64) { listed = append(listed, id{c, n}) })
				require.Len(t, listed, tpl.Items)
				require.Equal(t, rendered, listed)
			}
		})
	}
}

// OnResult must report every request once with the outcome the stats count: a server that
// refuses every other request leaves exactly the reported successes acknowledged.
func TestOnResultReportsEveryRequest(t *testing.T) {
	var n atomic.Int64
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}), ReadHeaderTimeout: time.Second}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Close()

	var mu sync.Mutex
	seqs := map[uint64]bool{}
	var okItems, dups uint64
	g, err := New(Config{Signal: Logs, Protocol: "http", Endpoint: lis.Addr().String(), Concurrency: 3, MaxRequests: 40, FirstSeq: 1000,
		OnResult: func(r Result) {
			mu.Lock()
			defer mu.Unlock()
			if _, ok := seqs[r.Seq]; ok {
				dups++
			}
			seqs[r.Seq] = r.Err == nil
			if r.Err == nil {
				okItems += uint64(r.Template.Items)
			}
		}})
	require.NoError(t, err)
	defer g.Close()
	g.Run(context.Background())
	st := g.Stats()
	require.Zero(t, dups, "requests reported twice")
	require.Len(t, seqs, 40)
	for s := range seqs {
		require.GreaterOrEqual(t, s, uint64(1000))
		require.Less(t, s, uint64(1040))
	}
	require.EqualValues(t, 20, st.FailedRequests)
	require.Equal(t, st.Acked(), okItems)
}
