// Package deploy tests the Kubernetes manifests in deploy/kubernetes: every kustomization renders
// with `kubectl kustomize`, every object decodes strictly into its k8s.io/api type, the
// properties the fleet depends on hold, the embedded configurations are the shipped ones and
// validate with bin/sieve, and the gateway runs from the manifests under `podman kube play`.
package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/sieveobs/sieve/testbed/harness"
)

// kustomizations are the folders `kubectl apply -k` is documented for (and the base).
var kustomizations = []string{"base", "overlays/dev", "overlays/production"}

func deployDir(rel string) string { return harness.RepoPath(filepath.Join("deploy/kubernetes", rel)) }

// manifests is one rendered kustomization, every object decoded into its API type.
type manifests struct {
	Namespaces   []*corev1.Namespace
	ConfigMaps   map[string]*corev1.ConfigMap
	Services     map[string]*corev1.Service
	DaemonSets   map[string]*appsv1.DaemonSet
	StatefulSets map[string]*appsv1.StatefulSet
	PDBs         map[string]*policyv1.PodDisruptionBudget
	// Kinds lists "Kind/name" of every object in output order.
	Kinds []string
}

func kubectlPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl is not installed: these tests render the manifests with `kubectl kustomize` "+
			"(kustomize v5). Install it with testbed/scripts/install-deps.sh (Debian package kubectl): %v", err)
	}
	return p
}

// kustomize renders a kustomization folder.
func kustomize(t *testing.T, dir string) []byte {
	t.Helper()
	cmd := exec.Command(kubectlPath(t), "kustomize", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "kubectl kustomize %s: %s", dir, stderr.String())
	return out
}

// decodeStrict decodes one YAML document into v, refusing fields the type does not have (in
// any letter case) and duplicate fields.
func decodeStrict(doc []byte, v any) error {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	// Case-sensitive, as the API server decodes (encoding/json would take clusterIp for clusterIP).
	strict, err := sigsjson.UnmarshalStrict(js, v, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// decodeManifests splits a multi-document stream and decodes every object strictly.
func decodeManifests(stream []byte) (*manifests, error) {
	m := &manifests{
		ConfigMaps:   map[string]*corev1.ConfigMap{},
		Services:     map[string]*corev1.Service{},
		DaemonSets:   map[string]*appsv1.DaemonSet{},
		StatefulSets: map[string]*appsv1.StatefulSet{},
		PDBs:         map[string]*policyv1.PodDisruptionBudget{},
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, err
		}
		var obj any
		switch tm.APIVersion + "/" + tm.Kind {
		case "v1/Namespace":
			obj = &corev1.Namespace{}
		case "v1/ConfigMap":
			obj = &corev1.ConfigMap{}
		case "v1/Service":
			obj = &corev1.Service{}
		case "apps/v1/DaemonSet":
			obj = &appsv1.DaemonSet{}
		case "apps/v1/StatefulSet":
			obj = &appsv1.StatefulSet{}
		case "policy/v1/PodDisruptionBudget":
			obj = &policyv1.PodDisruptionBudget{}
		default:
			return nil, fmt.Errorf("unexpected object %s %s in the manifests (add it to the test)", tm.APIVersion, tm.Kind)
		}
		if err := decodeStrict(doc, obj); err != nil {
			return nil, fmt.Errorf("%s: %w\n%s", tm.Kind, err, doc)
		}
		var name string
		switch o := obj.(type) {
		case *corev1.Namespace:
			m.Namespaces, name = append(m.Namespaces, o), o.Name
		case *corev1.ConfigMap:
			m.ConfigMaps[o.Name], name = o, o.Name
		case *corev1.Service:
			m.Services[o.Name], name = o, o.Name
		case *appsv1.DaemonSet:
			m.DaemonSets[o.Name], name = o, o.Name
		case *appsv1.StatefulSet:
			m.StatefulSets[o.Name], name = o, o.Name
		case *policyv1.PodDisruptionBudget:
			m.PDBs[o.Name], name = o, o.Name
		}
		m.Kinds = append(m.Kinds, tm.Kind+"/"+name)
	}
	return m, nil
}

func render(t *testing.T, rel string) *manifests {
	t.Helper()
	m, err := decodeManifests(kustomize(t, deployDir(rel)))
	require.NoError(t, err, "rendering %s", rel)
	return m
}

// configMapNamed finds a generated ConfigMap by its name before kustomize's hash suffix.
func (m *manifests) configMapNamed(t *testing.T, base string) *corev1.ConfigMap {
	t.Helper()
	var found []*corev1.ConfigMap
	for name, cm := range m.ConfigMaps {
		if name == base || (strings.HasPrefix(name, base+"-") && len(name) == len(base)+11) {
			found = append(found, cm)
		}
	}
	require.Len(t, found, 1, "ConfigMap %s", base)
	return found[0]
}

func TestStrictDecodingRefusesUnknownFields(t *testing.T) {
	good := "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  clusterIP: None\n"
	_, err := decodeManifests([]byte(good))
	require.NoError(t, err)
	for _, c := range []struct{ doc, want string }{
		{"apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  clusterIp: None\n", `unknown field "spec.clusterIp"`},
		{"apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: s\nspec:\n  template:\n    spec:\n      containers:\n" +
			"        - name: c\n          securityContext:\n            readOnlyRootFileSystem: true\n", "readOnlyRootFileSystem"},
		{"apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  type: ClusterIP\n  type: NodePort\n", `key "type" already set`},
		{"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n", "unexpected object v1 Secret"},
	} {
		bad, want := c.doc, c.want
		_, err := decodeManifests([]byte(bad))
		require.ErrorContains(t, err, want, "accepted or refused for another reason:\n%s", bad)
	}
}

func TestKustomizationsRenderEveryObject(t *testing.T) {
	for _, k := range kustomizations {
		t.Run(k, func(t *testing.T) {
			m := render(t, k)
			require.Len(t, m.Namespaces, 1)
			require.Equal(t, "sieve", m.Namespaces[0].Name)
			require.Contains(t, m.DaemonSets, "sieve-agent")
			require.Contains(t, m.StatefulSets, "sieve-gateway")
			require.Contains(t, m.Services, "sieve-gateway")
			require.Contains(t, m.Services, "sieve-gateway-headless")
			require.Contains(t, m.PDBs, "sieve-gateway")
			require.Len(t, m.ConfigMaps, 4, "agent, gateway, policy and backends ConfigMaps: %v", m.Kinds)
			require.Len(t, m.Kinds, 1+4+1+1+2+1, "objects: %v", m.Kinds)
		})
	}
}
