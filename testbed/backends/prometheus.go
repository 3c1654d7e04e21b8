package backends

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sieveobs/sieve/testbed/harness"
)

// PrometheusOptions configure a Prometheus server.
type PrometheusOptions struct {
	// ScrapeTargets are host:port addresses scraped as job "sieve" (e.g. Sieve's own telemetry).
	ScrapeTargets []string
	// ScrapeInterval defaults to 1s so short tests see data quickly.
	ScrapeInterval time.Duration
	// RuleFiles are loaded as alerting/recording rules.
	RuleFiles []string
}

// Prometheus is a running Prometheus server with the remote-write receiver and native histograms on.
type Prometheus struct {
	// URL is the HTTP base address, e.g. http://127.0.0.1:43121.
	URL  string
	dir  string
	proc *harness.Process
}

// PrometheusBinary returns $SIEVE_PROMETHEUS_BIN or prometheus from PATH (Debian's package).
func PrometheusBinary() (string, error) {
	return lookBinary("SIEVE_PROMETHEUS_BIN", "prometheus", "run testbed/scripts/install-deps.sh")
}

// NewPrometheus starts Prometheus and waits until it is ready. Close stops it and removes its data.
func NewPrometheus(ctx context.Context, opts PrometheusOptions) (*Prometheus, error) {
	bin, err := PrometheusBinary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sieve-prometheus-")
	if err != nil {
		return nil, err
	}
	ports, err := harness.FreePorts(1)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	interval := opts.ScrapeInterval
	if interval == 0 {
		interval = time.Second
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "global:\n  scrape_interval: %s\n  evaluation_interval: %s\n", interval, interval)
	if len(opts.RuleFiles) > 0 {
		cfg.WriteString("rule_files:\n")
		for _, f := range opts.RuleFiles {
			abs, err := filepath.Abs(f)
			if err != nil {
				os.RemoveAll(dir)
				return nil, err
			}
			fmt.Fprintf(&cfg, "  - %q\n", abs)
		}
	}
	if len(opts.ScrapeTargets) > 0 {
		cfg.WriteString("scrape_configs:\n  - job_name: sieve\n    static_configs:\n      - targets:\n")
		for _, t := range opts.ScrapeTargets {
			fmt.Fprintf(&cfg, "          - %q\n", t)
		}
	}
	if err := writeFile(filepath.Join(dir, "prometheus.yml"), cfg.String()); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	proc, err := startProcess("prometheus", dir, bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--web.enable-remote-write-receiver",
		"--enable-feature=native-histograms,exemplar-storage",
		"--log.level=warn",
	)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p := &Prometheus{URL: "http://" + addr, dir: dir, proc: proc}
	if err := waitReady(ctx, proc, p.URL+"/-/ready", "Ready"); err != nil {
		return nil, joinErr(err, p.Close())
	}
	return p, nil
}

// Close stops Prometheus and removes its directory.
func (p *Prometheus) Close() error {
	err := p.proc.Stop(stopGrace)
	return joinErr(err, os.RemoveAll(p.dir))
}

// RemoteWriteURL is the remote-write receiver endpoint.
func (p *Prometheus) RemoteWriteURL() string { return p.URL + "/api/v1/write" }

// Query runs an instant PromQL query.
func (p *Prometheus) Query(ctx context.Context, promql string, at time.Time) ([]Sample, error) {
	q := url.Values{}
	q.Set("query", promql)
	q.Set("time", strconv.FormatFloat(float64(at.UnixNano())/1e9, 'f', 3, 64))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/api/v1/query?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	var resp promResponse
	if err := doJSON(req, &resp); err != nil {
		return nil, err
	}
	if resp.Status != "success" {
		return nil, fmt.Errorf("prometheus: %s: %s", resp.ErrorType, resp.Error)
	}
	return resp.samples()
}

// MetricNames lists every metric name Prometheus holds.
func (p *Prometheus) MetricNames(ctx context.Context) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/api/v1/label/__name__/values", nil)
	if err != nil {
		return nil, err
	}
	var resp struct {
		Data []string `json:"data"`
	}
	if err := doJSON(req, &resp); err != nil {
		return nil, err
	}
	return resp.Data, nil
}

// RawSeries is one series of a range selector: its labels and every sample value in time order.
type RawSeries struct {
	Metric map[string]string
	Values []float64
}

// Raw returns the samples Prometheus stored for selector over the last window, unprocessed (an
// instant query of `selector[window]`), for checks that need every sample, not a rate.
func (p *Prometheus) Raw(ctx context.Context, selector string, window time.Duration) ([]RawSeries, error) {
	q := url.Values{}
	q.Set("query", fmt.Sprintf("%s[%ds]", selector, int(window.Seconds())))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/api/v1/query?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	var resp struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string   `json:"metric"`
				Values [][]json.RawMessage `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := doJSON(req, &resp); err != nil {
		return nil, err
	}
	if resp.Status != "success" || resp.Data.ResultType != "matrix" {
		return nil, fmt.Errorf("prometheus: %s (result %q, want matrix)", resp.Error, resp.Data.ResultType)
	}
	out := make([]RawSeries, 0, len(resp.Data.Result))
	for _, r := range resp.Data.Result {
		s := RawSeries{Metric: r.Metric}
		for _, pt := range r.Values {
			if len(pt) != 2 {
				return nil, fmt.Errorf("matrix point of %d elements", len(pt))
			}
			_, v, err := parsePoint(pt)
			if err != nil {
				return nil, err
			}
			s.Values = append(s.Values, v)
		}
		out = append(out, s)
	}
	return out, nil
}
