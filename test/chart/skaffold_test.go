package chart

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/strvals"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// skaffoldConfig is the part of skaffold's v4beta schema that skaffold.yaml
// uses. Decoding is strict, so a misspelt or misplaced field fails here
// rather than being ignored by skaffold.
type skaffoldConfig struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Build struct {
		Artifacts []struct {
			Image  string `json:"image"`
			Docker struct {
				Dockerfile string `json:"dockerfile"`
			} `json:"docker"`
		} `json:"artifacts"`
		Local struct {
			Push *bool `json:"push"`
		} `json:"local"`
	} `json:"build"`
	Deploy struct {
		Helm struct {
			Releases []struct {
				Name              string            `json:"name"`
				ChartPath         string            `json:"chartPath"`
				Namespace         string            `json:"namespace"`
				CreateNamespace   bool              `json:"createNamespace"`
				SetValueTemplates map[string]string `json:"setValueTemplates"`
				SetValues         map[string]any    `json:"setValues"`
			} `json:"releases"`
		} `json:"helm"`
	} `json:"deploy"`
	PortForward []struct {
		ResourceType string `json:"resourceType"`
		ResourceName string `json:"resourceName"`
		Namespace    string `json:"namespace"`
		Port         int    `json:"port"`
		LocalPort    int    `json:"localPort"`
	} `json:"portForward"`
	Profiles []struct {
		Name       string `json:"name"`
		Activation []struct {
			Command string `json:"command"`
		} `json:"activation"`
		Patches []struct {
			Op    string `json:"op"`
			Path  string `json:"path"`
			Value any    `json:"value"`
		} `json:"patches"`
	} `json:"profiles"`
}

func TestSkaffoldConfig(t *testing.T) {
	var cfg skaffoldConfig
	if err := yaml.UnmarshalStrict([]byte(repoFile(t, "skaffold.yaml")), &cfg); err != nil {
		t.Fatalf("skaffold.yaml: %v", err)
	}
	if !regexp.MustCompile(`^skaffold/v4beta[0-9]+$`).MatchString(cfg.APIVersion) || cfg.Kind != "Config" {
		t.Errorf("apiVersion %q kind %q, want skaffold/v4beta* Config", cfg.APIVersion, cfg.Kind)
	}

	if len(cfg.Build.Artifacts) != 1 {
		t.Fatalf("%d artifacts, want the gokv image", len(cfg.Build.Artifacts))
	}
	art := cfg.Build.Artifacts[0]
	if _, err := os.Stat(filepath.Join("../..", art.Docker.Dockerfile)); err != nil {
		t.Errorf("artifact %s builds from %q: %v", art.Image, art.Docker.Dockerfile, err)
	}

	if len(cfg.Deploy.Helm.Releases) != 1 {
		t.Fatalf("%d helm releases, want 1", len(cfg.Deploy.Helm.Releases))
	}
	rel := cfg.Deploy.Helm.Releases[0]
	if filepath.Clean(filepath.Join("../..", rel.ChartPath)) != filepath.Clean(chartDir) {
		t.Errorf("chartPath %q is not charts/gokv", rel.ChartPath)
	}
	// The built image must reach the chart's image values.
	wantTemplates := map[string]string{
		"image.repository": "{{.IMAGE_REPO_" + art.Image + "}}",
		"image.tag":        "{{.IMAGE_TAG_" + art.Image + "}}",
	}
	for k, want := range wantTemplates {
		if got := rel.SetValueTemplates[k]; !strings.HasPrefix(got, want) {
			t.Errorf("setValueTemplates[%s] = %q, want it to start with %q", k, got, want)
		}
	}

	// Every value skaffold sets, in every profile, must be one the chart's
	// schema accepts, so render the chart with them.
	setValues := map[string]any{}
	for k, v := range rel.SetValues {
		setValues[k] = v
	}
	for _, p := range cfg.Profiles {
		for _, patch := range p.Patches {
			key, ok := strings.CutPrefix(patch.Path, "/deploy/helm/releases/0/setValues/")
			if patch.Op != "add" || !ok {
				t.Errorf("profile %s patches %s %s; only additions to setValues are checked here", p.Name, patch.Op, patch.Path)
				continue
			}
			setValues[key] = patch.Value
		}
	}
	values := map[string]any{}
	for k := range rel.SetValueTemplates {
		setValues[k] = "rendered-by-skaffold"
	}
	for k, v := range setValues {
		if err := strvals.ParseInto(fmt.Sprintf("%s=%v", k, v), values); err != nil {
			t.Fatalf("set %s: %v", k, err)
		}
	}
	rendered, err := render(loadChart(t), values, 1)
	if err != nil {
		t.Fatalf("the chart refuses skaffold's values %v: %v", setValues, err)
	}

	// The port forward must name the client Service the release renders.
	if len(cfg.PortForward) != 1 {
		t.Fatalf("%d port forwards, want the Service", len(cfg.PortForward))
	}
	pf := cfg.PortForward[0]
	if pf.ResourceType != "service" || pf.Namespace != rel.Namespace || pf.LocalPort != 8080 {
		t.Errorf("portForward %+v, want a service in %s to localhost:8080", pf, rel.Namespace)
	}
	var forwarded bool
	for _, svc := range each[*corev1.Service](rendered) {
		forwarded = forwarded || svc.Name == pf.ResourceName && svc.Spec.ClusterIP != corev1.ClusterIPNone &&
			len(svc.Spec.Ports) > 0 && svc.Spec.Ports[0].Name == "http" && int(svc.Spec.Ports[0].Port) == pf.Port
	}
	if rel.Name != releaseName || !forwarded {
		t.Errorf("portForward to %s:%d does not match the client Service of release %s", pf.ResourceName, pf.Port, rel.Name)
	}

	var dev bool
	for _, p := range cfg.Profiles {
		dev = dev || p.Name == "dev"
	}
	if !dev {
		t.Error("no dev profile")
	}
}
