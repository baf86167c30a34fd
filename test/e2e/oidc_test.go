//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// 12. Service-account tokens: gokv accepts the cluster's own
// service-account tokens for its audience, with a policy letting the
// ServiceAccount writer of a client namespace write bucket team-a. A pod
// there, with nothing but projected tokens, writes and reads team-a with
// gokvctl, gets 403 on another bucket, and 401 with a token for another
// audience. No secret is copied to it.
func TestServiceAccountTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clientNS := newNamespace(t, "sa-client")
	subject := "system:serviceaccount:" + clientNS + ":writer"
	d := deploy(t, "sa", map[string]any{
		"auth": map[string]any{
			"oidc":     map[string]any{"enabled": true},
			"policies": []any{map[string]any{"subject": subject, "scope": "read write", "buckets": []any{"team-a"}}},
		},
		"jwtGen": map[string]any{"enabled": false},
	})

	// gokv fetches the issuer's keys in the background; until it has,
	// service-account tokens get 401. Its log says when.
	waitFor(t, "gokv to load the issuer's keys", 2*time.Minute, func(ctx context.Context) (bool, error) {
		log := podLog(t, d.ns, "gokv-0", "gokv", false)
		return strings.Contains(log, "oidc: issuer keys loaded"), nil
	})
	step(t, "gokv loaded the cluster issuer's keys")

	// HS256 tokens keep working beside them.
	secret := secretValue(t, d.ns, releaseName, "jwt-secret")
	hs := kv{base: d.fwd.URL, token: mintLocally(t, secret)}
	hs.must(t, "PUT", "team-b", "k", "hs256", 201)

	if _, err := env.client.CoreV1().ServiceAccounts(clientNS).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta:                   metav1.ObjectMeta{Name: "writer"},
		AutomountServiceAccountToken: ptr.To(false),
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ServiceAccount: %v", err)
	}
	sts, err := env.client.AppsV1().StatefulSets(d.ns).Get(ctx, releaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	image := sts.Spec.Template.Spec.Containers[0]
	url := fmt.Sprintf("http://%s.%s.svc:8080", releaseName, d.ns)
	// The image is distroless: no shell, so each step is one gokvctl
	// container, by its absolute path. Init containers run in order: the
	// write comes first and must succeed; the checks run after it.
	gokvctl := func(name, tokenDir string, args ...string) corev1.Container {
		return corev1.Container{
			Name:            name,
			Image:           image.Image,
			ImagePullPolicy: image.ImagePullPolicy,
			Command:         append([]string{"/gokvctl", "--url", url, "--token-file", tokenDir + "/token"}, args...),
			VolumeMounts: []corev1.VolumeMount{
				{Name: "tokens", MountPath: "/var/run/secrets/gokv", ReadOnly: true},
				{Name: "value", MountPath: "/etc/value", ReadOnly: true},
			},
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false),
				ReadOnlyRootFilesystem:   ptr.To(true),
				RunAsNonRoot:             ptr.To(true),
				RunAsUser:                ptr.To[int64](65532),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
		}
	}
	const gokvToken, apiToken = "/var/run/secrets/gokv/gokv", "/var/run/secrets/gokv/api"
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "client"},
		Spec: corev1.PodSpec{
			ServiceAccountName:           "writer",
			AutomountServiceAccountToken: ptr.To(false),
			RestartPolicy:                corev1.RestartPolicyNever,
			InitContainers: []corev1.Container{
				gokvctl("put", gokvToken, "put", "team-a", "greeting", "/etc/value/namespace"),
			},
			Containers: []corev1.Container{
				gokvctl("get", gokvToken, "get", "team-a", "greeting"),
				gokvctl("other-bucket", gokvToken, "put", "team-b", "greeting", "/etc/value/namespace"),
				gokvctl("other-audience", apiToken, "get", "team-a", "greeting"),
			},
			Volumes: []corev1.Volume{
				{Name: "tokens", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					Sources: []corev1.VolumeProjection{
						{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "gokv", ExpirationSeconds: ptr.To[int64](600), Path: "gokv/token"}},
						{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "api", ExpirationSeconds: ptr.To[int64](600), Path: "api/token"}},
					},
				}}},
				// The value written: the client's namespace, from the
				// downward API, as the image has no shell to echo one.
				{Name: "value", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
					Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
				}}},
			},
		},
	}
	step(t, "client pod in %s as %s", clientNS, subject)
	if _, err := env.client.CoreV1().Pods(clientNS).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create client pod: %v", err)
	}
	var done *corev1.Pod
	waitFor(t, "the client pod to finish", 2*time.Minute, func(ctx context.Context) (bool, error) {
		p, err := env.client.CoreV1().Pods(clientNS).Get(ctx, "client", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		done = p
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed, nil
	})
	exits := map[string]int32{}
	for _, s := range append(done.Status.InitContainerStatuses, done.Status.ContainerStatuses...) {
		if s.State.Terminated != nil {
			exits[s.Name] = s.State.Terminated.ExitCode
		}
	}
	tests := []struct {
		container string
		exit      int32
		log       string
	}{
		{"put", 0, ""},
		{"get", 0, clientNS},
		{"other-bucket", 1, "403 Forbidden"},
		{"other-audience", 1, "401 Unauthorized"},
	}
	for _, tt := range tests {
		exit, ok := exits[tt.container]
		log := podLog(t, clientNS, "client", tt.container, false)
		if !ok || exit != tt.exit || !strings.Contains(log, tt.log) {
			t.Errorf("client container %s: exit %d (terminated: %v), log %q; want exit %d, log containing %q",
				tt.container, exit, ok, strings.TrimSpace(log), tt.exit, tt.log)
		}
	}
	// What the client wrote is there, as its identity's write.
	if got := hs.must(t, "GET", "team-a", "greeting", "", 200); got != clientNS {
		t.Errorf("team-a/greeting = %q, want %q", got, clientNS)
	}
	step(t, "service-account token: put and get on team-a, 403 on team-b, 401 for audience api")
}
