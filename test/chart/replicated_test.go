package chart

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
)

// workload is what runs the gokv pods: the StatefulSet with Badger, the
// Deployment with etcd.
type workload struct {
	kind     string
	sts      *appsv1.StatefulSet
	deploy   *appsv1.Deployment
	replicas int32
	selector map[string]string
	template corev1.PodTemplateSpec
	claims   []corev1.PersistentVolumeClaim
}

func (w workload) image() string { return w.template.Spec.Containers[0].Image }

// gokvWorkload returns the one StatefulSet or Deployment of gokv pods; the
// bundled etcd's StatefulSet is not one.
func gokvWorkload(t testing.TB, rel release) workload {
	t.Helper()
	var all []workload
	for _, sts := range each[*appsv1.StatefulSet](rel) {
		if !isEtcd(sts.Labels) {
			all = append(all, workload{kind: "StatefulSet", sts: sts, replicas: *sts.Spec.Replicas,
				selector: sts.Spec.Selector.MatchLabels, template: sts.Spec.Template, claims: sts.Spec.VolumeClaimTemplates})
		}
	}
	for _, d := range each[*appsv1.Deployment](rel) {
		all = append(all, workload{kind: "Deployment", deploy: d, replicas: *d.Spec.Replicas,
			selector: d.Spec.Selector.MatchLabels, template: d.Spec.Template})
	}
	if len(all) != 1 {
		t.Fatalf("%d StatefulSets and Deployments of gokv, want exactly one", len(all))
	}
	return all[0]
}

func isEtcd(labels map[string]string) bool {
	return labels["app.kubernetes.io/component"] == "etcd"
}

// etcdStatefulSets returns the bundled etcd's StatefulSet, if rendered.
func etcdStatefulSets(rel release) []*appsv1.StatefulSet {
	var all []*appsv1.StatefulSet
	for _, sts := range each[*appsv1.StatefulSet](rel) {
		if isEtcd(sts.Labels) {
			all = append(all, sts)
		}
	}
	return all
}

// gokvServices returns the Services of gokv, not of the bundled etcd.
func gokvServices(rel release) []*corev1.Service {
	var all []*corev1.Service
	for _, svc := range each[*corev1.Service](rel) {
		if !isEtcd(svc.Labels) {
			all = append(all, svc)
		}
	}
	return all
}

// replicasWanted is the scenario's replicaCount; by default 1 with
// Badger and 3 with etcd.
func replicasWanted(values map[string]any) int32 {
	if n, ok := values["replicaCount"].(float64); ok {
		return int32(n)
	}
	if storage, ok := values["storage"].(map[string]any); ok && storage["backend"] == "etcd" {
		return 3
	}
	return 1
}

// badgerOnly are the settings gokv refuses with STORAGE_BACKEND=etcd.
var badgerOnly = []string{"DB_PATH", "SYNC_WRITES", "MIN_FREE_BYTES", "GC_INTERVAL"}

// checkStorage: Badger's pod keeps its database at DB_PATH on its volume;
// etcd's is stateless, told only where etcd is.
func checkStorage(t *testing.T, w workload, gokv corev1.Container) {
	t.Helper()
	if w.sts != nil {
		checkDataVolume(t, w, gokv)
		if i := envIndex(gokv, "STORAGE_BACKEND"); i >= 0 {
			t.Errorf("STORAGE_BACKEND = %q with Badger: the default needs no variable", gokv.Env[i].Value)
		}
		return
	}
	if got := env(gokv, "STORAGE_BACKEND"); got != "etcd" {
		t.Errorf("the Deployment's STORAGE_BACKEND = %q, want etcd", got)
	}
	if env(gokv, "ETCD_ENDPOINTS") == "" || env(gokv, "ETCD_PREFIX") == "" {
		t.Errorf("ETCD_ENDPOINTS = %q, ETCD_PREFIX = %q, want both set", env(gokv, "ETCD_ENDPOINTS"), env(gokv, "ETCD_PREFIX"))
	}
	for _, name := range badgerOnly {
		if envIndex(gokv, name) >= 0 {
			t.Errorf("%s is set with the etcd backend, which refuses Badger's settings", name)
		}
	}
	for _, v := range w.template.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			t.Errorf("volume %s holds data in a stateless pod", v.Name)
		}
	}
	// A restore spools its body in TMPDIR, and the root is read-only.
	var tmp string
	for _, m := range gokv.VolumeMounts {
		if m.MountPath == "/tmp" {
			tmp = m.Name
		}
	}
	if !slices.ContainsFunc(w.template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == tmp && v.EmptyDir != nil }) {
		t.Errorf("no writable emptyDir at /tmp for the restore spool: mounts %+v", gokv.VolumeMounts)
	}
}

func etcdValues(extra map[string]any) map[string]any {
	v := map[string]any{"storage": map[string]any{"backend": "etcd"}, "etcd": map[string]any{"enabled": true}}
	maps.Copy(v, extra)
	return v
}

// TestBadgerDefaultIsOnePod: the default stays one StatefulSet pod with its
// claim, and renders nothing of etcd.
func TestBadgerDefaultIsOnePod(t *testing.T) {
	rel := mustRender(t, nil)
	w := gokvWorkload(t, rel)
	if w.sts == nil || w.replicas != 1 || len(w.claims) != 1 {
		t.Fatalf("defaults: %s of %d replicas with %d claim templates, want a StatefulSet of 1 with its claim", w.kind, w.replicas, len(w.claims))
	}
	if n := len(etcdStatefulSets(rel)); n != 0 {
		t.Errorf("%d etcd StatefulSets by default", n)
	}
	if w.template.Spec.TopologySpreadConstraints != nil {
		t.Error("topology spread constraints on the single Badger pod")
	}
}

// TestReplicatedMode: with etcd, gokv is a Deployment of replicaCount
// stateless pods, spread across nodes, with a PDB, and no claim.
func TestReplicatedMode(t *testing.T) {
	values := valuesFile(t, "etcd-bundled.yaml")
	rel := mustRender(t, values)
	w := gokvWorkload(t, rel)
	if w.deploy == nil || w.replicas != 3 {
		t.Fatalf("%s of %d replicas, want a Deployment of 3", w.kind, w.replicas)
	}
	if mounts := w.template.Spec.Containers[0].VolumeMounts; len(mounts) != 1 || mounts[0].MountPath != "/tmp" {
		t.Errorf("the stateless pod mounts %+v, want only its temporary directory", mounts)
	}
	for _, pvc := range each[*corev1.PersistentVolumeClaim](rel) {
		t.Errorf("PersistentVolumeClaim %s rendered for stateless gokv", pvc.Name)
	}

	spread := w.template.Spec.TopologySpreadConstraints
	if len(spread) != 1 || spread[0].TopologyKey != "kubernetes.io/hostname" ||
		spread[0].WhenUnsatisfiable != corev1.ScheduleAnyway || spread[0].MaxSkew != 1 ||
		spread[0].LabelSelector == nil || !maps.Equal(spread[0].LabelSelector.MatchLabels, w.selector) {
		t.Errorf("topologySpreadConstraints = %+v, want the pods spread by hostname, ScheduleAnyway", spread)
	}

	var pdb *policyv1.PodDisruptionBudget
	for _, p := range each[*policyv1.PodDisruptionBudget](rel) {
		if maps.Equal(p.Spec.Selector.MatchLabels, w.selector) {
			pdb = p
		}
	}
	if pdb == nil || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.MinAvailable != nil {
		t.Errorf("gokv's PDB = %+v, want maxUnavailable 1", pdb)
	}
	if !strings.Contains(rel.notes, "replicated") || !strings.Contains(rel.notes, "rollout status deployment/"+releaseName) ||
		!strings.Contains(rel.notes, "rollout status statefulset/"+releaseName+"-etcd") {
		t.Errorf("NOTES do not say it is replicated and how to wait for it:\n%s", rel.notes)
	}
	if strings.Contains(rel.notes, "WARNING") {
		t.Errorf("NOTES warn for the bundled scenario, which has a NetworkPolicy:\n%s", rel.notes)
	}

	// A spread the user gives replaces the chart's.
	own := []any{map[string]any{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
		"labelSelector": map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "gokv"}}}}
	values["topologySpreadConstraints"] = own
	spread = gokvWorkload(t, mustRender(t, values)).template.Spec.TopologySpreadConstraints
	if len(spread) != 1 || spread[0].TopologyKey != "topology.kubernetes.io/zone" {
		t.Errorf("topologySpreadConstraints = %+v, want the user's", spread)
	}
}

// TestReplicaCountByBackend: more than one gokv pod only on etcd, with
// the reason when refused; by default one on Badger, three on etcd.
func TestReplicaCountByBackend(t *testing.T) {
	c := loadChart(t)
	_, err := render(c, map[string]any{"replicaCount": 3}, 1)
	if err == nil || !strings.Contains(err.Error(), "own Badger database") || !strings.Contains(err.Error(), "storage.backend=etcd allows more") {
		t.Errorf("replicaCount 3 with Badger: %v, want the reason and the way out", err)
	}
	rel, err := render(c, etcdValues(map[string]any{"replicaCount": 3}), 1)
	if err != nil {
		t.Fatalf("replicaCount 3 with etcd: %v", err)
	}
	if w := gokvWorkload(t, rel); w.replicas != 3 {
		t.Errorf("replicas = %d, want 3", w.replicas)
	}
	// `--set storage.backend=etcd --set etcd.enabled=true` alone must
	// survive losing a pod.
	rel, err = render(c, etcdValues(nil), 1)
	if err != nil {
		t.Fatalf("etcd with the default replicaCount: %v", err)
	}
	if w := gokvWorkload(t, rel); w.replicas != 3 {
		t.Errorf("replicas on etcd by default = %d, want 3", w.replicas)
	}
	rel, err = render(c, etcdValues(map[string]any{"replicaCount": 1}), 1)
	if err != nil || !strings.Contains(rel.notes, "WARNING: replicaCount is 1") {
		t.Errorf("one replica on etcd: %v, want it rendered with a warning:\n%s", err, rel.notes)
	}
}

// TestBundledEtcd: a 3-member StatefulSet whose members find each other
// by pod name under the headless Service, each with its own claim, probed
// without depending on a quorum for liveness, kept at a quorum by a PDB,
// and reachable only by gokv.
func TestBundledEtcd(t *testing.T) {
	rel := mustRender(t, valuesFile(t, "etcd-bundled.yaml"))
	all := etcdStatefulSets(rel)
	if len(all) != 1 {
		t.Fatalf("%d etcd StatefulSets, want 1", len(all))
	}
	sts := all[0]
	name := releaseName + "-etcd"
	if sts.Name != name || *sts.Spec.Replicas != 3 || sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement ||
		sts.Spec.ServiceName != name+"-headless" {
		t.Errorf("StatefulSet %s: %d replicas, %s, service %s; want %s, 3, Parallel, %s-headless",
			sts.Name, *sts.Spec.Replicas, sts.Spec.PodManagementPolicy, sts.Spec.ServiceName, name, name)
	}
	pod := sts.Spec.Template.Spec
	checkPodSecurity(t, "etcd StatefulSet", pod)
	c := container(t, pod, "etcd")
	if !slices.Equal(c.Command, []string{"/usr/local/bin/etcd"}) || c.Image != "gcr.io/etcd-development/etcd:v3.6.5" {
		t.Errorf("etcd runs %s %q, want the official image's /usr/local/bin/etcd", c.Image, c.Command)
	}

	var members []string
	for i := range 3 {
		members = append(members, fmt.Sprintf("%[1]s-%[2]d=http://%[1]s-%[2]d.%[1]s-headless.%[3]s.svc:2380", name, i, namespace))
	}
	peerURL := fmt.Sprintf("http://$(POD_NAME).%s-headless.%s.svc:2380", name, namespace)
	for flag, want := range map[string]string{
		"--name":                        "$(POD_NAME)",
		"--initial-cluster":             strings.Join(members, ","),
		"--initial-cluster-state":       "new",
		"--initial-advertise-peer-urls": peerURL,
		"--advertise-client-urls":       strings.Replace(peerURL, ":2380", ":2379", 1),
		"--auto-compaction-mode":        "periodic",
		"--max-request-bytes":           "1572864",
		"--quota-backend-bytes":         "2147483648",
	} {
		if got := arg(c, flag); got != want {
			t.Errorf("%s=%q, want %q", flag, got, want)
		}
	}
	if i := envIndex(c, "POD_NAME"); i < 0 || c.Env[i].ValueFrom == nil || c.Env[i].ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Error("POD_NAME is not the pod's name: the member name and URLs would be wrong")
	}
	// The data directory is inside the claim, which etcd creates 0700.
	if dir := arg(c, "--data-dir"); len(c.VolumeMounts) != 1 || !strings.HasPrefix(dir, c.VolumeMounts[0].MountPath+"/") ||
		len(sts.Spec.VolumeClaimTemplates) != 1 || sts.Spec.VolumeClaimTemplates[0].Name != c.VolumeMounts[0].Name {
		t.Errorf("--data-dir=%s, mounts %+v: want a directory on the member's claim", dir, c.VolumeMounts)
	}
	if got := sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String(); got != "10Gi" {
		t.Errorf("member claim %s, want 10Gi", got)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"startup", c.StartupProbe, "/livez"}, {"liveness", c.LivenessProbe, "/livez"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "metrics" {
			t.Errorf("%s probe %+v, want %s on the metrics port", p.name, p.probe, p.path)
		}
	}
	if arg(c, "--listen-metrics-urls") != "http://0.0.0.0:2381" {
		t.Errorf("--listen-metrics-urls=%q: the probes' port", arg(c, "--listen-metrics-urls"))
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Error("etcd has no resource requests")
	}
	anti := pod.Affinity
	if anti == nil || anti.PodAntiAffinity == nil || len(anti.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 ||
		anti.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey != "kubernetes.io/hostname" {
		t.Errorf("affinity = %+v, want members preferring different nodes", anti)
	}

	// gokv talks to every member by the URL it advertises.
	gokv := gokvWorkload(t, rel)
	var clients []string
	for i := range 3 {
		clients = append(clients, fmt.Sprintf("http://%[1]s-%[2]d.%[1]s-headless.%[3]s.svc:2379", name, i, namespace))
	}
	if got := env(gokv.template.Spec.Containers[0], "ETCD_ENDPOINTS"); got != strings.Join(clients, ",") {
		t.Errorf("ETCD_ENDPOINTS = %q, want every member: %q", got, strings.Join(clients, ","))
	}
	if got := env(gokv.template.Spec.Containers[0], "ETCD_MAX_REQUEST_BYTES"); got != arg(c, "--max-request-bytes") {
		t.Errorf("gokv's ETCD_MAX_REQUEST_BYTES = %q, etcd's --max-request-bytes = %q: want the same", got, arg(c, "--max-request-bytes"))
	}
	// No object of gokv's selects an etcd member, or the reverse.
	etcdSelector := sts.Spec.Selector.MatchLabels
	if maps.Equal(etcdSelector, gokv.selector) || selects(gokv.selector, sts.Spec.Template.Labels) || selects(etcdSelector, gokv.template.Labels) {
		t.Errorf("etcd selector %v and gokv's %v overlap", etcdSelector, gokv.selector)
	}

	var headless, client bool
	for _, svc := range each[*corev1.Service](rel) {
		if !isEtcd(svc.Labels) {
			continue
		}
		if !maps.Equal(svc.Spec.Selector, etcdSelector) {
			t.Errorf("Service %s selects %v, the members are %v", svc.Name, svc.Spec.Selector, etcdSelector)
		}
		switch svc.Name {
		case name + "-headless":
			headless = svc.Spec.ClusterIP == corev1.ClusterIPNone && svc.Spec.PublishNotReadyAddresses && hasPort(svc, "peer", 2380)
		case name:
			client = svc.Spec.ClusterIP != corev1.ClusterIPNone && hasPort(svc, "client", 2379)
		}
	}
	if !headless || !client {
		t.Errorf("headless peer Service publishing not-ready members %v, client Service %v; want both", headless, client)
	}

	var pdb *policyv1.PodDisruptionBudget
	for _, p := range each[*policyv1.PodDisruptionBudget](rel) {
		if maps.Equal(p.Spec.Selector.MatchLabels, etcdSelector) {
			pdb = p
		}
	}
	if pdb == nil || pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 2 {
		t.Errorf("etcd PDB = %+v, want minAvailable 2 (the quorum of 3)", pdb)
	}

	var np *networkingv1.NetworkPolicy
	for _, p := range each[*networkingv1.NetworkPolicy](rel) {
		if maps.Equal(p.Spec.PodSelector.MatchLabels, etcdSelector) {
			np = p
		}
	}
	if np == nil || len(np.Spec.Ingress) != 3 || np.Spec.Ingress[0].Ports[0].Port.String() != "client" ||
		!maps.Equal(np.Spec.Ingress[0].From[0].PodSelector.MatchLabels, gokv.selector) ||
		!maps.Equal(np.Spec.Ingress[1].From[0].PodSelector.MatchLabels, etcdSelector) {
		t.Errorf("etcd NetworkPolicy = %+v, want the client port from gokv only, the peer port from members only", np)
	}
}

// TestBundledEtcdSizes: the initial cluster and the quorum follow
// etcd.replicaCount.
func TestBundledEtcdSizes(t *testing.T) {
	for _, tt := range []struct{ members, quorum int }{{1, 1}, {3, 2}, {5, 3}} {
		t.Run(fmt.Sprint(tt.members), func(t *testing.T) {
			rel := mustRender(t, etcdValues(map[string]any{"etcd": map[string]any{"enabled": true, "replicaCount": tt.members}}))
			c := etcdStatefulSets(rel)[0].Spec.Template.Spec.Containers[0]
			if n := len(strings.Split(arg(c, "--initial-cluster"), ",")); n != tt.members {
				t.Errorf("--initial-cluster has %d members, want %d", n, tt.members)
			}
			for _, p := range each[*policyv1.PodDisruptionBudget](rel) {
				if isEtcd(p.Labels) && p.Spec.MinAvailable.IntValue() != tt.quorum {
					t.Errorf("minAvailable %d, want %d", p.Spec.MinAvailable.IntValue(), tt.quorum)
				}
			}
		})
	}
}

func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func hasPort(svc *corev1.Service, name string, port int32) bool {
	return slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool {
		return p.Name == name && p.Port == port && p.TargetPort.String() == name
	})
}

// TestExternalEtcd: gokv reads the TLS files and the password from the
// user's Secrets, mounted read-only and not world-readable, at the paths
// its variables name; nothing of a bundled etcd is rendered.
func TestExternalEtcd(t *testing.T) {
	rel := mustRender(t, valuesFile(t, "etcd-external.yaml"))
	if n := len(etcdStatefulSets(rel)); n != 0 {
		t.Errorf("%d etcd StatefulSets with external endpoints", n)
	}
	w := gokvWorkload(t, rel)
	gokv := w.template.Spec.Containers[0]
	if got := env(gokv, "ETCD_ENDPOINTS"); got != "https://etcd-0.etcd.example:2379,https://etcd-1.etcd.example:2379,https://etcd-2.etcd.example:2379" {
		t.Errorf("ETCD_ENDPOINTS = %q", got)
	}
	for name, want := range map[string]string{"ETCD_PREFIX": "/teams/a/gokv/", "ETCD_MAX_REQUEST_BYTES": "4194304", "ETCD_REQUEST_TIMEOUT": "3s"} {
		if got := env(gokv, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if i := envIndex(gokv, "ETCD_DIAL_TIMEOUT"); i >= 0 {
		t.Errorf("ETCD_DIAL_TIMEOUT = %q unasked: gokv's default is the one home of it", gokv.Env[i].Value)
	}
	// file names the variable points at → secret and key that must be there.
	files := map[string][2]string{
		env(gokv, "ETCD_CA_FILE"):       {"gokv-etcd-client-tls", "ca.crt"},
		env(gokv, "ETCD_CERT_FILE"):     {"gokv-etcd-client-tls", "tls.crt"},
		env(gokv, "ETCD_KEY_FILE"):      {"gokv-etcd-client-tls", "tls.key"},
		env(gokv, "ETCD_PASSWORD_FILE"): {"gokv-etcd-user", "password"},
	}
	for path, want := range files {
		secret, key, mode := mountedSecretKey(t, w.template.Spec, gokv, path)
		if secret != want[0] || key != want[1] {
			t.Errorf("%s is key %q of Secret %q, want %q of %q", path, key, secret, want[1], want[0])
		}
		if mode != 0o440 {
			t.Errorf("%s has mode %o, want 0440: the owner and gokv's group (fsGroup) only", path, mode)
		}
	}
	if i := envIndex(gokv, "ETCD_USERNAME"); i < 0 || gokv.Env[i].ValueFrom == nil || gokv.Env[i].ValueFrom.SecretKeyRef == nil ||
		gokv.Env[i].ValueFrom.SecretKeyRef.Name != "gokv-etcd-user" || gokv.Env[i].ValueFrom.SecretKeyRef.Key != "username" {
		t.Errorf("ETCD_USERNAME is not key username of Secret gokv-etcd-user")
	}
	for _, e := range gokv.Env {
		if e.Name == "ETCD_PASSWORD" {
			t.Error("the etcd password is in the environment; it must only be a file")
		}
	}
	if !strings.Contains(rel.notes, "https://etcd-0.etcd.example:2379") {
		t.Errorf("NOTES do not name the external etcd:\n%s", rel.notes)
	}
}

// mountedSecretKey resolves a file path in container c to the Secret and
// key it comes from and the file's mode; the mount must be read-only.
func mountedSecretKey(t *testing.T, pod corev1.PodSpec, c corev1.Container, path string) (secret, key string, mode int32) {
	t.Helper()
	for _, m := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(path, m.MountPath+"/")
		if !ok {
			continue
		}
		if !m.ReadOnly {
			t.Errorf("%s is mounted writable", m.MountPath)
		}
		for _, v := range pod.Volumes {
			if v.Name != m.Name || v.Secret == nil {
				continue
			}
			for _, item := range v.Secret.Items {
				if item.Path == rel {
					return v.Secret.SecretName, item.Key, *v.Secret.DefaultMode
				}
			}
		}
	}
	t.Errorf("nothing mounted provides %s", path)
	return "", "", 0
}

// TestEtcdValuesRefused: contradictory or incomplete etcd settings are
// refused at render with a line that says what to change.
func TestEtcdValuesRefused(t *testing.T) {
	c := loadChart(t)
	for _, tt := range []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"unknown backend", map[string]any{"storage": map[string]any{"backend": "redis"}}, "/storage/backend"},
		{"etcd without an etcd", map[string]any{"storage": map[string]any{"backend": "etcd"}}, "storage.backend=etcd needs an etcd"},
		{"bundled and external", etcdValues(map[string]any{"etcd": map[string]any{"enabled": true, "endpoints": []any{"http://e:2379"}}}), "exclude each other"},
		{"bundled etcd with badger", map[string]any{"etcd": map[string]any{"enabled": true}}, "need storage.backend=etcd"},
		{"endpoints with badger", map[string]any{"etcd": map[string]any{"endpoints": []any{"http://e:2379"}}}, "need storage.backend=etcd"},
		{"TLS for the bundled etcd", etcdValues(map[string]any{"etcd": map[string]any{"enabled": true, "tls": map[string]any{"existingSecret": "x"}}}), "for an external etcd"},
		{"even member count", etcdValues(map[string]any{"etcd": map[string]any{"enabled": true, "replicaCount": 2}}), "/etcd/replicaCount"},
		{"endpoint without a scheme", map[string]any{"storage": map[string]any{"backend": "etcd"}, "etcd": map[string]any{"endpoints": []any{"etcd:2379"}}}, "/etcd/endpoints/0"},
		{"quota over 8 GiB", etcdValues(map[string]any{"etcd": map[string]any{"enabled": true, "quotaBackendBytes": 16 << 30}}), "/etcd/quotaBackendBytes"},
		{"request limit under the value limit", etcdValues(map[string]any{"config": map[string]any{"maxValueBytes": 4 << 20},
			"etcd": map[string]any{"enabled": true, "maxRequestBytes": 4 << 20}}), "etcd.maxRequestBytes (4194304) must exceed config.maxValueBytes"},
		{"default request limit under a raised value limit", map[string]any{"storage": map[string]any{"backend": "etcd"},
			"config": map[string]any{"maxValueBytes": 2 << 20}, "etcd": map[string]any{"endpoints": []any{"http://e:2379"}}}, "etcd.maxRequestBytes (1572864)"},
		{"timeout without a unit", etcdValues(map[string]any{"etcd": map[string]any{"enabled": true, "requestTimeout": "5"}}), "/etcd/requestTimeout"},
		{"unknown etcd key", etcdValues(map[string]any{"etcd": map[string]any{"enabled": true, "members": 3}}), "members"},
		{"anti-affinity word", etcdValues(map[string]any{"etcd": map[string]any{"enabled": true, "podAntiAffinity": "strict"}}), "/etcd/podAntiAffinity"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := render(c, tt.values, 1)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// TestOfflineEtcdImageMatchesTheChart: the e2e suite's offline path loads
// an etcd built from the module version hack/lib.sh pins under the
// chart's default etcd image name; the two versions must be one.
func TestOfflineEtcdImageMatchesTheChart(t *testing.T) {
	var pinned string
	for _, line := range strings.Split(repoFile(t, "hack/lib.sh"), "\n") {
		if v, ok := strings.CutPrefix(line, "ETCD_VERSION="); ok {
			pinned = v
		}
	}
	etcd := loadChart(t).Values["etcd"].(map[string]any)["image"].(map[string]any)
	if tag := etcd["tag"]; tag != pinned {
		t.Errorf("the chart's etcd image tag is %v, hack/lib.sh builds etcd %q for the offline e2e: make them one version", tag, pinned)
	}
}
