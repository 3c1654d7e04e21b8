package policyflap

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/sieveobs/sieve/internal/policy/policyfile"
	"github.com/sieveobs/sieve/testbed/backends"
	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/reliability/load"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// good is one complete policy version: its default rate and the rate of service "shop".
type good struct {
	version     string
	def, shop   float64
	logTierRest float64
}

func (g good) doc() string {
	return fmt.Sprintf(`version: %s
default_rate: %v
services:
  shop:
    rate: %v
log_tiers:
  - name: errors
    condition: "severity_number >= SEVERITY_NUMBER_ERROR"
    percent: 100
  - name: rest
    percent: %v
`, g.version, g.def, g.shop, g.logTierRest)
}

// validPrefix cuts the document just after "default_rate: 0.": what remains is a complete,
// valid policy of the same version whose default rate is 0 and which has no service rates.
// Serving it would drop every trace, so it is the partial document most worth refusing.
func (g good) validPrefix(t *testing.T) string {
	t.Helper()
	d := g.doc()
	i := strings.Index(d, "default_rate: 0.")
	require.GreaterOrEqual(t, i, 0, "default rate must be below 1 for the cut to make a zero rate")
	p := d[:i+len("default_rate: 0.")]
	doc, err := policyfile.Parse([]byte(p))
	require.NoError(t, err, "the cut must leave a valid document for the check to mean anything")
	require.Zero(t, *doc.Policy.DefaultRate)
	return p
}

// invalidPrefix cuts the document inside the shop service's rate key: the parser refuses it.
func (g good) invalidPrefix(t *testing.T) string {
	t.Helper()
	d := g.doc()
	p := d[:strings.Index(d, "    rate:")+len("    ra")]
	_, err := policyfile.Parse([]byte(p))
	require.Error(t, err)
	return p
}

// versions are the complete documents the tests serve; anything else seen in effect is a
// decision on a partial or invalid document.
var versions = []good{
	{"flap-1", 0.25, 0.75, 10},
	{"flap-2", 0.5, 0.125, 20},
	{"flap-3", 0.0625, 0.375, 5},
	{"flap-4", 0.75, 0.25, 50},
}

type policyState struct {
	Version        string             `json:"version"`
	EffectiveRates map[string]float64 `json:"effective_rates"`
}

// observer polls what Sieve serves (GET /policy and the Jaeger strategy of "shop") as fast as it
// answers, and records every state that belongs to no complete version.
type observer struct {
	sieve   *load.Gateway
	client  *http.Client
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	bad     map[string]int
	seen    map[string]bool
	polls   atomic.Int64
	current atomic.Value
}

func observe(t *testing.T, g *load.Gateway) *observer {
	tr := &http.Transport{MaxIdleConnsPerHost: 2}
	t.Cleanup(tr.CloseIdleConnections)
	ctx, cancel := context.WithCancel(context.Background())
	o := &observer{sieve: g, client: &http.Client{Transport: tr, Timeout: 5 * time.Second}, cancel: cancel, done: make(chan struct{}),
		bad: map[string]int{}, seen: map[string]bool{}}
	byVersion := map[string]good{}
	shopRates := map[float64]bool{}
	for _, v := range versions {
		byVersion[v.version] = v
		shopRates[v.shop] = true
	}
	go func() {
		defer close(o.done)
		for ctx.Err() == nil {
			var st policyState
			if err := o.get(ctx, g.Proc.SamplingURL+"/policy", &st); err == nil {
				o.current.Store(st.Version)
				want, ok := byVersion[st.Version]
				o.mu.Lock()
				o.seen[st.Version] = true
				if !ok || st.EffectiveRates[""] != want.def || st.EffectiveRates["shop"] != want.shop {
					o.bad[fmt.Sprintf("/policy served %s with rates %v", st.Version, st.EffectiveRates)]++
				}
				o.mu.Unlock()
			}
			var strat struct {
				ProbabilisticSampling struct {
					SamplingRate float64 `json:"samplingRate"`
				} `json:"probabilisticSampling"`
			}
			if err := o.get(ctx, g.Proc.SamplingURL+"/sampling?service=shop", &strat); err == nil {
				if r := strat.ProbabilisticSampling.SamplingRate; !shopRates[r] {
					o.mu.Lock()
					o.bad[fmt.Sprintf("/sampling served shop at %v", r)]++
					o.mu.Unlock()
				}
			}
			o.polls.Add(1)
		}
	}()
	t.Cleanup(o.stop)
	return o
}

func (o *observer) get(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		return err
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (o *observer) stop() {
	o.cancel()
	<-o.done
}

// version is the version served at the latest poll.
func (o *observer) version() string {
	v, _ := o.current.Load().(string)
	return v
}

// waitVersion waits until the observer sees the version served.
func (o *observer) waitVersion(t *testing.T, version string, timeout time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool { return o.version() == version }, timeout, 5*time.Millisecond,
		"version %s not served within %v (serving %q)", version, timeout, o.version())
}

// check stops the observer and fails on any state that was not a complete version.
func (o *observer) check(t *testing.T, wantSeen ...string) {
	t.Helper()
	o.stop()
	o.mu.Lock()
	defer o.mu.Unlock()
	require.Empty(t, o.bad, "a partial or invalid policy was served (state: number of polls)")
	for _, v := range wantSeen {
		require.True(t, o.seen[v], "version %s was never observed", v)
	}
	t.Logf("observer: %d polls of /policy and /sampling, versions seen %v", o.polls.Load(), o.seen)
}

// counters reads Sieve's policy counters.
type counters struct{ applied, refused, fetchErrors float64 }

func readCounters(t *testing.T, client *http.Client, g *load.Gateway) counters {
	t.Helper()
	m, err := harness.Scrape(context.Background(), client, g.Proc.TelemetryURL)
	require.NoError(t, err)
	return counters{
		applied:     m.Sum("otelcol_sampling_policy_applied"),
		refused:     m.Sum("otelcol_sampling_policy_refused"),
		fetchErrors: m.Sum("otelcol_sampling_policy_source_errors", "reason", "fetch"),
	}
}

func telemetryClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// waitCounter waits until f(counters) reaches at least want.
func waitCounter(t *testing.T, client *http.Client, g *load.Gateway, what string, f func(counters) float64, want float64) {
	t.Helper()
	var last float64
	require.Eventually(t, func() bool {
		last = f(readCounters(t, client, g))
		return last >= want
	}, 15*time.Second, 20*time.Millisecond, "%s stayed at %v, want %v", what, last, want)
}

// fileDebounce is set on the gateway's file source; the test writer pauses for several of it.
const fileDebounce = 400 * time.Millisecond

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
}

// replaceFile renames a new file over path, as editors and ConfigMap updates do.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	writeFile(t, tmp, content)
	require.NoError(t, os.Rename(tmp, path))
}

func TestFileSourceFlapping(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	v1, v2, v3, v4 := versions[0], versions[1], versions[2], versions[3]
	writeFile(t, path, v1.doc())
	g := load.StartGateway(t, load.GatewayOptions{PolicyFile: path,
		Edits: []load.Edit{load.Set(fileDebounce.String(), "extensions", "sampling_policy", "file", "debounce")}})
	client := telemetryClient(t)
	o := observe(t, g)
	o.waitVersion(t, v1.version, 5*time.Second)
	base := readCounters(t, client, g)

	// A writer that pauses mid-file, with the file open, for several debounce periods: the first
	// half alone is a valid policy dropping everything, and must never be read.
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0o600)
	require.NoError(t, err)
	half := v2.validPrefix(t)
	_, err = fh.WriteString(half)
	require.NoError(t, err)
	time.Sleep(3 * fileDebounce) // the writer's own pause, the condition under test
	require.Equal(t, v1.version, o.version(), "the half-written file was applied")
	_, err = fh.WriteString(v2.doc()[len(half):])
	require.NoError(t, err)
	require.NoError(t, fh.Close())
	o.waitVersion(t, v2.version, 5*time.Second)
	c := readCounters(t, client, g)
	require.Equal(t, base.applied+1, c.applied, "only the complete file may be applied")
	require.Equal(t, base.refused, c.refused, "the half-written file must not even be read")

	// A writer that closes the file with half a document in it: it is read, refused, and the
	// last good version stays until the rest arrives.
	writeFile(t, path, v3.invalidPrefix(t))
	waitCounter(t, client, g, "refused", func(c counters) float64 { return c.refused }, base.refused+1)
	require.Equal(t, v2.version, o.version(), "the last good policy stays while the file is half-written")
	writeFile(t, path, v3.doc())
	o.waitVersion(t, v3.version, 5*time.Second)

	// The file replaced by an invalid one, then emptied in place: both refused, v3 stays.
	replaceFile(t, path, "version: broken\ndefault_rate: 2\n")
	waitCounter(t, client, g, "refused", func(c counters) float64 { return c.refused }, base.refused+2)
	require.Equal(t, v3.version, o.version())
	writeFile(t, path, "")
	waitCounter(t, client, g, "refused", func(c counters) float64 { return c.refused }, base.refused+3)
	require.Equal(t, v3.version, o.version())

	replaceFile(t, path, v4.doc())
	o.waitVersion(t, v4.version, 5*time.Second)
	c = readCounters(t, client, g)
	require.Equal(t, base.applied+3, c.applied, "v2, v3 and v4 applied, nothing else")
	require.Equal(t, base.refused+3, c.refused, "each bad document counted once")
	o.check(t, v1.version, v2.version, v3.version, v4.version)
}

// policyServer is an HTTP policy endpoint whose answer the test switches between good versions
// and failures.
type policyServer struct {
	url   string
	srv   *http.Server
	done  chan struct{}
	mode  atomic.Value // func(http.ResponseWriter, *http.Request)
	hits  atomic.Int64
	etags atomic.Int64
}

func startPolicyServer(t *testing.T) *policyServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &policyServer{url: "http://" + ln.Addr().String() + "/policy.yaml", done: make(chan struct{})}
	s.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mode.Load().(func(http.ResponseWriter, *http.Request))(w, r)
	})}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, s.srv.Shutdown(ctx))
		<-s.done
	})
	return s
}

func (s *policyServer) set(f func(http.ResponseWriter, *http.Request)) { s.mode.Store(f) }

// serve answers body with a fresh ETag, and 304 to a request that already has it.
func (s *policyServer) serve(body string) {
	etag := fmt.Sprintf(`"%d"`, s.etags.Add(1))
	s.set(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write([]byte(body))
	})
}

// serveNoETag answers body in full to every poll, as servers without ETags do.
func (s *policyServer) serveNoETag(body string) {
	s.set(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write([]byte(body))
	})
}

// cutOff sends the headers of the complete document, then only prefix, then closes the
// connection: what a proxy or server dying mid-response delivers.
func (s *policyServer) cutOff(full, prefix string, chunked bool) {
	etag := fmt.Sprintf(`"%d"`, s.etags.Add(1))
	s.set(func(w http.ResponseWriter, _ *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/yaml\r\nETag: %s\r\n", etag)
		if chunked {
			fmt.Fprintf(buf, "Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n", len(prefix), prefix)
		} else {
			fmt.Fprintf(buf, "Content-Length: %d\r\n\r\n%s", len(full), prefix)
		}
		_ = buf.Flush()
	})
}

func TestHTTPSourceFlapping(t *testing.T) {
	v1, v2, v3 := versions[0], versions[1], versions[2]
	ps := startPolicyServer(t)
	ps.serve(v1.doc())
	g := load.StartGateway(t, load.GatewayOptions{Edits: []load.Edit{
		load.Delete("extensions", "sampling_policy", "file"),
		load.Set(map[string]any{"endpoint": ps.url, "interval": "100ms"}, "extensions", "sampling_policy", "http"),
	}})
	client := telemetryClient(t)
	o := observe(t, g)
	o.waitVersion(t, v1.version, 5*time.Second)
	base := readCounters(t, client, g)
	fetchErrors := func(c counters) float64 { return c.fetchErrors }

	steps := []struct {
		name  string
		apply func()
	}{
		{"500 Internal Server Error", func() {
			ps.set(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) })
		}},
		{"body shorter than its Content-Length", func() { ps.cutOff(v2.doc(), v2.validPrefix(t), false) }},
		{"chunked body without its last chunk", func() { ps.cutOff(v2.doc(), v2.validPrefix(t), true) }},
	}
	want := base.fetchErrors
	for _, st := range steps {
		// Three failed polls each: the source keeps polling through the failure, and every poll
		// leaves the last good version in force.
		st.apply()
		want += 3
		waitCounter(t, client, g, "fetch errors after "+st.name, fetchErrors, want)
		want = readCounters(t, client, g).fetchErrors
		require.Equal(t, v1.version, o.version(), "after %s", st.name)
	}
	// A complete response holding half a document, from a server without ETags so every poll
	// delivers it again: refused, and counted once however often it is polled.
	ps.serveNoETag(v2.invalidPrefix(t))
	waitCounter(t, client, g, "refused", func(c counters) float64 { return c.refused }, base.refused+1)
	hits := ps.hits.Load()
	require.Eventually(t, func() bool { return ps.hits.Load() >= hits+3 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, v1.version, o.version())

	ps.serve(v2.doc())
	o.waitVersion(t, v2.version, 5*time.Second)
	// One more flap: errors, then the next good version.
	ps.set(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	})
	waitCounter(t, client, g, "fetch errors", fetchErrors, readCounters(t, client, g).fetchErrors+2)
	require.Equal(t, v2.version, o.version())
	ps.serve(v3.doc())
	o.waitVersion(t, v3.version, 5*time.Second)

	c := readCounters(t, client, g)
	require.Equal(t, base.applied+2, c.applied, "v2 and v3 applied, nothing else")
	require.Equal(t, base.refused+1, c.refused)
	o.check(t, v1.version, v2.version, v3.version)
}

func TestEtcdTruncatedValue(t *testing.T) {
	v1, v2, v3 := versions[0], versions[1], versions[2]
	etcd := backends.StartEtcd(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd.Endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	defer cli.Close()
	const key = "/sieve/sampling-policy"
	put := func(doc string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := cli.Put(ctx, key, doc)
		require.NoError(t, err)
	}
	put(v1.doc())
	g := load.StartGateway(t, load.GatewayOptions{Edits: []load.Edit{
		load.Delete("extensions", "sampling_policy", "file"),
		load.Set(map[string]any{"endpoints": []any{etcd.Endpoint}, "key": key, "max_backoff": "500ms"}, "extensions", "sampling_policy", "etcd"),
	}})
	client := telemetryClient(t)
	o := observe(t, g)
	o.waitVersion(t, v1.version, 5*time.Second)
	base := readCounters(t, client, g)
	refused := func(c counters) float64 { return c.refused }

	put(v2.invalidPrefix(t))
	waitCounter(t, client, g, "refused", refused, base.refused+1)
	require.Equal(t, v1.version, o.version())
	put("")
	waitCounter(t, client, g, "refused", refused, base.refused+2)
	require.Equal(t, v1.version, o.version())
	put(v2.doc())
	o.waitVersion(t, v2.version, 5*time.Second)

	// A truncated value immediately overwritten by the complete one: the watch sees both, refuses
	// the first and applies the second, and nothing in between is served.
	put(v3.invalidPrefix(t))
	put(v3.doc())
	o.waitVersion(t, v3.version, 5*time.Second)
	waitCounter(t, client, g, "refused", refused, base.refused+3)

	c := readCounters(t, client, g)
	require.Equal(t, base.applied+2, c.applied, "v2 and v3 applied, nothing else")
	require.Equal(t, base.refused+3, c.refused)
	o.check(t, v1.version, v2.version, v3.version)
}
