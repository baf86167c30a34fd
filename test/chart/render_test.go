package chart

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// chartDir is the chart under test, relative to this package.
const chartDir = "../../charts/gokv"

const (
	releaseName = "gokv"
	namespace   = "gokv-test"
)

// kubeVersion is the Kubernetes the chart is rendered for: the version the
// end-to-end suite runs.
var kubeVersion = chartutil.KubeVersion{Version: "v1.34.0", Major: "1", Minor: "34"}

// strict decodes YAML into Kubernetes API types and fails on unknown or
// duplicate fields, which the API server would silently drop.
var strict = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

// release is one rendering of the chart, decoded.
type release struct {
	objects []runtime.Object
	notes   string
}

func loadChart(t testing.TB) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	return c
}

// valuesFile reads a values file of the chart's ci/ directory; "" means
// the defaults alone.
func valuesFile(t testing.TB, name string) map[string]any {
	t.Helper()
	if name == "" {
		return map[string]any{}
	}
	v, err := chartutil.ReadValuesFile(filepath.Join(chartDir, "ci", name))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// scenarios lists the values files in ci/, plus the defaults ("").
func scenarios(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario values in %s/ci: %v", chartDir, err)
	}
	names := []string{""}
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	return names
}

// render renders the chart as `helm install` (revision 1) or the
// revision-th `helm upgrade` would, validating values against the schema.
func render(c *chart.Chart, values map[string]any, revision int) (release, error) {
	return renderFor(c, values, revision)
}

// renderFor is render on a cluster that also serves apiVersions (such as
// monitoring.coreos.com/v1, the Prometheus Operator's).
func renderFor(c *chart.Chart, values map[string]any, revision int, apiVersions ...string) (release, error) {
	opts := chartutil.ReleaseOptions{
		Name:      releaseName,
		Namespace: namespace,
		Revision:  revision,
		IsInstall: revision == 1,
		IsUpgrade: revision > 1,
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = kubeVersion
	caps.APIVersions = append(caps.APIVersions, apiVersions...)
	if !chartutil.IsCompatibleRange(c.Metadata.KubeVersion, kubeVersion.String()) {
		return release{}, fmt.Errorf("the chart's kubeVersion %q excludes %s", c.Metadata.KubeVersion, kubeVersion)
	}
	vals, err := chartutil.ToRenderValues(c, values, opts, caps)
	if err != nil {
		return release{}, err
	}
	files, err := engine.Render(c, vals)
	if err != nil {
		return release{}, err
	}
	var rel release
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		content := files[name]
		if strings.HasSuffix(name, "NOTES.txt") {
			rel.notes = content
			continue
		}
		for _, doc := range releaseutil.SplitManifests(content) {
			if onlyComments(doc) {
				continue
			}
			obj, err := decode(doc)
			if err != nil {
				return release{}, fmt.Errorf("%s does not decode strictly: %w\n%s", name, err, doc)
			}
			rel.objects = append(rel.objects, obj)
		}
	}
	return rel, nil
}

// decode decodes one rendered object strictly: Kubernetes' own types with
// client-go's scheme, the Prometheus Operator's ServiceMonitor with the
// fields the chart sets.
func decode(doc string) (runtime.Object, error) {
	if strings.Contains("\n"+doc, "\napiVersion: "+monitoringAPI+"\n") {
		var sm serviceMonitor
		if err := yaml.UnmarshalStrict([]byte(doc), &sm); err != nil {
			return nil, err
		}
		return &sm, nil
	}
	obj, _, err := strict.Decode([]byte(doc), nil, nil)
	return obj, err
}

// monitoringAPI is the Prometheus Operator's API group and version.
const monitoringAPI = "monitoring.coreos.com/v1"

// serviceMonitor is the part of the Prometheus Operator's ServiceMonitor
// the chart renders; decoding is strict, so a field it does not know fails.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port          string           `json:"port"`
			Path          string           `json:"path"`
			Interval      string           `json:"interval,omitempty"`
			ScrapeTimeout string           `json:"scrapeTimeout,omitempty"`
			Relabelings   []map[string]any `json:"relabelings,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

func (sm *serviceMonitor) DeepCopyObject() runtime.Object {
	c := *sm
	return &c
}

func mustRender(t testing.TB, values map[string]any) release {
	t.Helper()
	rel, err := render(loadChart(t), values, 1)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// only returns the single object of type T, failing if there is not
// exactly one.
func only[T runtime.Object](t testing.TB, rel release) T {
	t.Helper()
	all := each[T](rel)
	if len(all) != 1 {
		var zero T
		t.Fatalf("want exactly one %T, rendered %d", zero, len(all))
	}
	return all[0]
}

// each returns every object of type T.
func each[T runtime.Object](rel release) []T {
	var all []T
	for _, o := range rel.objects {
		if v, ok := o.(T); ok {
			all = append(all, v)
		}
	}
	return all
}

// repoFile reads a file relative to the repository root.
func repoFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../..", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// onlyComments reports whether a YAML document holds no object.
func onlyComments(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			return false
		}
	}
	return true
}
