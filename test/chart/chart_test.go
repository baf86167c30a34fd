// Package chart tests the Helm chart in charts/gokv without a cluster: it
// renders every scenario, decodes every object strictly into its
// Kubernetes API type, and checks what keeps a deployment safe and
// upgradable. The end-to-end suite installs it on a real cluster.
package chart

import (
	"maps"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
)

func TestLintStrict(t *testing.T) {
	for _, scenario := range scenarios(t) {
		t.Run(name(scenario), func(t *testing.T) {
			result := action.NewLint().Run([]string{chartDir}, valuesFile(t, scenario))
			for _, err := range result.Errors {
				t.Errorf("lint error: %v", err)
			}
			for _, m := range result.Messages {
				// --strict fails on warnings too.
				if m.Severity > support.InfoSev {
					t.Errorf("lint: %s", m)
				}
			}
		})
	}
}

func name(scenario string) string {
	if scenario == "" {
		return "defaults"
	}
	return strings.TrimSuffix(scenario, ".yaml")
}

// TestEveryScenario renders each scenario and checks the properties that
// must hold whatever the values.
func TestEveryScenario(t *testing.T) {
	for _, scenario := range scenarios(t) {
		t.Run(name(scenario), func(t *testing.T) {
			values := valuesFile(t, scenario)
			rel := mustRender(t, values)
			w := gokvWorkload(t, rel)
			pod := w.template.Spec

			checkStableSelector(t, w)
			checkPodSecurity(t, w.kind, pod)
			gokv := container(t, pod, "gokv")
			checkSecretOnlyByRef(t, "gokv", gokv)
			checkStorage(t, w, gokv)
			checkProbes(t, gokv)
			checkShutdownBudget(t, pod, gokv)
			if got := env(gokv, "GIN_MODE"); got != "release" {
				t.Errorf("GIN_MODE = %q, want release", got)
			}
			if want := replicasWanted(values); w.replicas != want {
				t.Errorf("replicas = %d, want %d", w.replicas, want)
			}
			for _, etcd := range etcdStatefulSets(rel) {
				checkPodSecurity(t, "etcd StatefulSet", etcd.Spec.Template.Spec)
			}

			secretRef := gokv.Env[envIndex(gokv, "JWT_SECRET")].ValueFrom.SecretKeyRef
			checkSecretObject(t, rel, secretRef)
			checkServices(t, rel, w)
			checkMetricsPort(t, rel, gokv)
			checkServiceAccount(t, rel, pod)

			if jobs := jobsOf(rel, "jwt-gen"); len(jobs) > 0 {
				checkJob(t, jobs, w.image(), secretRef)
			}
			checkBackup(t, rel, w, secretRef)
			testPod := only[*corev1.Pod](t, rel)
			checkTestPod(t, testPod, w.image(), secretRef)
		})
	}
}

// checkStableSelector: fields of a StatefulSet or Deployment that can
// never change must hold only labels that never change, or `helm upgrade`
// to a new chart or app version fails. Both roll on upgrade.
func checkStableSelector(t *testing.T, w workload) {
	t.Helper()
	want := map[string]string{
		"app.kubernetes.io/name":     "gokv",
		"app.kubernetes.io/instance": releaseName,
	}
	if got := w.selector; !maps.Equal(got, want) {
		t.Errorf("selector = %v, want exactly %v", got, want)
	}
	for _, claim := range w.claims {
		if !maps.Equal(claim.Labels, want) {
			t.Errorf("volumeClaimTemplate %s labels = %v, want exactly %v", claim.Name, claim.Labels, want)
		}
	}
	for k, v := range want {
		if w.template.Labels[k] != v {
			t.Errorf("pod template lacks selector label %s=%s", k, v)
		}
	}
	switch {
	case w.sts != nil:
		if w.sts.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
			t.Errorf("updateStrategy = %q, want RollingUpdate", w.sts.Spec.UpdateStrategy.Type)
		}
		if w.sts.Spec.PodManagementPolicy != appsv1.OrderedReadyPodManagement {
			t.Errorf("podManagementPolicy = %q, want OrderedReady", w.sts.Spec.PodManagementPolicy)
		}
	case w.deploy != nil:
		// A replacement is ready before an old pod goes: never fewer
		// ready replicas than asked for.
		s := w.deploy.Spec.Strategy
		if s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil ||
			s.RollingUpdate.MaxUnavailable == nil || s.RollingUpdate.MaxUnavailable.IntValue() != 0 {
			t.Errorf("strategy = %+v, want RollingUpdate with maxUnavailable 0", s)
		}
	}
}

// checkPodSecurity: non-root, read-only root, no capabilities, no
// privilege escalation, RuntimeDefault seccomp, no API token.
func checkPodSecurity(t *testing.T, owner string, pod corev1.PodSpec) {
	t.Helper()
	sc := pod.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("%s: pod runAsNonRoot is not true", owner)
	}
	if sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 65532 || sc.RunAsGroup == nil || *sc.RunAsGroup != 65532 {
		t.Errorf("%s: pod does not run as 65532:65532", owner)
	}
	if sc == nil || sc.FSGroup == nil || *sc.FSGroup != 65532 {
		t.Errorf("%s: fsGroup is not 65532, the volume would not be writable", owner)
	}
	if sc == nil || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: seccompProfile is not RuntimeDefault", owner)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken is not false", owner)
	}
	for _, c := range append(pod.InitContainers, pod.Containers...) {
		csc := c.SecurityContext
		if csc == nil {
			t.Errorf("%s/%s: no securityContext", owner, c.Name)
			continue
		}
		if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
			t.Errorf("%s/%s: root filesystem is writable", owner, c.Name)
		}
		if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
			t.Errorf("%s/%s: allowPrivilegeEscalation is not false", owner, c.Name)
		}
		if csc.Privileged != nil && *csc.Privileged {
			t.Errorf("%s/%s: privileged", owner, c.Name)
		}
		if csc.Capabilities == nil || !reflect.DeepEqual(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(csc.Capabilities.Add) > 0 {
			t.Errorf("%s/%s: capabilities = %+v, want drop [ALL] and nothing added", owner, c.Name, csc.Capabilities)
		}
		if c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s/%s: no memory limit", owner, c.Name)
		}
	}
}

// checkSecretOnlyByRef: JWT_SECRET reaches a container only through a
// secretKeyRef, never as a literal, an argument or a command.
func checkSecretOnlyByRef(t *testing.T, owner string, c corev1.Container) {
	t.Helper()
	i := envIndex(c, "JWT_SECRET")
	if i < 0 {
		t.Fatalf("%s: no JWT_SECRET", owner)
	}
	e := c.Env[i]
	if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		t.Errorf("%s: JWT_SECRET is not taken from a secretKeyRef: %+v", owner, e)
	}
	for _, arg := range append(append([]string{}, c.Command...), c.Args...) {
		if strings.Contains(arg, "secret") {
			t.Errorf("%s: secret material on the command line: %q", owner, arg)
		}
	}
	for _, ef := range c.EnvFrom {
		t.Errorf("%s: envFrom %+v could carry the secret another way", owner, ef)
	}
}

// checkDataVolume: DB_PATH is where the data volume is mounted, and the
// volume is the PVC template, or an emptyDir when persistence is off.
func checkDataVolume(t *testing.T, w workload, c corev1.Container) {
	t.Helper()
	dbPath := env(c, "DB_PATH")
	var mounted string
	for _, m := range c.VolumeMounts {
		if m.MountPath == dbPath {
			mounted = m.Name
		}
	}
	if mounted == "" {
		t.Fatalf("nothing is mounted at DB_PATH=%q: %+v", dbPath, c.VolumeMounts)
	}
	var fromClaim, fromEmptyDir bool
	for _, claim := range w.claims {
		fromClaim = fromClaim || claim.Name == mounted
	}
	for _, v := range w.template.Spec.Volumes {
		fromEmptyDir = fromEmptyDir || v.Name == mounted && v.EmptyDir != nil
	}
	if fromClaim == fromEmptyDir {
		t.Errorf("volume %q at DB_PATH: from a claim template %v, from an emptyDir %v; want exactly one", mounted, fromClaim, fromEmptyDir)
	}
}

// checkProbes: liveness and startup on /healthz, readiness on /readyz, all
// on the port gokv listens on.
func checkProbes(t *testing.T, c corev1.Container) {
	t.Helper()
	if len(c.Ports) == 0 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
		t.Fatalf("ports = %+v, want http/8080 first", c.Ports)
	}
	if env(c, "PORT") != "8080" {
		t.Errorf("PORT = %q, but the container port is 8080", env(c, "PORT"))
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		{"startup", c.StartupProbe, "/healthz"},
		{"liveness", c.LivenessProbe, "/healthz"},
		{"readiness", c.ReadinessProbe, "/readyz"},
	} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe = %s on port %s, want %s on http", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
		}
	}
}

// checkShutdownBudget: the kubelet's SIGKILL must come after gokv's delay
// and drain, and the delay must give endpoints time to drop the pod.
func checkShutdownBudget(t *testing.T, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	delay, err := time.ParseDuration(env(c, "SHUTDOWN_DELAY"))
	if err != nil {
		t.Fatalf("SHUTDOWN_DELAY: %v", err)
	}
	timeout, err := time.ParseDuration(env(c, "SHUTDOWN_TIMEOUT"))
	if err != nil {
		t.Fatalf("SHUTDOWN_TIMEOUT: %v", err)
	}
	if delay < 2*time.Second {
		t.Errorf("SHUTDOWN_DELAY = %s, want a few seconds for endpoints to drop the pod", delay)
	}
	grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	if grace <= delay+timeout {
		t.Errorf("terminationGracePeriodSeconds %s is not more than SHUTDOWN_DELAY %s + SHUTDOWN_TIMEOUT %s", grace, delay, timeout)
	}
}

// checkSecretObject: the chart makes the Secret unless an existing one is
// named, with a usable key under the referenced name.
func checkSecretObject(t *testing.T, rel release, ref *corev1.SecretKeySelector) {
	t.Helper()
	secrets := each[*corev1.Secret](rel)
	if len(secrets) == 0 {
		return // auth.existingSecret: checked in TestExistingSecret
	}
	if len(secrets) != 1 || secrets[0].Name != ref.Name {
		t.Fatalf("the chart's Secret is not the one referenced (%s)", ref.Name)
	}
	if v := secrets[0].Data[ref.Key]; len(v) < 32 {
		t.Errorf("Secret %s key %s holds %d bytes, want at least 32", ref.Name, ref.Key, len(v))
	}
}

// checkServices: the client Service, and with the StatefulSet its
// headless governing Service, select the pod and target its http port.
// The bundled etcd's Services are checked in TestBundledEtcd.
func checkServices(t *testing.T, rel release, w workload) {
	t.Helper()
	var headless bool
	services := gokvServices(rel)
	for _, svc := range services {
		if !maps.Equal(svc.Spec.Selector, w.selector) {
			t.Errorf("Service %s selects %v, the pod is %v", svc.Name, svc.Spec.Selector, w.selector)
		}
		for _, p := range svc.Spec.Ports {
			if p.TargetPort.String() != p.Name || p.Name != "http" && p.Name != "metrics" {
				t.Errorf("Service %s port %s targets port %s, want http or metrics, by its own name", svc.Name, p.Name, p.TargetPort.String())
			}
		}
		if w.sts != nil && svc.Name == w.sts.Spec.ServiceName {
			headless = svc.Spec.ClusterIP == corev1.ClusterIPNone
		}
	}
	if w.sts == nil {
		if len(services) != 1 || services[0].Spec.ClusterIP == corev1.ClusterIPNone {
			t.Errorf("%d Services for the Deployment, want one client Service", len(services))
		}
		return
	}
	if !headless {
		t.Errorf("no headless Service named %q for the StatefulSet", w.sts.Spec.ServiceName)
	}
	if n := len(services); n != 2 {
		t.Errorf("%d Services, want a client one and a headless one", n)
	}
}

// checkMetricsPort: METRICS_PORT is the container port named metrics and
// the client Service's port of that name; 0 means neither exists.
func checkMetricsPort(t *testing.T, rel release, gokv corev1.Container) {
	t.Helper()
	want := env(gokv, "METRICS_PORT")
	var container string
	for _, p := range gokv.Ports {
		if p.Name == "metrics" {
			container = strconv.Itoa(int(p.ContainerPort))
		}
	}
	var service string
	for _, svc := range each[*corev1.Service](rel) {
		for _, p := range svc.Spec.Ports {
			if p.Name == "metrics" && svc.Spec.ClusterIP != corev1.ClusterIPNone {
				service = strconv.Itoa(int(p.Port))
			}
		}
	}
	switch {
	case want == "0" && (container != "" || service != ""):
		t.Errorf("METRICS_PORT=0, yet a metrics port: container %q, Service %q", container, service)
	case want != "0" && (container != want || service != want):
		t.Errorf("METRICS_PORT=%q, container port %q, Service port %q: want all three the same", want, container, service)
	case want == "8080":
		t.Error("METRICS_PORT is the API's port")
	}
}

func checkServiceAccount(t *testing.T, rel release, pod corev1.PodSpec) {
	t.Helper()
	for _, sa := range each[*corev1.ServiceAccount](rel) {
		if sa.Name == pod.ServiceAccountName {
			if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
				t.Errorf("ServiceAccount %s mounts its token", sa.Name)
			}
			return
		}
	}
	if pod.ServiceAccountName == "" {
		t.Error("the pod names no ServiceAccount")
	}
}

// checkJob: the jwt-gen Job runs jwt-gen from the gokv image, takes the
// same secret by reference, and cleans itself up.
func checkJob(t *testing.T, jobs []*batchv1.Job, image string, secretRef *corev1.SecretKeySelector) {
	t.Helper()
	if len(jobs) != 1 {
		t.Fatalf("%d Jobs, want 1", len(jobs))
	}
	job := jobs[0]
	if !strings.HasSuffix(job.Name, "-1") {
		t.Errorf("Job %s is not named for the revision", job.Name)
	}
	if job.Spec.TTLSecondsAfterFinished == nil {
		t.Error("the Job has no ttlSecondsAfterFinished")
	}
	pod := job.Spec.Template.Spec
	checkPodSecurity(t, "Job", pod)
	c := container(t, pod, "jwt-gen")
	checkSecretOnlyByRef(t, "Job", c)
	if got := c.Env[envIndex(c, "JWT_SECRET")].ValueFrom.SecretKeyRef; *got != *secretRef {
		t.Errorf("the Job reads %+v, the server %+v", got, secretRef)
	}
	if c.Image != image {
		t.Errorf("the Job runs %s, the server %s", c.Image, image)
	}
	if !reflect.DeepEqual(c.Command, []string{"/jwt-gen"}) || !strings.HasPrefix(strings.Join(c.Args, " "), "--expires-in=") {
		t.Errorf("the Job runs %q %q, want /jwt-gen --expires-in=...", c.Command, c.Args)
	}
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy = %s, want Never", pod.RestartPolicy)
	}
}

// checkTestPod: `helm test` runs `gokv check` from the chart's own image
// against the Service, with the same secret.
func checkTestPod(t *testing.T, pod *corev1.Pod, image string, secretRef *corev1.SecretKeySelector) {
	t.Helper()
	if pod.Annotations["helm.sh/hook"] != "test" {
		t.Errorf("test pod %s is not a test hook", pod.Name)
	}
	checkPodSecurity(t, "test pod", pod.Spec)
	c := container(t, pod.Spec, "check")
	checkSecretOnlyByRef(t, "test pod", c)
	if got := c.Env[envIndex(c, "JWT_SECRET")].ValueFrom.SecretKeyRef; *got != *secretRef {
		t.Errorf("the test pod reads %+v, the server %+v", got, secretRef)
	}
	if c.Image != image {
		t.Errorf("the test pod runs %s, not the chart's image %s", c.Image, image)
	}
	if !reflect.DeepEqual(c.Command, []string{"/gokv", "check"}) {
		t.Errorf("the test pod runs %q, want /gokv check", c.Command)
	}
}

func container(t *testing.T, pod corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range pod.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %q", name)
	return corev1.Container{}
}

func envIndex(c corev1.Container, name string) int {
	for i, e := range c.Env {
		if e.Name == name {
			return i
		}
	}
	return -1
}

func env(c corev1.Container, name string) string {
	if i := envIndex(c, name); i >= 0 {
		return c.Env[i].Value
	}
	return ""
}

func TestDefaults(t *testing.T) {
	rel := mustRender(t, nil)
	sts := only[*appsv1.StatefulSet](t, rel)
	if len(sts.Spec.VolumeClaimTemplates) != 1 {
		t.Fatal("no volumeClaimTemplate by default")
	}
	claim := sts.Spec.VolumeClaimTemplates[0]
	if claim.Spec.StorageClassName != nil {
		t.Errorf("storageClassName = %q by default, want the cluster default", *claim.Spec.StorageClassName)
	}
	if got := claim.Spec.Resources.Requests.Storage().String(); got != "1Gi" {
		t.Errorf("claim size %s, want 1Gi", got)
	}
	if sts.Spec.PersistentVolumeClaimRetentionPolicy != nil {
		t.Error("a retention policy is set by default; claims must outlive the release")
	}
	if n := len(each[*batchv1.Job](rel)); n != 1 {
		t.Errorf("%d jwt-gen Jobs by default, want 1", n)
	}
	for _, kind := range []struct {
		name string
		n    int
	}{
		{"Ingress", len(each[*networkingv1.Ingress](rel))},
		{"NetworkPolicy", len(each[*networkingv1.NetworkPolicy](rel))},
		{"PodDisruptionBudget", len(each[*policyv1.PodDisruptionBudget](rel))},
	} {
		if kind.n != 0 {
			t.Errorf("%d %s by default, want none", kind.n, kind.name)
		}
	}
	gokv := sts.Spec.Template.Spec.Containers[0]
	if gokv.Image != "ghcr.io/gokv-service/gokv:"+loadChart(t).Metadata.AppVersion {
		t.Errorf("image %s, want the appVersion tag", gokv.Image)
	}
	if sts.Spec.Template.Annotations["checksum/secret"] == "" {
		t.Error("no checksum/secret annotation to roll the pod when the secret changes")
	}
	if strings.Contains(rel.notes, "WARNING") {
		t.Errorf("NOTES warn with default values:\n%s", rel.notes)
	}
	if got := env(gokv, "METRICS_PORT"); got != "9090" {
		t.Errorf("METRICS_PORT = %q by default, want 9090", got)
	}
}

func TestPersistenceOff(t *testing.T) {
	rel := mustRender(t, valuesFile(t, "persistence-off.yaml"))
	sts := only[*appsv1.StatefulSet](t, rel)
	if len(sts.Spec.VolumeClaimTemplates) != 0 {
		t.Error("volumeClaimTemplates with persistence off")
	}
	if !strings.Contains(rel.notes, "WARNING: persistence.enabled is false") {
		t.Errorf("NOTES do not warn that data is lost:\n%s", rel.notes)
	}
}

func TestExistingSecret(t *testing.T) {
	rel := mustRender(t, valuesFile(t, "existing-secret.yaml"))
	if n := len(each[*corev1.Secret](rel)); n != 0 {
		t.Errorf("%d Secrets rendered with auth.existingSecret, want none", n)
	}
	sts := only[*appsv1.StatefulSet](t, rel)
	gokv := sts.Spec.Template.Spec.Containers[0]
	ref := gokv.Env[envIndex(gokv, "JWT_SECRET")].ValueFrom.SecretKeyRef
	if ref.Name != "my-gokv-jwt" || ref.Key != "token-secret" {
		t.Errorf("JWT_SECRET from %s/%s, want my-gokv-jwt/token-secret", ref.Name, ref.Key)
	}
	if _, ok := sts.Spec.Template.Annotations["checksum/secret"]; ok {
		t.Error("checksum/secret annotation for a Secret the chart does not manage")
	}
	if !strings.Contains(rel.notes, "get secret my-gokv-jwt") {
		t.Errorf("NOTES do not read the existing Secret:\n%s", rel.notes)
	}
}

func TestJWTGenOff(t *testing.T) {
	rel := mustRender(t, valuesFile(t, "jwt-gen-off.yaml"))
	if n := len(each[*batchv1.Job](rel)); n != 0 {
		t.Errorf("%d Jobs with jwtGen.enabled=false", n)
	}
	if strings.Contains(rel.notes, "logs job/") || !strings.Contains(rel.notes, "jwt-gen Job is disabled") {
		t.Errorf("NOTES point at a Job that does not exist:\n%s", rel.notes)
	}
}

func TestIngress(t *testing.T) {
	rel := mustRender(t, valuesFile(t, "ingress-on.yaml"))
	ing := only[*networkingv1.Ingress](t, rel)
	if *ing.Spec.IngressClassName != "nginx" || len(ing.Spec.TLS) != 1 {
		t.Errorf("ingress class %q, %d TLS entries", *ing.Spec.IngressClassName, len(ing.Spec.TLS))
	}
	backend := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service
	if backend.Name != releaseName || backend.Port.Name != "http" {
		t.Errorf("ingress backend %s:%s, want %s:http", backend.Name, backend.Port.Name, releaseName)
	}
	gokv := only[*appsv1.StatefulSet](t, rel).Spec.Template.Spec.Containers[0]
	if env(gokv, "TRUSTED_PROXIES") != "10.0.0.0/8" {
		t.Errorf("TRUSTED_PROXIES = %q", env(gokv, "TRUSTED_PROXIES"))
	}
}

func TestLockedDown(t *testing.T) {
	rel := mustRender(t, valuesFile(t, "locked-down.yaml"))
	np := only[*networkingv1.NetworkPolicy](t, rel)
	sts := only[*appsv1.StatefulSet](t, rel)
	if !maps.Equal(np.Spec.PodSelector.MatchLabels, sts.Spec.Selector.MatchLabels) {
		t.Errorf("NetworkPolicy selects %v, not the gokv pod", np.Spec.PodSelector.MatchLabels)
	}
	if len(np.Spec.Ingress) != 2 || len(np.Spec.Ingress[0].Ports) != 1 || np.Spec.Ingress[0].Ports[0].Port.String() != "http" {
		t.Fatalf("NetworkPolicy does not admit the http port, then the metrics port: %+v", np.Spec.Ingress)
	}
	// The metrics port, which needs no token, only from this namespace
	// and the monitoring one, not from every allowed namespace.
	scrape := np.Spec.Ingress[1]
	if len(scrape.Ports) != 1 || scrape.Ports[0].Port.String() != "metrics" || len(scrape.From) != 2 ||
		scrape.From[0].PodSelector == nil || scrape.From[0].NamespaceSelector != nil || scrape.From[1].NamespaceSelector == nil ||
		!maps.Equal(scrape.From[1].NamespaceSelector.MatchLabels, map[string]string{"kubernetes.io/metadata.name": "observability"}) {
		t.Errorf("NetworkPolicy's metrics rule = %+v, want the metrics port from this namespace and observability", scrape)
	}
	from := np.Spec.Ingress[0].From
	if len(from) != 2 || from[1].NamespaceSelector == nil ||
		!reflect.DeepEqual(from[1].NamespaceSelector.MatchExpressions[0].Values, []string{"apps", "monitoring"}) {
		t.Errorf("NetworkPolicy peers = %+v, want this namespace and apps, monitoring", from)
	}
	pdb := only[*policyv1.PodDisruptionBudget](t, rel)
	if pdb.Spec.MinAvailable.IntValue() != 1 || !maps.Equal(pdb.Spec.Selector.MatchLabels, sts.Spec.Selector.MatchLabels) {
		t.Errorf("PDB = %+v", pdb.Spec)
	}
	rp := sts.Spec.PersistentVolumeClaimRetentionPolicy
	if rp == nil || rp.WhenDeleted != appsv1.DeletePersistentVolumeClaimRetentionPolicyType || rp.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
		t.Errorf("retention policy = %+v", rp)
	}
	claim := sts.Spec.VolumeClaimTemplates[0]
	if *claim.Spec.StorageClassName != "fast-ssd" || claim.Spec.Resources.Requests.Storage().String() != "20Gi" ||
		claim.Annotations["backup.example.com/enabled"] != "true" {
		t.Errorf("claim template = %+v", claim)
	}
}

// TestServiceMonitor: a ServiceMonitor for the metrics port only where
// the cluster serves the Prometheus Operator's API, unless forced, and
// only with metrics on.
func TestServiceMonitor(t *testing.T) {
	withForce := valuesFile(t, "service-monitor.yaml")
	withForce["metrics"].(map[string]any)["serviceMonitor"].(map[string]any)["force"] = true
	metricsOff := valuesFile(t, "service-monitor.yaml")
	metricsOff["metrics"].(map[string]any)["enabled"] = false
	tests := []struct {
		name     string
		values   map[string]any
		apis     []string
		rendered bool
	}{
		{"defaults, Operator present", valuesFile(t, ""), []string{monitoringAPI}, false},
		{"enabled, Operator absent", valuesFile(t, "service-monitor.yaml"), nil, false},
		{"enabled, Operator present", valuesFile(t, "service-monitor.yaml"), []string{monitoringAPI}, true},
		{"forced, Operator absent", withForce, nil, true},
		{"metrics off, Operator present", metricsOff, []string{monitoringAPI}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rel, err := renderFor(loadChart(t), tt.values, 1, tt.apis...)
			if err != nil {
				t.Fatal(err)
			}
			sms := each[*serviceMonitor](rel)
			if len(sms) != map[bool]int{false: 0, true: 1}[tt.rendered] {
				t.Fatalf("%d ServiceMonitors, want rendered=%v", len(sms), tt.rendered)
			}
			if !tt.rendered {
				return
			}
			sm := sms[0]
			sts := only[*appsv1.StatefulSet](t, rel)
			if sm.APIVersion != monitoringAPI || sm.Kind != "ServiceMonitor" || sm.Labels["release"] != "kube-prometheus-stack" {
				t.Errorf("ServiceMonitor %s %s labels %v", sm.APIVersion, sm.Kind, sm.Labels)
			}
			if !maps.Equal(sm.Spec.Selector.MatchLabels, sts.Spec.Selector.MatchLabels) {
				t.Errorf("ServiceMonitor selects %v, want the Services' labels %v", sm.Spec.Selector.MatchLabels, sts.Spec.Selector.MatchLabels)
			}
			if len(sm.Spec.Endpoints) != 1 {
				t.Fatalf("endpoints %+v", sm.Spec.Endpoints)
			}
			ep := sm.Spec.Endpoints[0]
			if ep.Port != "metrics" || ep.Path != "/metrics" || ep.Interval != "15s" || ep.ScrapeTimeout != "10s" ||
				len(ep.Relabelings) != 1 || ep.Relabelings[0]["targetLabel"] != "node" {
				t.Errorf("endpoint %+v", ep)
			}
		})
	}
}

// TestMetricsOff: no metrics port anywhere, and the NetworkPolicy admits
// only the API.
func TestMetricsOff(t *testing.T) {
	rel := mustRender(t, valuesFile(t, "metrics-off.yaml"))
	gokv := only[*appsv1.StatefulSet](t, rel).Spec.Template.Spec.Containers[0]
	if got := env(gokv, "METRICS_PORT"); got != "0" {
		t.Errorf("METRICS_PORT = %q, want 0", got)
	}
	np := only[*networkingv1.NetworkPolicy](t, rel)
	if len(np.Spec.Ingress) != 1 {
		t.Errorf("NetworkPolicy has %d rules with metrics off, want the API's only", len(np.Spec.Ingress))
	}
}

func TestCustomized(t *testing.T) {
	rel := mustRender(t, valuesFile(t, "customized.yaml"))
	sts := only[*appsv1.StatefulSet](t, rel)
	if sts.Name != "kv" {
		t.Errorf("fullnameOverride ignored: %s", sts.Name)
	}
	gokv := sts.Spec.Template.Spec.Containers[0]
	wantEnv := map[string]string{
		"JWT_ISSUER": "platform-team", "JWT_AUDIENCE": "gokv", "MAX_VALUE_BYTES": "4194304",
		"MAX_INFLIGHT_BYTES": "67108864", "MAX_CONNS": "256",
		"SYNC_WRITES": "false", "MIN_FREE_BYTES": "134217728", "GC_INTERVAL": "1m", "LOG_LEVEL": "debug", "LOG_FORMAT": "text",
		"SHUTDOWN_DELAY": "10s", "SHUTDOWN_TIMEOUT": "30s", "GOMEMLIMIT": "200MiB",
	}
	for k, v := range wantEnv {
		if got := env(gokv, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	job := only[*batchv1.Job](t, rel)
	args := strings.Join(job.Spec.Template.Spec.Containers[0].Args, " ")
	if args != "--expires-in=720h --subject=ci-pipeline --issuer=platform-team --audience=gokv" {
		t.Errorf("jwt-gen args = %q", args)
	}
	check := only[*corev1.Pod](t, rel).Spec.Containers[0]
	if env(check, "JWT_ISSUER") != "platform-team" || env(check, "JWT_AUDIENCE") != "gokv" {
		t.Error("the test pod would mint tokens without the required issuer and audience")
	}
	if !strings.Contains(strings.Join(check.Args, " "), "--url=http://kv:8081") {
		t.Errorf("the test pod checks %q, want the Service kv:8081", check.Args)
	}
	if len(each[*corev1.ServiceAccount](rel)) != 0 || sts.Spec.Template.Spec.ServiceAccountName != "gokv-runner" {
		t.Error("serviceAccount.create=false with a name is not honoured")
	}
	if sts.Spec.Template.Labels["team"] != "platform" || sts.Spec.Template.Spec.PriorityClassName != "high-priority" ||
		sts.Spec.Template.Spec.NodeSelector["disktype"] != "ssd" || len(sts.Spec.Template.Spec.Tolerations) != 1 ||
		sts.Spec.Template.Spec.Affinity == nil {
		t.Error("pod labels, priority class or scheduling values are not applied")
	}
	if got := *sts.Spec.Template.Spec.TerminationGracePeriodSeconds; got != 50 {
		t.Errorf("terminationGracePeriodSeconds = %d, want 10 + 30 + 10", got)
	}
}

// TestJobNameChangesPerRevision: a Job's pod template is immutable, so
// each `helm upgrade` must create a new Job rather than patch the old one.
// TestLongLivedJobToken: jwt-gen refuses more than 90 days unless asked,
// and the chart asks only when told to.
func TestLongLivedJobToken(t *testing.T) {
	tests := []struct {
		name   string
		jwtGen map[string]any
		want   string
	}{
		{"default", map[string]any{}, "--expires-in=24h --subject=gokv-user"},
		{"a year", map[string]any{"expiresIn": "8760h", "allowLongLived": true}, "--expires-in=8760h --allow-long-lived --subject=gokv-user"},
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

func TestJobNameChangesPerRevision(t *testing.T) {
	c := loadChart(t)
	first, err := render(c, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	second, err := render(c, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	a, b := only[*batchv1.Job](t, first).Name, only[*batchv1.Job](t, second).Name
	if a == b {
		t.Errorf("revisions 1 and 2 both render Job %s", a)
	}
	if !strings.Contains(second.notes, "job/"+b) {
		t.Errorf("NOTES of revision 2 do not name its Job %s", b)
	}
}

func TestNotesGiveTheNextCommands(t *testing.T) {
	rel := mustRender(t, nil)
	for _, want := range []string{
		"kubectl -n " + namespace + " port-forward svc/" + releaseName + " 8080:8080",
		"kubectl -n " + namespace + " logs job/" + releaseName + "-jwt-gen-1",
		`curl -i -X PUT -H "Authorization: Bearer $TOKEN"`,
		`curl -H "Authorization: Bearer $TOKEN" http://localhost:8080/demo/greeting`,
		"helm test " + releaseName,
	} {
		if !strings.Contains(rel.notes, want) {
			t.Errorf("NOTES lack %q:\n%s", want, rel.notes)
		}
	}
}

func TestSchemaRejectsBadValues(t *testing.T) {
	c := loadChart(t)
	tests := []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"two replicas", map[string]any{"replicaCount": 2}, "own Badger database"},
		{"replicas as text", map[string]any{"replicaCount": "1"}, "replicaCount"},
		{"negative size", map[string]any{"persistence": map[string]any{"size": "-1Gi"}}, "/persistence/size"},
		{"size not a quantity", map[string]any{"persistence": map[string]any{"size": "lots"}}, "/persistence/size"},
		{"unknown top-level key", map[string]any{"replicas": 1}, "replicas"},
		{"unknown nested key", map[string]any{"config": map[string]any{"syncWrite": true}}, "syncWrite"},
		{"short secret", map[string]any{"auth": map[string]any{"jwtSecret": "short"}}, "/auth/jwtSecret"},
		{"bad log level", map[string]any{"config": map[string]any{"logLevel": "loud"}}, "/config/logLevel"},
		{"value limit too big", map[string]any{"config": map[string]any{"maxValueBytes": 1 << 30}}, "/config/maxValueBytes"},
		{"no connections", map[string]any{"config": map[string]any{"maxConns": 0}}, "/config/maxConns"},
		{"in-flight bound as text", map[string]any{"config": map[string]any{"maxInflightBytes": "32Mi"}}, "/config/maxInflightBytes"},
		{"sync writes as text", map[string]any{"config": map[string]any{"syncWrites": "yes"}}, "/config/syncWrites"},
		{"bad duration", map[string]any{"jwtGen": map[string]any{"expiresIn": "1 day"}}, "/jwtGen/expiresIn"},
		{"negative delay", map[string]any{"shutdown": map[string]any{"delaySeconds": -1}}, "/shutdown/delaySeconds"},
		// gokv refuses SHUTDOWN_DELAY and SHUTDOWN_TIMEOUT over 10 minutes.
		{"delay over ten minutes", map[string]any{"shutdown": map[string]any{"delaySeconds": 601}}, "/shutdown/delaySeconds"},
		{"timeout over ten minutes", map[string]any{"shutdown": map[string]any{"timeoutSeconds": 601}}, "/shutdown/timeoutSeconds"},
		{"long-lived as text", map[string]any{"jwtGen": map[string]any{"allowLongLived": "yes"}}, "/jwtGen/allowLongLived"},
		{"port zero", map[string]any{"service": map[string]any{"port": 0}}, "/service/port"},
		// gokv refuses METRICS_PORT equal to PORT, and the container's PORT is 8080.
		{"metrics on the API port", map[string]any{"metrics": map[string]any{"port": 8080}}, "/metrics/port"},
		{"metrics port zero", map[string]any{"metrics": map[string]any{"port": 0}}, "/metrics/port"},
		{"scrape interval not a duration", map[string]any{"metrics": map[string]any{"serviceMonitor": map[string]any{"interval": "often"}}}, "/metrics/serviceMonitor/interval"},
		{"unknown ServiceMonitor key", map[string]any{"metrics": map[string]any{"serviceMonitor": map[string]any{"namespace": "x"}}}, "namespace"},
		{"pull policy", map[string]any{"image": map[string]any{"pullPolicy": "Sometimes"}}, "/image/pullPolicy"},
		{"http issuer", map[string]any{"auth": map[string]any{"oidc": map[string]any{"issuerURL": "http://issuer.example"}}}, "/auth/oidc/issuerURL"},
		{"empty audience", map[string]any{"auth": map[string]any{"oidc": map[string]any{"audience": ""}}}, "/auth/oidc/audience"},
		{"unknown oidc key", map[string]any{"auth": map[string]any{"oidc": map[string]any{"issuer": "https://x"}}}, "issuer"},
		{"unknown scope in a policy", map[string]any{"auth": map[string]any{"policies": []any{map[string]any{"subject": "a", "scope": "read delete"}}}}, "/auth/policies/0/scope"},
		{"policy without subject", map[string]any{"auth": map[string]any{"policies": []any{map[string]any{"scope": "read"}}}}, "subject"},
		{"unknown policy key", map[string]any{"auth": map[string]any{"policies": []any{map[string]any{"subject": "a", "scope": "read", "bucket": []any{"x"}}}}}, "bucket"},
		{"star inside a bucket pattern", map[string]any{"auth": map[string]any{"policies": []any{map[string]any{"subject": "a", "scope": "read", "buckets": []any{"a*b"}}}}}, "/auth/policies/0/buckets/0"},
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

// TestServiceAndMetricsPortsDiffer: one port number for both Service
// ports is refused at render with a message saying which values clash,
// rather than by the API server's "duplicate entries" at install.
func TestServiceAndMetricsPortsDiffer(t *testing.T) {
	_, err := render(loadChart(t), map[string]any{"service": map[string]any{"port": 9090}}, 1)
	if err == nil || !strings.Contains(err.Error(), "service.port and metrics.port are both 9090") {
		t.Fatalf("render with service.port = metrics.port: %v", err)
	}
	mustRender(t, map[string]any{"service": map[string]any{"port": 9090}, "metrics": map[string]any{"enabled": false}})
}
