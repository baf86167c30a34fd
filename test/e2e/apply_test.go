//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/releaseutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"
)

// warnings collects the API server's warning headers (PodSecurity
// admission reports violations of a namespace's policy this way).
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, msg)
}

// apply server-side applies every object of a multi-document manifest
// into ns, as `kubectl apply --server-side` does; with dryRun the API
// server validates and admits them without storing anything. It returns
// the server's warnings.
func apply(t *testing.T, ns, manifest string, dryRun bool) ([]string, error) {
	t.Helper()
	w := &warnings{}
	cfg := rest.CopyConfig(env.restConfig)
	cfg.WarningHandler = w
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(env.client.Discovery()))
	force := true
	opts := metav1.PatchOptions{FieldManager: "gokv-e2e", Force: &force}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	for _, doc := range releaseutil.SplitManifests(manifest) {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
			return nil, fmt.Errorf("decode manifest: %w", err)
		}
		if len(obj.Object) == 0 {
			continue // a document of comments
		}
		gvk := obj.GroupVersionKind()
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", gvk, err)
		}
		body, err := json.Marshal(obj)
		if err != nil {
			return nil, err
		}
		_, err = dyn.Resource(mapping.Resource).Namespace(ns).
			Patch(context.Background(), obj.GetName(), types.ApplyPatchType, body, opts)
		if err != nil {
			return nil, fmt.Errorf("apply %s %s: %w", gvk.Kind, obj.GetName(), err)
		}
		if !dryRun {
			step(t, "applied %s/%s", strings.ToLower(gvk.Kind), obj.GetName())
		}
	}
	return w.list, nil
}

// applyFile applies a manifest file into ns for real.
func applyFile(t *testing.T, ns, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apply(t, ns, string(b), false); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
