package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/sieveobs/sieve/testbed/backends"
	"github.com/sieveobs/sieve/testbed/harness"
	"github.com/sieveobs/sieve/testbed/sinks"
)

// image is what `make image` builds and the manifests run by default.
const image = "localhost/sieve:dev"

// podman runs scripts/podman.sh, the project's podman with its runtime settings.
func podman(args ...string) *exec.Cmd {
	return exec.Command("bash", append([]string{harness.RepoPath("scripts/podman.sh")}, args...)...)
}

// kubePlayGateway turns the rendered gateway into what podman 4.3's `kube play` accepts (Pod,
// Deployment, PersistentVolumeClaim and ConfigMap; no StatefulSet, DaemonSet or Service): a
// one-replica Deployment with the StatefulSet's pod template unchanged except for the
// adjustments listed below, a PersistentVolumeClaim (a podman named volume) per claim template,
// and the ConfigMaps the pod uses. Every name gets suffix, so runs never share podman volumes.
//
// Adjustments, all for running on the host's network next to other tests: the listen ports
// (OTLP, sampling, health, and the loopback-only telemetry, pprof and zpages ports) come from
// ports, the container's port list is dropped (podman refuses port mappings on the host network),
// the probes follow the health port, and the backends ConfigMap points at the given URLs.
func kubePlayGateway(t *testing.T, m *manifests, suffix string, ports map[string]int, backendsEnv map[string]string) []byte {
	t.Helper()
	sts := m.StatefulSets[gatewayName]
	tmpl := *sts.Spec.Template.DeepCopy()
	spec := &tmpl.Spec
	c := &spec.Containers[0]
	rename := func(n string) string { return n + "-" + suffix }

	var docs []any
	for _, v := range spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		cm := m.ConfigMaps[v.ConfigMap.Name].DeepCopy()
		cm.Name = rename(cm.Name)
		cm.Namespace = ""
		docs = append(docs, cm)
	}
	for i := range spec.Volumes {
		if cm := spec.Volumes[i].ConfigMap; cm != nil {
			cm.Name = rename(cm.Name)
		}
	}
	for _, from := range c.EnvFrom {
		cm := m.ConfigMaps[from.ConfigMapRef.Name].DeepCopy()
		cm.Name = rename(cm.Name)
		cm.Namespace = ""
		for k, v := range backendsEnv {
			require.Contains(t, cm.Data, k, "the backends ConfigMap sets %s", k)
			cm.Data[k] = v
		}
		docs = append(docs, cm)
	}
	for i := range c.EnvFrom {
		c.EnvFrom[i].ConfigMapRef.Name = rename(c.EnvFrom[i].ConfigMapRef.Name)
	}
	// The claim templates become claims (named volumes) owned by the pod's user, as fsGroup
	// makes them on Kubernetes.
	uid := strconv.FormatInt(*spec.SecurityContext.RunAsUser, 10)
	gid := strconv.FormatInt(*spec.SecurityContext.FSGroup, 10)
	for _, vct := range sts.Spec.VolumeClaimTemplates {
		pvc := &corev1.PersistentVolumeClaim{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
			ObjectMeta: metav1.ObjectMeta{Name: rename(vct.Name), Annotations: map[string]string{
				"volume.podman.io/uid": uid, "volume.podman.io/gid": gid,
			}},
			Spec: vct.Spec,
		}
		docs = append(docs, pvc)
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: vct.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: pvc.Name},
		}})
	}
	// Host-network ports.
	set := func(name, value string) {
		for i := range c.Env {
			if c.Env[i].Name == name {
				c.Env[i] = corev1.EnvVar{Name: name, Value: value}
				return
			}
		}
		c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
	}
	set("SIEVE_OTLP_GRPC_ENDPOINT", fmt.Sprintf("0.0.0.0:%d", ports["otlp-grpc"]))
	set("SIEVE_OTLP_HTTP_ENDPOINT", fmt.Sprintf("0.0.0.0:%d", ports["otlp-http"]))
	set("SIEVE_SAMPLING_ENDPOINT", fmt.Sprintf("0.0.0.0:%d", ports["sampling"]))
	set("SIEVE_SAMPLING_GRPC_ENDPOINT", fmt.Sprintf("0.0.0.0:%d", ports["sampling-grpc"]))
	set("SIEVE_HEALTH_ENDPOINT", fmt.Sprintf("0.0.0.0:%d", ports["health"]))
	set("SIEVE_TELEMETRY_PORT", strconv.Itoa(ports["telemetry"]))
	set("SIEVE_PPROF_ENDPOINT", fmt.Sprintf("127.0.0.1:%d", ports["pprof"]))
	set("SIEVE_ZPAGES_ENDPOINT", fmt.Sprintf("127.0.0.1:%d", ports["zpages"]))
	// On the host network container ports mean nothing, and podman refuses port mappings there.
	c.Ports = nil
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		p.HTTPGet.Port.StrVal = ""
		p.HTTPGet.Port.Type = 0
		p.HTTPGet.Port.IntVal = int32(ports["health"])
	}
	tmpl.Labels["sieve.test/run"] = suffix
	one := int32(1)
	dep := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: rename(sts.Name), Labels: sts.Labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: tmpl.Labels},
			Template: tmpl,
		},
	}
	docs = append(docs, dep)
	var out bytes.Buffer
	for _, d := range docs {
		b, err := yaml.Marshal(d)
		require.NoError(t, err)
		out.WriteString("---\n")
		out.Write(b)
	}
	return out.Bytes()
}

// TestGatewayRunsUnderPodmanKubePlay runs the gateway pod of the dev overlay from the rendered
// manifests with podman (image localhost/sieve:dev), sends it OTLP logs and reads them back from
// a real Loki; it also checks the pod serves the policy from its ConfigMap, runs as UID 10001 on
// a read-only root file system and wrote its queue to the claim's volume.
func TestGatewayRunsUnderPodmanKubePlay(t *testing.T) {
	// The project's build script, every time: podman's layer cache makes it seconds when nothing
	// changed, and the pod never runs an image older than bin/sieve.
	build := exec.Command("bash", harness.RepoPath("scripts/build-image.sh"))
	build.Env = append(os.Environ(), "IMAGE="+image)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("scripts/build-image.sh could not build %s (podman must be able to build and run containers here): %v\n%s", image, err, out)
	}

	loki := backends.StartLoki(t, backends.LokiOptions{})
	rw, err := sinks.Start()
	require.NoError(t, err)
	t.Cleanup(func() { _ = rw.Close() })

	free, err := harness.FreePorts(8)
	require.NoError(t, err)
	ports := map[string]int{}
	for i, n := range []string{"otlp-grpc", "otlp-http", "sampling", "health", "telemetry", "pprof", "zpages", "sampling-grpc"} {
		ports[n] = free[i]
	}
	suffix := fmt.Sprintf("t%d", time.Now().UnixNano()%1_000_000_000)
	m := render(t, "overlays/dev")
	play := kubePlayGateway(t, m, suffix, ports, map[string]string{
		"SIEVE_LOKI_PUSH_URL":     loki.PushURL(),
		"SIEVE_PROMETHEUS_RW_URL": rw.HTTPURL + "/api/v1/write",
	})
	file := filepath.Join(t.TempDir(), "gateway.yaml")
	require.NoError(t, os.WriteFile(file, play, 0o644))

	out, err := podman("kube", "play", "--network", "host", file).CombinedOutput()
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := podman("pod", "logs", "--tail", "60", podName(suffix)).CombinedOutput()
			t.Logf("gateway pod log:\n%s", logs)
		}
		if out, err := podman("kube", "down", file).CombinedOutput(); err != nil {
			t.Errorf("podman kube down: %v\n%s", err, out)
		}
		// kube down leaves volumes: remove this run's (the claim and the ConfigMaps').
		vols, _ := podman("volume", "ls", "--format", "{{.Name}}").Output()
		for _, v := range strings.Fields(string(vols)) {
			if strings.HasSuffix(v, "-"+suffix) {
				if out, err := podman("volume", "rm", "--force", v).CombinedOutput(); err != nil {
					t.Errorf("podman volume rm %s: %v\n%s", v, err, out)
				}
			}
		}
	})
	require.NoError(t, err, "podman kube play:\n%s\n%s", out, play)
	t.Logf("podman kube play: %s", out)

	// Health, as the probes see it.
	health := fmt.Sprintf("http://127.0.0.1:%d/", ports["health"])
	require.Eventually(t, func() bool {
		resp, err := http.Get(health)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 90*time.Second, 250*time.Millisecond, "the gateway pod never became healthy at %s", health)

	// The pod as podman runs it: the manifests' user and read-only root file system.
	ctr := podName(suffix) + "-" + gatewayName
	insp, err := podman("container", "inspect", ctr).Output()
	require.NoError(t, err, "podman container inspect %s", ctr)
	var info []struct {
		Config struct {
			User string
			Env  []string
		}
		HostConfig struct {
			ReadonlyRootfs bool
			CapDrop        []string
		}
		Mounts []struct {
			Type, Name, Destination string
		}
	}
	require.NoError(t, json.Unmarshal(insp, &info))
	require.Len(t, info, 1)
	require.True(t, strings.HasPrefix(info[0].Config.User, "10001"), "user %q", info[0].Config.User)
	require.True(t, info[0].HostConfig.ReadonlyRootfs)

	// The live policy, from the policy ConfigMap, on the sampling endpoint for SDKs.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/policy", ports["sampling"]))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.Contains(t, string(body), "shop-1", "the policy of configs/policy.yaml")

	// Logs through the gateway to Loki: errors with a uid are all kept by the shipped policy.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now().Add(-time.Minute)
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "kubeplay-"+suffix)
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	const n = 50
	for i := range n {
		lr := lrs.AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i) * time.Millisecond)))
		lr.SetSeverityNumber(plog.SeverityNumberError)
		lr.SetSeverityText("error")
		lr.Body().SetStr(fmt.Sprintf("order %d failed", i))
		lr.Attributes().PutStr("uid", fmt.Sprintf("u%d", i))
	}
	req, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	require.NoError(t, err)
	post, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/v1/logs", ports["otlp-http"]), bytes.NewReader(req))
	require.NoError(t, err)
	post.Header.Set("Content-Type", "application/x-protobuf")
	resp, err = http.DefaultClient.Do(post)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	var got int
	require.Eventually(t, func() bool {
		streams, err := loki.QueryRange(ctx, "", fmt.Sprintf(`{service_name=%q}`, "kubeplay-"+suffix), start.Add(-time.Minute), time.Now().Add(time.Minute))
		if err != nil {
			return false
		}
		got = 0
		for _, s := range streams {
			got += len(s.Entries)
		}
		return got == n
	}, time.Minute, 500*time.Millisecond, "Loki holds %d of %d records sent through the pod", got, n)

	// The queue lives on the claim's volume, not in the container.
	var queueVolume string
	for _, mnt := range info[0].Mounts {
		if mnt.Destination == "/var/lib/sieve" {
			queueVolume = mnt.Name
		}
	}
	require.Equal(t, "queue-"+suffix, queueVolume, "mounts: %+v", info[0].Mounts)
}

// podName is the pod podman 4.3 creates for the Deployment of a run (<deployment>-pod-<replica>).
func podName(suffix string) string { return gatewayName + "-" + suffix + "-pod-0" }
