package harness

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Sample is one series of a Prometheus text exposition.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Metrics is one scrape.
type Metrics []Sample

// scrapeClient is used when a caller passes no client.
var scrapeClient = &http.Client{Timeout: 5 * time.Second}

// Scrape reads a Prometheus text exposition, e.g. Sieve's own telemetry. A nil client uses one
// with a 5 s timeout.
func Scrape(ctx context.Context, client *http.Client, url string) (Metrics, error) {
	if client == nil {
		client = scrapeClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return Parse(resp.Body)
}

// ScrapeT is Scrape for a test: it fails the test when the endpoint cannot be read.
func ScrapeT(tb testing.TB, url string) Metrics {
	tb.Helper()
	m, err := Scrape(context.Background(), nil, url)
	if err != nil {
		tb.Fatalf("scrape %s: %v", url, err)
	}
	return m
}

// SumAt scrapes url and sums a metric (see Metrics.Sum), failing the test when it cannot.
func SumAt(tb testing.TB, url, name string, labels ...string) float64 {
	tb.Helper()
	return ScrapeT(tb, url).Sum(name, labels...)
}

// Parse reads a Prometheus text exposition; comments and blank lines are skipped.
func Parse(r io.Reader) (Metrics, error) {
	var out Metrics
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

func parseSample(line string) (Sample, error) {
	s := Sample{Labels: map[string]string{}}
	rest := line
	if i := strings.IndexAny(line, "{ "); i >= 0 && line[i] == '{' {
		s.Name = line[:i]
		j := labelsEnd(line, i+1)
		if j < 0 {
			return s, fmt.Errorf("metric line %q: unterminated labels", line)
		}
		for _, kv := range splitLabels(line[i+1 : j]) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			if uq, err := strconv.Unquote(v); err == nil {
				v = uq
			}
			s.Labels[strings.TrimSpace(k)] = v
		}
		rest = line[j+1:]
	} else {
		s.Name, rest, _ = strings.Cut(line, " ")
	}
	// The value comes first; an optional timestamp may follow it.
	f := strings.Fields(rest)
	if len(f) == 0 {
		return s, fmt.Errorf("metric line %q: no value", line)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return s, fmt.Errorf("metric line %q: %w", line, err)
	}
	s.Value = v
	return s, nil
}

// labelsEnd returns the index of the '}' closing the label set that starts at from, skipping
// braces inside quoted values, or -1.
func labelsEnd(s string, from int) int {
	inQuote, esc := false, false
	for i := from; i < len(s); i++ {
		switch c := s[i]; {
		case esc:
			esc = false
		case c == '\\':
			esc = true
		case c == '"':
			inQuote = !inQuote
		case c == '}' && !inQuote:
			return i
		}
	}
	return -1
}

// splitLabels splits `a="x",b="y,z"` at the commas outside quotes.
func splitLabels(s string) []string {
	var out []string
	inQuote, esc, start := false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case esc:
			esc = false
		case c == '\\':
			esc = true
		case c == '"':
			inQuote = !inQuote
		case c == ',' && !inQuote:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if strings.TrimSpace(s[start:]) != "" {
		out = append(out, s[start:])
	}
	return out
}

// Sum adds the series of a metric whose labels include every name, value pair given (e.g.
// Sum("otelcol_exporter_queue_size", "exporter", "loki")). The name matches with and without the
// _total suffix, which counters carry or not depending on the exporter's settings.
func (m Metrics) Sum(name string, labels ...string) float64 {
	if len(labels)%2 != 0 {
		panic(fmt.Sprintf("harness: Sum(%q) needs label name, value pairs, got %q", name, labels))
	}
	var total float64
	for _, s := range m {
		if s.Name != name && s.Name != name+"_total" {
			continue
		}
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			if s.Labels[labels[i]] != labels[i+1] {
				ok = false
				break
			}
		}
		if ok {
			total += s.Value
		}
	}
	return total
}

// Has reports whether the metric has a series, with or without the _total suffix.
func (m Metrics) Has(name string) bool {
	for _, s := range m {
		if s.Name == name || s.Name == name+"_total" {
			return true
		}
	}
	return false
}

// Goroutines reads the total from the pprof extension's goroutine profile ("goroutine profile:
// total N" on the first line of debug=1).
func Goroutines(ctx context.Context, client *http.Client, pprofAddr string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+pprofAddr+"/debug/pprof/goroutine?debug=1", http.NoBody)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("goroutine profile: %s", resp.Status)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	_, _ = io.Copy(io.Discard, resp.Body)
	if err != nil {
		return 0, err
	}
	var n int
	if _, err := fmt.Sscanf(line, "goroutine profile: total %d", &n); err != nil {
		return 0, fmt.Errorf("goroutine profile header %q: %w", strings.TrimSpace(line), err)
	}
	return n, nil
}
