//go:build e2e

package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/release"
)

// helmTimeout bounds every helm action that waits for readiness.
const helmTimeout = 5 * time.Minute

// helm runs the Helm SDK's actions on one release in one namespace, as
// the helm CLI would.
type helm struct {
	t         *testing.T
	cfg       *action.Configuration
	namespace string
	release   string
	chart     *chart.Chart
}

func newHelm(t *testing.T, namespace, releaseName string) *helm {
	t.Helper()
	cfg := new(action.Configuration)
	logf := func(format string, args ...any) {} // the steps are logged by the tests
	if err := cfg.Init(kube.GetConfig(env.kubeconfig, "", namespace), namespace, "secret", logf); err != nil {
		t.Fatalf("helm init: %v", err)
	}
	c, err := loader.Load(filepath.Join(repoRoot, "charts", "gokv"))
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	return &helm{t: t, cfg: cfg, namespace: namespace, release: releaseName, chart: c}
}

// install is `helm install --wait --wait-for-jobs` with values.
func (h *helm) install(values map[string]any) *release.Release {
	h.t.Helper()
	step(h.t, "helm install %s in %s %v", h.release, h.namespace, values)
	in := action.NewInstall(h.cfg)
	in.ReleaseName = h.release
	in.Namespace = h.namespace
	in.Wait = true
	in.WaitForJobs = true
	in.Timeout = helmTimeout
	rel, err := in.Run(h.chart, values)
	if err != nil {
		h.t.Fatalf("helm install: %v", err)
	}
	return rel
}

// render is `helm template`: the release's manifest, test hooks included.
func (h *helm) render(values map[string]any) (string, error) {
	h.t.Helper()
	in := action.NewInstall(h.cfg)
	in.ReleaseName = h.release
	in.Namespace = h.namespace
	in.DryRun = true
	in.ClientOnly = true
	// Client-only rendering assumes an old Kubernetes; render for the
	// cluster's own version, as the chart's kubeVersion requires.
	sv, err := env.client.Discovery().ServerVersion()
	if err != nil {
		return "", err
	}
	if in.KubeVersion, err = chartutil.ParseKubeVersion(sv.GitVersion); err != nil {
		return "", err
	}
	rel, err := in.Run(h.chart, values)
	if err != nil {
		return "", err
	}
	manifest := rel.Manifest
	for _, hook := range rel.Hooks {
		manifest += "\n---\n" + hook.Manifest
	}
	return manifest, nil
}

// upgrade is `helm upgrade --wait --wait-for-jobs` with values.
func (h *helm) upgrade(values map[string]any) (*release.Release, error) {
	h.t.Helper()
	step(h.t, "helm upgrade %s %v", h.release, values)
	up := action.NewUpgrade(h.cfg)
	up.Namespace = h.namespace
	up.Wait = true
	up.WaitForJobs = true
	up.Timeout = helmTimeout
	return up.Run(h.release, h.chart, values)
}

// rollback is `helm rollback --wait` to revision.
func (h *helm) rollback(revision int) error {
	h.t.Helper()
	step(h.t, "helm rollback %s %d", h.release, revision)
	rb := action.NewRollback(h.cfg)
	rb.Version = revision
	rb.Wait = true
	rb.WaitForJobs = true
	rb.Timeout = helmTimeout
	return rb.Run(h.release)
}

// test is `helm test` and returns the test pods' phases.
func (h *helm) test() (map[string]release.HookPhase, error) {
	h.t.Helper()
	step(h.t, "helm test %s", h.release)
	rt := action.NewReleaseTesting(h.cfg)
	rt.Namespace = h.namespace
	rt.Timeout = helmTimeout
	rel, err := rt.Run(h.release)
	if rel == nil {
		return nil, err
	}
	phases := map[string]release.HookPhase{}
	for _, hook := range rel.Hooks {
		for _, ev := range hook.Events {
			if ev == release.HookTest {
				phases[hook.Name] = hook.LastRun.Phase
			}
		}
	}
	return phases, err
}

// uninstall is `helm uninstall --wait`.
func (h *helm) uninstall() {
	h.t.Helper()
	step(h.t, "helm uninstall %s", h.release)
	un := action.NewUninstall(h.cfg)
	un.Wait = true
	un.Timeout = helmTimeout
	if _, err := un.Run(h.release); err != nil {
		h.t.Fatalf("helm uninstall: %v", err)
	}
}

// status returns the release's current revision.
func (h *helm) revision() int {
	h.t.Helper()
	rel, err := action.NewGet(h.cfg).Run(h.release)
	if err != nil {
		h.t.Fatalf("helm get %s: %v", h.release, err)
	}
	return rel.Version
}

// jobName is the jwt-gen Job of a revision, as the chart names it.
func jobName(releaseName string, revision int) string {
	return fmt.Sprintf("%s-jwt-gen-%d", releaseName, revision)
}
