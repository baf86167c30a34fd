package chart

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestPlainManifestsAreInSync renders k8s/ again with the script that made
// it and fails on any difference: the files are generated, never edited.
func TestPlainManifestsAreInSync(t *testing.T) {
	out := t.TempDir()
	cmd := exec.Command("bash", "../../hack/render-manifests.sh", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/render-manifests.sh: %v\n%s", err, b)
	}
	for _, name := range []string{"gokv.yaml", "jwt-gen-job.yaml"} {
		want, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := repoFile(t, filepath.Join("k8s", name)); got != string(want) {
			t.Errorf("k8s/%s differs from what the chart renders; run `make manifests` and commit the result", name)
		}
	}
}

// TestPlainManifests checks what the plain manifests promise: a working
// gokv that takes its secret from a Secret the user creates, never one of
// their own.
func TestPlainManifests(t *testing.T) {
	objects := decodeFile(t, "k8s/gokv.yaml")
	var sts *appsv1.StatefulSet
	for _, o := range objects {
		switch o := o.(type) {
		case *corev1.Secret:
			t.Errorf("k8s/gokv.yaml contains Secret %s: secrets do not belong in git", o.Name)
		case *batchv1.Job:
			t.Errorf("k8s/gokv.yaml contains Job %s; it belongs in k8s/jwt-gen-job.yaml", o.Name)
		case *appsv1.StatefulSet:
			sts = o
		}
	}
	if sts == nil {
		t.Fatal("k8s/gokv.yaml has no StatefulSet")
	}
	gokv := sts.Spec.Template.Spec.Containers[0]
	if ref := gokv.Env[envIndex(gokv, "JWT_SECRET")].ValueFrom.SecretKeyRef; ref.Name != "gokv-jwt" || ref.Key != "jwt-secret" {
		t.Errorf("JWT_SECRET from %s/%s, want gokv-jwt/jwt-secret as the header says", ref.Name, ref.Key)
	}
	jobs := decodeFile(t, "k8s/jwt-gen-job.yaml")
	if len(jobs) != 1 {
		t.Fatalf("k8s/jwt-gen-job.yaml has %d objects, want one Job", len(jobs))
	}
	job, ok := jobs[0].(*batchv1.Job)
	if !ok {
		t.Fatalf("k8s/jwt-gen-job.yaml holds a %T", jobs[0])
	}
	jc := job.Spec.Template.Spec.Containers[0]
	if ref := jc.Env[envIndex(jc, "JWT_SECRET")].ValueFrom.SecretKeyRef; ref.Name != "gokv-jwt" {
		t.Errorf("the Job reads Secret %s, want gokv-jwt", ref.Name)
	}
}

func decodeFile(t *testing.T, path string) []runtime.Object {
	t.Helper()
	var objects []runtime.Object
	for _, doc := range releaseutil.SplitManifests(repoFile(t, path)) {
		if onlyComments(doc) {
			continue
		}
		obj, _, err := strict.Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		objects = append(objects, obj)
	}
	return objects
}
