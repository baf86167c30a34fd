package chart

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// jobsOf returns the Jobs of one component (jwt-gen, restore).
func jobsOf(rel release, component string) []*batchv1.Job {
	var jobs []*batchv1.Job
	for _, j := range each[*batchv1.Job](rel) {
		if j.Labels["app.kubernetes.io/component"] == component {
			jobs = append(jobs, j)
		}
	}
	return jobs
}

// backupMount returns the claim a backup or restore pod mounts at the
// directory its command works in.
func backupMount(t *testing.T, owner string, pod corev1.PodSpec, c corev1.Container, dir string) string {
	t.Helper()
	var volume string
	for _, m := range c.VolumeMounts {
		if m.MountPath == dir {
			volume = m.Name
		}
	}
	for _, v := range pod.Volumes {
		if v.Name == volume && v.PersistentVolumeClaim != nil {
			return v.PersistentVolumeClaim.ClaimName
		}
	}
	t.Fatalf("%s: no claim mounted at %s: mounts %+v", owner, dir, c.VolumeMounts)
	return ""
}

// checkBackup: when the backup CronJob is rendered, it runs `gokv backup`
// from the server's image, as the other pods do (least privilege, the
// same secret by reference, no token anywhere), one run at a time, into
// a claim of its own that is not the StatefulSet's and that outlives the
// release; the restore Job reads the same claim, once, after install.
func checkBackup(t *testing.T, rel release, w workload, secretRef *corev1.SecretKeySelector) {
	t.Helper()
	image := w.image()
	crons := each[*batchv1.CronJob](rel)
	restores := jobsOf(rel, "restore")
	if len(crons) == 0 && len(restores) == 0 {
		return
	}
	check := func(owner string, pod corev1.PodSpec, name string, command []string) (corev1.Container, string) {
		checkPodSecurity(t, owner, pod)
		c := container(t, pod, name)
		checkSecretOnlyByRef(t, owner, c)
		if got := c.Env[envIndex(c, "JWT_SECRET")].ValueFrom.SecretKeyRef; *got != *secretRef {
			t.Errorf("%s reads %+v, the server %+v", owner, got, secretRef)
		}
		if i := envIndex(c, "GOKV_TOKEN"); i >= 0 {
			t.Errorf("%s is given a token (%+v): it must mint its own", owner, c.Env[i])
		}
		if c.Image != image {
			t.Errorf("%s runs %s, the server %s", owner, c.Image, image)
		}
		if !reflect.DeepEqual(c.Command, command) {
			t.Errorf("%s runs %q, want %q", owner, c.Command, command)
		}
		if pod.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("%s: restartPolicy = %s, want Never", owner, pod.RestartPolicy)
		}
		return c, arg(c, "--url")
	}
	var claims []string
	for _, cron := range crons {
		if cron.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
			t.Errorf("CronJob %s: concurrencyPolicy = %q, want Forbid", cron.Name, cron.Spec.ConcurrencyPolicy)
		}
		pod := cron.Spec.JobTemplate.Spec.Template.Spec
		c, url := check("backup CronJob", pod, "backup", []string{"/gokv", "backup"})
		if !strings.Contains(url, "://"+releaseName+":") && !strings.Contains(url, "://kv:") {
			t.Errorf("backup CronJob backs up %q, not the release's Service", url)
		}
		if arg(c, "--retention") == "" {
			t.Error("backup CronJob has no --retention")
		}
		claims = append(claims, backupMount(t, "backup CronJob", pod, c, arg(c, "--dir")))
	}
	for _, job := range restores {
		if job.Annotations["helm.sh/hook"] != "post-install" {
			t.Errorf("restore Job hook = %q, want post-install only", job.Annotations["helm.sh/hook"])
		}
		pod := job.Spec.Template.Spec
		c, _ := check("restore Job", pod, "restore", []string{"/gokv", "restore"})
		file := arg(c, "--file")
		dir := file[:strings.LastIndex(file, "/")]
		claims = append(claims, backupMount(t, "restore Job", pod, c, dir))
	}
	volumeJobs := jobsOf(rel, "backup-volume")
	if len(crons) > 0 && len(volumeJobs) != 1 {
		t.Fatalf("%d backup-volume Jobs, want 1 beside the CronJob", len(volumeJobs))
	}
	for _, job := range volumeJobs {
		if len(job.Annotations) > 0 && job.Annotations["helm.sh/hook"] != "" {
			t.Errorf("the backup-volume Job is a hook: helm install --wait would wait for the claim before it runs")
		}
		pod := job.Spec.Template.Spec
		checkPodSecurity(t, "backup-volume Job", pod)
		c := container(t, pod, "backups")
		if c.Image != image || !reflect.DeepEqual(c.Command, []string{"/gokv", "backups"}) {
			t.Errorf("backup-volume Job runs %s %q, want %s /gokv backups", c.Image, c.Command, image)
		}
		if len(c.Env) > 0 {
			t.Errorf("backup-volume Job gets %+v: it needs no secret", c.Env)
		}
		claims = append(claims, backupMount(t, "backup-volume Job", pod, c, arg(c, "--dir")))
	}
	for _, claim := range claims {
		if claim != claims[0] {
			t.Errorf("backup and restore use claims %q, want one", claims)
		}
		for _, tmpl := range w.claims {
			if strings.HasPrefix(claim, tmpl.Name+"-") {
				t.Errorf("backups go to %s, the StatefulSet's own claim", claim)
			}
		}
	}
	pvcs := each[*corev1.PersistentVolumeClaim](rel)
	i := slices.IndexFunc(pvcs, func(p *corev1.PersistentVolumeClaim) bool { return p.Name == claims[0] })
	if i < 0 {
		return // an existing claim
	}
	// helm install --wait waits for the claims it creates to be bound,
	// which a WaitForFirstConsumer class does only once a pod mounts
	// the claim: a pod of the release itself, not a hook, must.
	if len(volumeJobs) == 0 {
		t.Errorf("no Job of the release mounts the backup claim %s: helm install --wait would never see it bound", pvcs[i].Name)
	}
	if pvcs[i].Annotations["helm.sh/resource-policy"] != "keep" {
		t.Errorf("the backup claim %s is deleted with the release: no helm.sh/resource-policy: keep", pvcs[i].Name)
	}
}

// arg returns the value of a --name=value argument of c.
func arg(c corev1.Container, name string) string {
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

func TestBackupOffByDefault(t *testing.T) {
	rel := mustRender(t, nil)
	if n := len(each[*batchv1.CronJob](rel)) + len(jobsOf(rel, "restore")) + len(each[*corev1.PersistentVolumeClaim](rel)); n != 0 {
		t.Errorf("defaults render %d backup objects, want none", n)
	}
}

func TestBackupOn(t *testing.T) {
	rel := mustRender(t, valuesFile(t, "backup-on.yaml"))
	cron := only[*batchv1.CronJob](t, rel)
	if cron.Spec.Schedule != "30 2 * * *" {
		t.Errorf("schedule = %q", cron.Spec.Schedule)
	}
	c := container(t, cron.Spec.JobTemplate.Spec.Template.Spec, "backup")
	if arg(c, "--retention") != "14" {
		t.Errorf("args %q, want --retention=14", c.Args)
	}
	pvc := only[*corev1.PersistentVolumeClaim](t, rel)
	if got := pvc.Spec.Resources.Requests.Storage().String(); got != "10Gi" || *pvc.Spec.StorageClassName != "standard" || pvc.Annotations["team"] != "platform" {
		t.Errorf("backup claim %s: %s, class %v, annotations %v", pvc.Name, got, pvc.Spec.StorageClassName, pvc.Annotations)
	}
	for _, want := range []string{"create job --from=cronjob/" + cron.Name, "logs job/" + releaseName + "-backups-1"} {
		if !strings.Contains(rel.notes, want) {
			t.Errorf("NOTES lack %q:\n%s", want, rel.notes)
		}
	}
	restore := jobsOf(rel, "restore")
	if len(restore) != 1 {
		t.Fatalf("%d restore Jobs, want 1", len(restore))
	}
	if got := arg(container(t, restore[0].Spec.Template.Spec, "restore"), "--file"); got != "/backups/gokv-20260101T030000.000Z.backup" {
		t.Errorf("restore --file=%q", got)
	}
}

func TestBackupExistingClaim(t *testing.T) {
	rel := mustRender(t, valuesFile(t, "backup-existing-claim.yaml"))
	if pvcs := each[*corev1.PersistentVolumeClaim](rel); len(pvcs) != 0 {
		t.Errorf("with an existing claim the chart still makes %s", pvcs[0].Name)
	}
	cron := only[*batchv1.CronJob](t, rel)
	pod := cron.Spec.JobTemplate.Spec.Template.Spec
	c := container(t, pod, "backup")
	if got := backupMount(t, "backup CronJob", pod, c, arg(c, "--dir")); got != "gokv-backups" {
		t.Errorf("backups go to claim %q, want gokv-backups", got)
	}
	restore := jobsOf(rel, "restore")
	if len(restore) != 1 || arg(container(t, restore[0].Spec.Template.Spec, "restore"), "--file") != "/backups/" {
		t.Errorf("restore Job without a file must restore the newest in /backups/")
	}
}

func TestBackupSchema(t *testing.T) {
	c := loadChart(t)
	for _, tt := range []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"no retention", map[string]any{"backup": map[string]any{"retention": 0}}, "/backup/retention"},
		{"empty schedule", map[string]any{"backup": map[string]any{"schedule": ""}}, "/backup/schedule"},
		{"unknown backup key", map[string]any{"backup": map[string]any{"keep": 3}}, "keep"},
		{"restore file in a directory", map[string]any{"restore": map[string]any{"file": "../etc/passwd"}}, "/restore/file"},
		{"bad backup size", map[string]any{"backup": map[string]any{"persistence": map[string]any{"size": "big"}}}, "/backup/persistence/size"},
		{"restore without a backup volume", map[string]any{"restore": map[string]any{"enabled": true}}, "restore.enabled needs the backup volume"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := render(c, tt.values, 1)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}
