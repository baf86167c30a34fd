//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// 10. Disaster recovery: the backup CronJob, triggered by hand, saves a
// backup to its own claim; the release and its data claim are deleted;
// a reinstall with the restore Job brings every key back from the backup
// claim, which outlived the release.
func TestBackupAndDisasterRecovery(t *testing.T) {
	t.Parallel()
	backupOn := map[string]any{"backup": map[string]any{"enabled": true}}
	d := deploy(t, "backup", backupOn)
	written := writeKeys(t, d.api, "dr", 200)
	ctx := context.Background()

	log := runJobFromCronJob(t, d.ns, releaseName+"-backup", "backup-now")
	if !strings.Contains(log, "gokv backup: /backups/gokv-") || !strings.Contains(log, " 200 records") {
		t.Fatalf("the backup Job logged %q, want a saved file of 200 records", log)
	}
	if strings.Contains(log, "eyJ") {
		t.Errorf("the backup Job's log holds something like a token: %q", log)
	}
	step(t, "backup: %s", strings.TrimSpace(log))

	d.fwd.close()
	d.helm.uninstall()
	claims := env.client.CoreV1().PersistentVolumeClaims(d.ns)
	step(t, "delete the data claim data-%s-0", releaseName)
	if err := claims.Delete(ctx, "data-"+releaseName+"-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, "claim data-"+releaseName+"-0", func(ctx context.Context) error {
		_, err := claims.Get(ctx, "data-"+releaseName+"-0", metav1.GetOptions{})
		return err
	})
	if _, err := claims.Get(ctx, releaseName+"-backup", metav1.GetOptions{}); err != nil {
		t.Fatalf("the backup claim did not outlive the release: %v", err)
	}

	// helm install waits for the post-install restore Job.
	d.helm.install(map[string]any{
		"backup":  map[string]any{"enabled": true},
		"restore": map[string]any{"enabled": true},
	})
	log = waitJobComplete(t, d.ns, releaseName+"-backups-1")
	if !strings.Contains(log, "gokv backups: 1 in /backups, writable") {
		t.Errorf("the reinstall's backups Job logged %q, want the one backup listed", log)
	}
	log = waitJobComplete(t, d.ns, releaseName+"-restore")
	if !strings.Contains(log, "restored 200 entries") {
		t.Fatalf("the restore Job logged %q, want 200 entries restored", log)
	}
	step(t, "restore: %s", strings.TrimSpace(log))
	api := kv{base: forwardService(t, d.ns, releaseName).URL, token: tokenFromJob(t, d.ns, jobName(releaseName, 1))}
	readKeys(t, api, "dr", written)
}

// runJobFromCronJob is `kubectl create job --from=cronjob/CRON NAME`: a Job
// from the CronJob's template, now. It waits for it and returns its log.
func runJobFromCronJob(t *testing.T, ns, cron, name string) string {
	t.Helper()
	ctx := context.Background()
	cj, err := env.client.BatchV1().CronJobs(ns).Get(ctx, cron, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get CronJob %s: %v", cron, err)
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   ns,
			Labels:      cj.Spec.JobTemplate.Labels,
			Annotations: map[string]string{"cronjob.kubernetes.io/instantiate": "manual"},
			OwnerReferences: []metav1.OwnerReference{
				*metav1.NewControllerRef(cj, batchv1.SchemeGroupVersion.WithKind("CronJob")),
			},
		},
		Spec: cj.Spec.JobTemplate.Spec,
	}
	step(t, "kubectl create job --from=cronjob/%s %s", cron, name)
	if _, err := env.client.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Job %s: %v", name, err)
	}
	start := time.Now()
	log := waitJobComplete(t, ns, name)
	step(t, "Job %s done in %s", name, time.Since(start).Round(time.Second))
	return log
}
