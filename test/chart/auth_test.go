package chart

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
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

// TestOIDC: with auth.oidc.enabled gokv gets the issuer settings, the
// policy from a ConfigMap it mounts read-only, and what it needs to read
// the in-cluster issuer's keys: the cluster's CA and a projected token
// for the API server's audience, while the automounted token stays off.
func TestOIDC(t *testing.T) {
	values := valuesFile(t, "oidc.yaml")
	rel := mustRender(t, values)
	sts := only[*appsv1.StatefulSet](t, rel)
	pod := sts.Spec.Template.Spec
	gokv := container(t, pod, "gokv")
	const issuer = "https://kubernetes.default.svc.cluster.local"
	for name, want := range map[string]string{
		"OIDC_ISSUER_URL":  issuer,
		"OIDC_AUDIENCE":    "gokv",
		"OIDC_JWKS_URL":    issuer + "/openid/v1/jwks",
		"OIDC_CA_FILE":     "/var/run/secrets/gokv/oidc/ca.crt",
		"OIDC_TOKEN_FILE":  "/var/run/secrets/gokv/oidc/token",
		"AUTH_POLICY_FILE": "/etc/gokv/policy/policy.yaml",
	} {
		if got := env(gokv, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}

	// Each file gokv is told about is in a read-only mount of the volume
	// that holds it.
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	volumeOf := func(path string) corev1.Volume {
		t.Helper()
		for _, m := range gokv.VolumeMounts {
			if strings.HasPrefix(path, m.MountPath+"/") {
				if !m.ReadOnly {
					t.Errorf("%s is mounted writable", m.MountPath)
				}
				return volumes[m.Name]
			}
		}
		t.Fatalf("nothing is mounted at %s", path)
		return corev1.Volume{}
	}
	cm := only[*corev1.ConfigMap](t, rel)
	if v := volumeOf(env(gokv, "AUTH_POLICY_FILE")); v.ConfigMap == nil || v.ConfigMap.Name != cm.Name {
		t.Errorf("AUTH_POLICY_FILE's volume is %+v, want ConfigMap %s", v.VolumeSource, cm.Name)
	}
	var policy struct {
		Policies []map[string]any `json:"policies"`
	}
	if err := yaml.UnmarshalStrict([]byte(cm.Data["policy.yaml"]), &policy); err != nil {
		t.Fatalf("policy.yaml: %v", err)
	}
	wantPolicies := values["auth"].(map[string]any)["policies"].([]any)
	if len(policy.Policies) != len(wantPolicies) || policy.Policies[0]["subject"] != "system:serviceaccount:team-a:writer" ||
		policy.Policies[0]["scope"] != "read write" || policy.Policies[1]["subject"] != "system:serviceaccount:monitoring:*" {
		t.Errorf("policy.yaml = %+v, want auth.policies %+v", policy.Policies, wantPolicies)
	}
	projected := volumeOf(env(gokv, "OIDC_TOKEN_FILE")).Projected
	if projected == nil {
		t.Fatal("OIDC_TOKEN_FILE is not on a projected volume")
	}
	if volumeOf(env(gokv, "OIDC_CA_FILE")).Name != volumeOf(env(gokv, "OIDC_TOKEN_FILE")).Name {
		t.Error("the CA and the token are on different volumes")
	}
	var token *corev1.ServiceAccountTokenProjection
	var ca *corev1.ConfigMapProjection
	for _, s := range projected.Sources {
		if s.ServiceAccountToken != nil {
			token = s.ServiceAccountToken
		}
		if s.ConfigMap != nil {
			ca = s.ConfigMap
		}
	}
	// An empty audience is the API server's: the token is good for
	// reading the issuer's keys, and no workload's gokv audience.
	if token == nil || token.Audience != "" || token.Path != "token" || token.ExpirationSeconds == nil || *token.ExpirationSeconds > 3600 {
		t.Errorf("projected token = %+v, want path token, the API server's audience, at most 1 h", token)
	}
	if ca == nil || ca.Name != "kube-root-ca.crt" || len(ca.Items) != 1 || ca.Items[0].Key != "ca.crt" || ca.Items[0].Path != "ca.crt" {
		t.Errorf("projected CA = %+v, want kube-root-ca.crt's ca.crt", ca)
	}
	if !strings.Contains(rel.notes, "Service-account tokens of "+issuer) {
		t.Errorf("NOTES do not mention service-account tokens:\n%s", rel.notes)
	}

	// A change of the policy rolls the pod.
	changed := mustRender(t, map[string]any{"auth": map[string]any{"oidc": map[string]any{"enabled": true},
		"policies": []any{map[string]any{"subject": "system:serviceaccount:team-a:writer", "scope": "read"}}}})
	before := sts.Spec.Template.Annotations["checksum/policy"]
	if after := only[*appsv1.StatefulSet](t, changed).Spec.Template.Annotations["checksum/policy"]; before == "" || before == after {
		t.Errorf("checksum/policy %q before and %q after a policy change: the pod would not roll", before, after)
	}
}

func TestOIDCOptions(t *testing.T) {
	policies := []any{map[string]any{"subject": "ci", "scope": "read"}}
	tests := []struct {
		name    string
		oidc    map[string]any
		wantEnv map[string]string // "" means absent
		noToken bool
	}{
		{"external issuer: discovery's jwks_uri, system roots",
			map[string]any{"issuerURL": "https://issuer.example", "caFile": "", "issuerToken": false},
			map[string]string{"OIDC_ISSUER_URL": "https://issuer.example", "OIDC_JWKS_URL": "", "OIDC_CA_FILE": "", "OIDC_TOKEN_FILE": ""}, true},
		{"explicit JWKS URL",
			map[string]any{"jwksURL": "https://10.0.0.1:6443/openid/v1/jwks"},
			map[string]string{"OIDC_JWKS_URL": "https://10.0.0.1:6443/openid/v1/jwks"}, false},
		{"in-cluster issuer by its short name",
			map[string]any{"issuerURL": "https://kubernetes.default.svc"},
			map[string]string{"OIDC_JWKS_URL": "https://kubernetes.default.svc/openid/v1/jwks"}, false},
		{"another audience", map[string]any{"audience": "kv"}, map[string]string{"OIDC_AUDIENCE": "kv"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oidc := map[string]any{"enabled": true}
			for k, v := range tt.oidc {
				oidc[k] = v
			}
			rel := mustRender(t, map[string]any{"auth": map[string]any{"oidc": oidc, "policies": policies}})
			pod := only[*appsv1.StatefulSet](t, rel).Spec.Template.Spec
			gokv := container(t, pod, "gokv")
			for name, want := range tt.wantEnv {
				if got := env(gokv, name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			for _, v := range pod.Volumes {
				for _, s := range projectedSources(v) {
					if s.ServiceAccountToken != nil && tt.noToken {
						t.Errorf("volume %s projects a token with issuerToken false", v.Name)
					}
				}
			}
		})
	}

	// Off by default: nothing of it is rendered.
	rel := mustRender(t, nil)
	gokv := container(t, only[*appsv1.StatefulSet](t, rel).Spec.Template.Spec, "gokv")
	for _, e := range gokv.Env {
		if strings.HasPrefix(e.Name, "OIDC_") || e.Name == "AUTH_POLICY_FILE" {
			t.Errorf("%s set with auth.oidc.enabled false", e.Name)
		}
	}
	if cms := each[*corev1.ConfigMap](rel); len(cms) > 0 {
		t.Errorf("%d ConfigMaps with auth.oidc.enabled false", len(cms))
	}

	_, err := render(loadChart(t), map[string]any{"auth": map[string]any{"oidc": map[string]any{"enabled": true}}}, 1)
	if err == nil || !strings.Contains(err.Error(), "auth.policies must name at least one identity") {
		t.Errorf("oidc without policies: %v", err)
	}
}

func projectedSources(v corev1.Volume) []corev1.VolumeProjection {
	if v.Projected == nil {
		return nil
	}
	return v.Projected.Sources
}
