package source

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sieveobs/sieve/internal/policy/policyfile"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// policyServer serves a document with a strong ETag and honours If-None-Match.
type policyServer struct {
	mu       sync.Mutex
	body     string
	token    string
	requests atomic.Int64
	notMod   atomic.Int64
}

func (p *policyServer) set(body string) {
	p.mu.Lock()
	p.body = body
	p.mu.Unlock()
}

func (p *policyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	if p.token != "" && r.Header.Get("Authorization") != "Bearer "+p.token {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	p.mu.Lock()
	body := p.body
	p.mu.Unlock()
	etag := `"` + body + `"`
	if r.Header.Get("If-None-Match") == etag {
		p.notMod.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", etag)
	_, _ = w.Write([]byte(body))
}

func TestHTTPFetchETag(t *testing.T) {
	ps := &policyServer{body: "v1", token: "s3cret"}
	srv := httptest.NewServer(ps)
	defer srv.Close()
	h := &HTTP{URL: srv.URL, Client: srv.Client(), Interval: time.Hour, BearerToken: "s3cret"}
	ctx := context.Background()

	steps := []struct {
		set     string
		want    string
		wantErr error
	}{
		{want: "v1"},
		{wantErr: ErrNotModified},
		{wantErr: ErrNotModified},
		{set: "v2", want: "v2"},
		{wantErr: ErrNotModified},
	}
	for i, st := range steps {
		if st.set != "" {
			ps.set(st.set)
		}
		data, err := h.Fetch(ctx)
		if st.wantErr != nil {
			require.ErrorIs(t, err, st.wantErr, "step %d", i)
			continue
		}
		require.NoError(t, err, "step %d", i)
		require.Equal(t, st.want, string(data), "step %d", i)
	}
	require.EqualValues(t, 3, ps.notMod.Load())
}

func TestHTTPFetchErrors(t *testing.T) {
	ps := &policyServer{body: "v1", token: "right"}
	srv := httptest.NewServer(ps)
	defer srv.Close()
	h := &HTTP{URL: srv.URL, Client: srv.Client(), BearerToken: "wrong"}
	_, err := h.Fetch(context.Background())
	require.ErrorContains(t, err, "401")

	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", policyfile.MaxSize+1)))
	}))
	defer big.Close()
	h = &HTTP{URL: big.URL, Client: big.Client()}
	_, err = h.Fetch(context.Background())
	require.ErrorContains(t, err, "larger than")
}

func TestHTTPWatchDeliversChanges(t *testing.T) {
	ps := &policyServer{body: "v1"}
	srv := httptest.NewServer(ps)
	defer srv.Close()
	h := &HTTP{URL: srv.URL, Client: srv.Client(), Interval: 5 * time.Millisecond}
	_, err := h.Fetch(context.Background())
	require.NoError(t, err)

	got := make(chan string, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Watch(ctx, func(b []byte) { got <- string(b) }, func(string, error) {})
	}()
	ps.set("v2")
	select {
	case v := <-got:
		require.Equal(t, "v2", v)
	case <-time.After(5 * time.Second):
		t.Fatal("change not delivered")
	}
	cancel()
	<-done
	require.Empty(t, got, "an unchanged document is not delivered again")
}

func TestFileWatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	require.NoError(t, os.WriteFile(path, []byte("v1"), 0o600))
	f := &File{Path: path, Debounce: time.Millisecond}
	data, err := f.Fetch(context.Background())
	require.NoError(t, err)
	require.Equal(t, "v1", string(data))

	got := watching(t, f)

	waitFor := func(want string) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case v := <-got:
				if v == want {
					return
				}
			case <-deadline:
				t.Fatalf("%q not delivered", want)
			}
		}
	}
	// The watcher may start after the first write; rewrite until it is seen.
	require.Eventually(t, func() bool {
		require.NoError(t, os.WriteFile(path, []byte("v2"), 0o600))
		select {
		case v := <-got:
			return v == "v2"
		case <-time.After(50 * time.Millisecond):
			return false
		}
	}, 5*time.Second, time.Millisecond)

	// Editors and ConfigMaps replace the file by a rename.
	tmp := filepath.Join(dir, ".policy.tmp")
	require.NoError(t, os.WriteFile(tmp, []byte("v3"), 0o600))
	require.NoError(t, os.Rename(tmp, path))
	waitFor("v3")
}

// watching runs f.Watch until the test ends and hands over what it delivers.
func watching(t *testing.T, f *File) <-chan string {
	t.Helper()
	got := make(chan string, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Watch(ctx, func(b []byte) { got <- string(b) }, func(string, error) {})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return got
}

func TestFileFetchMissing(t *testing.T) {
	f := &File{Path: filepath.Join(t.TempDir(), "absent.yaml")}
	_, err := f.Fetch(context.Background())
	require.ErrorIs(t, err, os.ErrNotExist)
}
