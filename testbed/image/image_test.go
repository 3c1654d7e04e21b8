// Package image tests Sieve's container image (Containerfile, scripts/build-image.sh): an agent
// container and a gateway container, both from the image and its shipped configs, between an
// instrumented client and real Loki and Prometheus.
package image

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/bridges/otelzap"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/sieveobs/sieve/testbed/backends"
	"github.com/sieveobs/sieve/testbed/harness"
)

// The image's runtime user (Containerfile: USER 10001:10001).
const imageUID = 10001

// TestImageAgentToGateway builds the image from bin/sieve, runs the gateway (the image's default
// command) and the agent (configs/agent.yaml inside the image) as containers with a read-only
// root filesystem, no capabilities and host queue directories as the volume, and sends logs,
// metrics and traces with the OpenTelemetry Go SDK (zap through otelzap) to the agent. Every error
// log reaches Loki, the counter's value and the span count reach Prometheus, the info logs are
// sampled down by the shipped policy, and both containers run as uid 10001 and wrote their queues.
func TestImageAgentToGateway(t *testing.T) {
	image := os.Getenv("SIEVE_IMAGE")
	if image == "" {
		image = "localhost/sieve:dev"
	}
	_, err := harness.SieveBinary()
	require.NoError(t, err)
	buildImage(t, image)
	checkImageConfig(t, image)

	loki := backends.StartLoki(t, backends.LokiOptions{})
	prom := backends.StartPrometheus(t, backends.PrometheusOptions{})
	ports, err := harness.FreePorts(13)
	require.NoError(t, err)
	addr := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", ports[i]) }

	// Host networking: the containers reach Loki and Prometheus on the host's loopback. The agent's
	// DNS resolver gets 127.0.0.1, which resolves to itself; "localhost" may also resolve to ::1,
	// where the gateway does not listen, and half the data would wait in the agent's queue.
	gateway := startContainer(t, image, "gateway", map[string]string{
		"SIEVE_OTLP_GRPC_ENDPOINT":       addr(0),
		"SIEVE_OTLP_HTTP_ENDPOINT":       addr(1),
		"SIEVE_TELEMETRY_PORT":           strconv.Itoa(ports[2]),
		"SIEVE_HEALTH_ENDPOINT":          addr(3),
		"SIEVE_PPROF_ENDPOINT":           addr(4),
		"SIEVE_ZPAGES_ENDPOINT":          addr(5),
		"SIEVE_SAMPLING_ENDPOINT":        addr(6),
		"SIEVE_SAMPLING_GRPC_ENDPOINT":   addr(12),
		"SIEVE_LOKI_PUSH_URL":            loki.PushURL(),
		"SIEVE_PROMETHEUS_RW_URL":        prom.RemoteWriteURL(),
		"SIEVE_HISTOGRAM_FLUSH_INTERVAL": "1s",
	}, addr(3))
	agent := startContainer(t, image, "agent", map[string]string{
		"SIEVE_GATEWAY_HOST":       "127.0.0.1",
		"SIEVE_GATEWAY_PORT":       strconv.Itoa(ports[0]),
		"SIEVE_OTLP_GRPC_ENDPOINT": addr(7),
		"SIEVE_OTLP_HTTP_ENDPOINT": addr(8),
		"SIEVE_TELEMETRY_PORT":     strconv.Itoa(ports[9]),
		"SIEVE_HEALTH_ENDPOINT":    addr(10),
		"SIEVE_PPROF_ENDPOINT":     addr(11),
	}, addr(10), "--config", "/etc/sieve/agent.yaml")

	for _, c := range []*container{gateway, agent} {
		user, huser, caps := c.top(t)
		require.Equal(t, "sieve", user, "%s: user inside the container", c.name)
		require.Equal(t, strconv.Itoa(imageUID), huser, "%s: user on the host", c.name)
		require.Equal(t, "none", caps, "%s: effective capabilities", c.name)
		t.Logf("%s runs as %s (host uid %s), effective capabilities %s", c.name, user, huser, caps)
	}

	start := time.Now()
	const errorsSent, infosSent, spansSent, ordersTotal = 300, 300, 200, 1234
	sendTelemetry(t, addr(7), errorsSent, infosSent, spansSent, ordersTotal)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// Loki: the shipped policy keeps every error record that has a uid, each once with its body.
	ids := map[string]string{}
	var dup []string
	require.Eventually(t, func() bool {
		streams, err := loki.QueryRange(ctx, "", `{service_name="image-test", level="error"}`, start.Add(-time.Minute), time.Now().Add(time.Minute))
		if err != nil {
			t.Logf("loki query: %v", err)
			return false
		}
		ids, dup = map[string]string{}, nil
		for _, s := range streams {
			for _, e := range s.Entries {
				id := e.Metadata["test_id"]
				if _, seen := ids[id]; seen {
					dup = append(dup, id)
				}
				ids[id] = e.Line
			}
		}
		return len(ids) >= errorsSent
	}, 2*time.Minute, 500*time.Millisecond, "loki holds %d of %d error records", len(ids), errorsSent)
	require.Empty(t, dup, "error records delivered twice")
	for i := range errorsSent {
		id := fmt.Sprintf("err-%04d", i)
		require.Equal(t, "payment failed for order "+strconv.Itoa(i), ids[id], id)
	}
	// Info records go out in the same batches as the errors, so they have arrived by now: the
	// policy keeps 0.1% of them (a 10% bound leaves no room for chance but proves the sampling).
	infos, err := loki.QueryRange(ctx, "", `{service_name="image-test", level="info"}`, start.Add(-time.Minute), time.Now().Add(time.Minute))
	require.NoError(t, err)
	var infosKept int
	for _, s := range infos {
		infosKept += len(s.Entries)
	}
	require.Less(t, infosKept, infosSent/10, "info records must be sampled down by the shipped policy")

	// Prometheus: the counter's final cumulative value, and one latency observation per span
	// (fine_histogram counts the full stream before trace sampling).
	// Both are polled until they hold the final value: the counter's earlier exports and the
	// histogram's earlier flushes may show partial values first.
	promEquals := func(q string, want float64) float64 {
		var res []backends.Sample
		var err error
		require.Eventually(t, func() bool {
			res, err = prom.Query(ctx, q, time.Now())
			return err == nil && len(res) == 1 && res[0].Value == want
		}, 2*time.Minute, 500*time.Millisecond, "query %s = %v (%v), want %v", q, res, err, want)
		return res[0].Value
	}
	orders := promEquals(`image_test_orders_total{job="image-test",instance="image-test-1",region="eu-west"}`, ordersTotal)
	spans := promEquals(`sum(span_duration_seconds_count{service_name="image-test"})`, spansSent)

	// The queues were written on the mounted volumes by the non-root user, with the root
	// filesystem read-only.
	for _, c := range []*container{gateway, agent} {
		entries, err := os.ReadDir(c.queueDir)
		require.NoError(t, err)
		var files []string
		for _, e := range entries {
			info, err := e.Info()
			require.NoError(t, err)
			if !info.Mode().IsRegular() {
				continue
			}
			files = append(files, e.Name())
			require.EqualValues(t, imageUID, info.Sys().(*syscall.Stat_t).Uid, "%s: owner of %s", c.name, e.Name())
		}
		require.NotEmpty(t, files, "%s: no queue file in %s", c.name, c.queueDir)
		t.Logf("%s queue files: %v", c.name, files)
	}

	// SIGTERM reaches Sieve as PID 1 (the image has no init) and it shuts down cleanly: exit code 0,
	// not the 137 of podman's SIGKILL at the stop timeout. The agent first, as in a rollout.
	for _, c := range []*container{agent, gateway} {
		began := time.Now()
		_, err := podman("stop", "--time", "60", c.name)
		require.NoError(t, err)
		code, err := podman("container", "inspect", "--format", "{{.State.ExitCode}}", c.name)
		require.NoError(t, err)
		require.Equal(t, "0", strings.TrimSpace(code), "%s: exit code after SIGTERM", c.name)
		t.Logf("%s stopped cleanly in %s", c.name, time.Since(began).Round(10*time.Millisecond))
	}
	t.Logf("loki: %d of %d error records, %d of %d info records; prometheus: counter %v (sent %d), %v of %d spans",
		len(ids), errorsSent, infosKept, infosSent, orders, ordersTotal, spans, spansSent)
}

// podman runs scripts/podman.sh (podman with the project's settings for restricted hosts,
// installed when missing) and returns its combined output.
func podman(args ...string) (string, error) {
	cmd := exec.Command("bash", append([]string{harness.RepoPath("scripts/podman.sh")}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("podman %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// buildImage runs the project's build script every time: podman's layer cache makes it a few
// seconds when nothing changed, and the test never runs an image older than bin/sieve.
func buildImage(t *testing.T, image string) {
	t.Helper()
	cmd := exec.Command("bash", harness.RepoPath("scripts/build-image.sh"))
	cmd.Env = append(os.Environ(), "IMAGE="+image)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	began := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("scripts/build-image.sh could not build %s (podman must be able to build and run containers here): %v\n%s", image, err, out.String())
	}
	t.Logf("image %s built in %s:\n%s", image, time.Since(began).Round(100*time.Millisecond), strings.TrimSpace(out.String()))
}

// checkImageConfig checks what the Containerfile declares for deployments.
func checkImageConfig(t *testing.T, image string) {
	t.Helper()
	out, err := podman("image", "inspect", "--format",
		"{{.Config.User}}|{{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}|{{range $v, $_ := .Config.Volumes}}{{$v}} {{end}}|{{json .Config.Entrypoint}}|{{json .Config.Cmd}}|{{index .Config.Labels \"org.opencontainers.image.title\"}}|{{.Size}}",
		image)
	require.NoError(t, err)
	f := strings.Split(strings.TrimSpace(out), "|")
	require.Len(t, f, 7, out)
	require.Equal(t, "10001:10001", f[0], "user")
	ports := strings.Fields(f[1])
	slices.Sort(ports)
	require.Equal(t, []string{"13133/tcp", "4317/tcp", "4318/tcp", "5778/tcp", "8888/tcp"}, ports, "exposed ports")
	require.Equal(t, "/var/lib/sieve", strings.TrimSpace(f[2]), "volumes")
	require.Equal(t, `["/sieve"]`, f[3], "entrypoint")
	require.Equal(t, `["--config","/etc/sieve/gateway.yaml"]`, f[4], "cmd")
	require.Equal(t, "sieve", f[5], "title label")
	size, err := strconv.ParseInt(f[6], 10, 64)
	require.NoError(t, err)
	t.Logf("image size %.1f MiB", float64(size)/(1<<20))
}

type container struct {
	name     string
	queueDir string
}

// startContainer runs one Sieve container from the image and waits for its health check. The
// host directory mounted as the queue volume is owned by the image's user, as an operator would
// prepare it; the root filesystem is read-only without podman's extra tmpfs mounts (which Docker
// does not add), so the image must need no writable path but the volume.
func startContainer(t *testing.T, image, role string, env map[string]string, healthAddr string, args ...string) *container {
	t.Helper()
	c := &container{name: fmt.Sprintf("sieve-image-test-%s-%d-%d", role, os.Getpid(), time.Now().UnixNano()%1e6)}
	// Registered before the container's cleanup, so removed after the container is gone.
	dir := t.TempDir()
	c.queueDir = dir
	require.NoError(t, os.Chown(dir, imageUID, imageUID), "the test prepares the volume as root would; run it as root")

	run := []string{"run", "--detach", "--name", c.name,
		"--network", "host",
		"--read-only", "--read-only-tmpfs=false",
		"--cap-drop", "all", "--security-opt", "no-new-privileges",
		"--volume", dir + ":/var/lib/sieve:Z"}
	for k, v := range env {
		run = append(run, "--env", k+"="+v)
	}
	run = append(run, image)
	run = append(run, args...)
	if out, err := podman(run...); err != nil {
		t.Fatalf("podman cannot run the %s container here: %v\n%s", role, err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := podman("logs", "--tail", "60", c.name)
			t.Logf("%s container log (last 60 lines):\n%s", role, logs)
		}
		if out, err := podman("rm", "--force", "--time", "10", c.name); err != nil {
			t.Errorf("remove %s container: %v\n%s", role, err, out)
		}
	})

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := client.Get("http://" + healthAddr + "/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c
			}
		}
		state, err := podman("container", "inspect", "--format", "{{.State.Status}}", c.name)
		if err != nil || strings.TrimSpace(state) != "running" {
			logs, _ := podman("logs", "--tail", "60", c.name)
			t.Fatalf("%s container is %q, not running (%v):\n%s", role, strings.TrimSpace(state), err, logs)
		}
		if time.Now().After(deadline) {
			logs, _ := podman("logs", "--tail", "60", c.name)
			t.Fatalf("%s container not healthy at %s within 60s:\n%s", role, healthAddr, logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// top returns the process's user name inside the container, its user on the host and its
// effective capabilities, as podman reads them from the running process.
func (c *container) top(t *testing.T) (user, huser, caps string) {
	t.Helper()
	out, err := podman("top", c.name, "user", "huser", "capeff")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, "one process expected in %s:\n%s", c.name, out)
	f := strings.Fields(lines[1])
	require.GreaterOrEqual(t, len(f), 3, out)
	return f[0], f[1], strings.Join(f[2:], " ")
}

// sendTelemetry sends logs through zap and the otelzap bridge, a counter and spans with the
// OpenTelemetry Go SDK over OTLP/gRPC to endpoint, and flushes everything before returning.
func sendTelemetry(t *testing.T, endpoint string, errorsSent, infosSent, spansSent int, ordersTotal int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res := resource.NewSchemaless(
		attribute.String("service.name", "image-test"),
		attribute.String("service.instance.id", "image-test-1"),
	)

	le, err := otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(endpoint), otlploggrpc.WithInsecure())
	require.NoError(t, err)
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewBatchProcessor(le)))
	log := zap.New(otelzap.NewCore("image-test", otelzap.WithLoggerProvider(lp)))
	for i := range max(errorsSent, infosSent) {
		if i < errorsSent {
			log.Error("payment failed for order "+strconv.Itoa(i),
				zap.String("test_id", fmt.Sprintf("err-%04d", i)), zap.String("uid", fmt.Sprintf("u%d", i%17)))
		}
		if i < infosSent {
			log.Info("order "+strconv.Itoa(i)+" listed",
				zap.String("test_id", fmt.Sprintf("info-%04d", i)), zap.String("uid", fmt.Sprintf("u%d", i%17)))
		}
	}

	me, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(endpoint), otlpmetricgrpc.WithInsecure())
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(sdkmetric.NewPeriodicReader(me)))
	orders, err := mp.Meter("image-test").Int64Counter("image.test.orders")
	require.NoError(t, err)
	region := metric.WithAttributes(attribute.String("region", "eu-west"))
	// Several additions: Prometheus must hold their cumulative sum.
	for _, n := range []int64{1000, 200, ordersTotal - 1200} {
		orders.Add(ctx, n, region)
	}

	te, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure())
	require.NoError(t, err)
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(te))
	tracer := tp.Tracer("image-test")
	end := time.Now()
	for i := range spansSent {
		_, span := tracer.Start(ctx, "GET /orders", trace.WithSpanKind(trace.SpanKindServer),
			trace.WithTimestamp(end.Add(-time.Duration(i+1)*time.Millisecond)))
		span.End(trace.WithTimestamp(end))
	}

	// Shutdown exports what is pending and fails if the agent refused it.
	require.NoError(t, lp.Shutdown(ctx), "logs")
	require.NoError(t, mp.Shutdown(ctx), "metrics")
	require.NoError(t, tp.Shutdown(ctx), "traces")
}
