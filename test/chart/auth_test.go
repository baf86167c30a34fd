package chart

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

const (
	newSecret = "the-new-secret-that-is-long-enough-for-hs256"
	oldSecret = "the-old-secret-that-is-long-enough-for-hs256"
)

// TestRotation: during a rotation the chart's Secret holds both secrets,
// only the server reads the previous one, and each step of the rotation
// rolls the pod.
func TestRotation(t *testing.T) {
	rel := mustRender(t, valuesFile(t, "rotation.yaml"))
	secret := only[*corev1.Secret](t, rel)
	if got := string(secret.Data["jwt-secret"]); got != newSecret {
		t.Errorf("Secret jwt-secret = %q, want the new secret", got)
	}
	if got := string(secret.Data["jwt-secret-previous"]); got != oldSecret {
		t.Errorf("Secret jwt-secret-previous = %q, want the old secret", got)
	}
	gokv := container(t, only[*appsv1.StatefulSet](t, rel).Spec.Template.Spec, "gokv")
	i := envIndex(gokv, "JWT_SECRET_PREVIOUS")
	if i < 0 {
		t.Fatal("the server has no JWT_SECRET_PREVIOUS during a rotation")
	}
	ref := gokv.Env[i].ValueFrom.SecretKeyRef
	if ref.Name != secret.Name || ref.Key != "jwt-secret-previous" || ref.Optional != nil && *ref.Optional {
		t.Errorf("JWT_SECRET_PREVIOUS from %s/%s (optional %v), want %s/jwt-secret-previous, required", ref.Name, ref.Key, ref.Optional, secret.Name)
	}
	// Whatever mints tokens signs with the current secret only.
	for _, job := range each[*batchv1.Job](rel) {
		for _, c := range job.Spec.Template.Spec.Containers {
			if envIndex(c, "JWT_SECRET_PREVIOUS") >= 0 {
				t.Errorf("Job %s container %s gets JWT_SECRET_PREVIOUS", job.Name, c.Name)
			}
		}
	}

	// The three steps of a rotation each give the pod another checksum,
	// so each rolls it.
	steps := []map[string]any{
		{"jwtSecret": oldSecret},
		{"jwtSecret": newSecret, "previousJwtSecret": oldSecret},
		{"jwtSecret": newSecret},
	}
	seen := map[string]int{}
	for i, auth := range steps {
		rel := mustRender(t, map[string]any{"auth": auth})
		sum := only[*appsv1.StatefulSet](t, rel).Spec.Template.Annotations["checksum/secret"]
		if j, ok := seen[sum]; ok {
			t.Errorf("rotation steps %d and %d have the same checksum/secret: the pod would not roll", j, i)
		}
		seen[sum] = i
		if i != 1 {
			if _, ok := only[*corev1.Secret](t, rel).Data["jwt-secret-previous"]; ok {
				t.Errorf("step %d: the Secret holds a previous secret", i)
			}
			if envIndex(container(t, only[*appsv1.StatefulSet](t, rel).Spec.Template.Spec, "gokv"), "JWT_SECRET_PREVIOUS") >= 0 {
				t.Errorf("step %d: JWT_SECRET_PREVIOUS without a previous secret", i)
			}
		}
	}
}

// TestRotationWithExistingSecret: the previous secret is an optional key
// of the user's Secret, so that it can be added for a rotation and
// removed after it.
func TestRotationWithExistingSecret(t *testing.T) {
	tests := []struct {
		auth    map[string]any
		wantKey string
	}{
		{map[string]any{"existingSecret": "mine"}, "jwt-secret-previous"},
		{map[string]any{"existingSecret": "mine", "previousSecretKey": "old"}, "old"},
	}
	for _, tt := range tests {
		t.Run(tt.wantKey, func(t *testing.T) {
			rel := mustRender(t, map[string]any{"auth": tt.auth})
			gokv := container(t, only[*appsv1.StatefulSet](t, rel).Spec.Template.Spec, "gokv")
			i := envIndex(gokv, "JWT_SECRET_PREVIOUS")
			if i < 0 {
				t.Fatal("no JWT_SECRET_PREVIOUS with an existing Secret")
			}
			ref := gokv.Env[i].ValueFrom.SecretKeyRef
			if ref.Name != "mine" || ref.Key != tt.wantKey || ref.Optional == nil || !*ref.Optional {
				t.Errorf("JWT_SECRET_PREVIOUS from %s/%s (optional %v), want mine/%s, optional", ref.Name, ref.Key, ref.Optional, tt.wantKey)
			}
		})
	}
}

func TestPreviousSecretMustDiffer(t *testing.T) {
	_, err := render(loadChart(t), map[string]any{"auth": map[string]any{"jwtSecret": newSecret, "previousJwtSecret": newSecret}}, 1)
	if err == nil || !strings.Contains(err.Error(), "previousJwtSecret must differ") {
		t.Fatalf("render with the same secret twice: %v", err)
	}
}

// TestScopedJobToken: jwtGen.scope and jwtGen.buckets reach jwt-gen as
// its flags, one --bucket each.
func TestScopedJobToken(t *testing.T) {
	tests := []struct {
		name   string
		jwtGen map[string]any
		want   string
	}{
		{"unscoped", map[string]any{}, "--expires-in=24h --subject=gokv-user"},
		{"read", map[string]any{"scope": "read"}, "--expires-in=24h --subject=gokv-user --scope=read"},
		{"read write on two", map[string]any{"scope": "read write", "buckets": []any{"cfg", "team-a-*"}},
			"--expires-in=24h --subject=gokv-user --scope=read write --bucket=cfg --bucket=team-a-*"},
		{"buckets only", map[string]any{"buckets": []any{"*"}}, "--expires-in=24h --subject=gokv-user --bucket=*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rel := mustRender(t, map[string]any{"jwtGen": tt.jwtGen})
			if args := strings.Join(only[*batchv1.Job](t, rel).Spec.Template.Spec.Containers[0].Args, " "); args != tt.want {
				t.Errorf("jwt-gen args = %q, want %q", args, tt.want)
			}
		})
	}
}

func TestSchemaRejectsBadAuthValues(t *testing.T) {
	c := loadChart(t)
	tests := []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"short previous secret", map[string]any{"auth": map[string]any{"previousJwtSecret": "short"}}, "/auth/previousJwtSecret"},
		{"previous key with a slash", map[string]any{"auth": map[string]any{"previousSecretKey": "a/b"}}, "/auth/previousSecretKey"},
		{"unknown scope", map[string]any{"jwtGen": map[string]any{"scope": "read delete"}}, "/jwtGen/scope"},
		{"comma in the scope", map[string]any{"jwtGen": map[string]any{"scope": "read,write"}}, "/jwtGen/scope"},
		{"buckets as text", map[string]any{"jwtGen": map[string]any{"buckets": "cfg"}}, "/jwtGen/buckets"},
		{"glob in the middle", map[string]any{"jwtGen": map[string]any{"buckets": []any{"a*b"}}}, "/jwtGen/buckets/0"},
		{"reserved bucket", map[string]any{"jwtGen": map[string]any{"buckets": []any{"_admin"}}}, "/jwtGen/buckets/0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := render(c, tt.values, 1)
			if err == nil {
				t.Fatalf("values %v were accepted", tt.values)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error does not mention %q:\n%v", tt.want, err)
			}
		})
	}
}
