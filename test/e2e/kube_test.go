//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/kubectl/pkg/describe"
)

// newNamespace creates a namespace for one test and deletes it, with
// everything in it, when the test ends. A failed test first dumps what
// the namespace holds.
func newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ns, err := env.client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	name := ns.Name
	t.Cleanup(func() {
		if t.Failed() {
			dumpNamespace(t, name)
		}
		err := env.client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", name, err)
		}
		// PersistentVolumes of deleted claims are released asynchronously;
		// waiting keeps the next test's disk and CPU quiet.
		waitFor(t, "namespace "+name+" to be gone", 3*time.Minute, func(ctx context.Context) (bool, error) {
			_, err := env.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
	})
	step(t, "namespace %s", name)
	return name
}

// step logs a test's progress with the suite's elapsed time.
func step(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("[%4.0fs] %s", time.Since(env.start).Seconds(), fmt.Sprintf(format, args...))
}

// waitFor polls cond every second until it holds, failing the test after
// timeout with what it was waiting for.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func(context.Context) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		ok, err := cond(ctx)
		if err != nil {
			last = err
			return false, nil
		}
		return ok, nil
	})
	if err != nil {
		t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, last)
	}
}

// waitStatefulSetReady waits until every replica of the StatefulSet runs
// its current revision and is ready.
func waitStatefulSetReady(t *testing.T, ns, name string) *appsv1.StatefulSet {
	t.Helper()
	var sts *appsv1.StatefulSet
	waitFor(t, "StatefulSet "+name+" to be ready", 5*time.Minute, func(ctx context.Context) (bool, error) {
		var err error
		sts, err = env.client.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s := sts.Status
		return s.ObservedGeneration >= sts.Generation && s.ReadyReplicas == *sts.Spec.Replicas &&
			s.UpdatedReplicas == *sts.Spec.Replicas && s.CurrentRevision == s.UpdateRevision, nil
	})
	return sts
}

// readyPod returns a running, ready pod matching selector.
func readyPod(ctx context.Context, ns string, selector map[string]string) (*corev1.Pod, error) {
	pods, err := env.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(selector).String(),
	})
	if err != nil {
		return nil, err
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp == nil && isReady(p) {
			return p, nil
		}
	}
	return nil, fmt.Errorf("no ready pod with labels %v among %d", selector, len(pods.Items))
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitJobComplete waits for the Job to succeed and returns its pod's log.
func waitJobComplete(t *testing.T, ns, name string) string {
	t.Helper()
	waitFor(t, "Job "+name+" to complete", 3*time.Minute, func(ctx context.Context) (bool, error) {
		job, err := env.client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range job.Status.Conditions {
			if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
				return false, fmt.Errorf("job failed: %s", c.Message)
			}
		}
		return job.Status.Succeeded > 0, nil
	})
	pods, err := env.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "job-name=" + name})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("pods of Job %s: %v (%d)", name, err, len(pods.Items))
	}
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodSucceeded {
			return podLog(t, ns, p.Name, "", false)
		}
	}
	t.Fatalf("Job %s has no succeeded pod", name)
	return ""
}

func podLog(t *testing.T, ns, pod, container string, previous bool) string {
	t.Helper()
	b, err := env.client.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container, Previous: previous}).
		Do(context.Background()).Raw()
	if err != nil {
		t.Fatalf("logs of %s/%s: %v", ns, pod, err)
	}
	return string(b)
}

// secretValue reads one key of a Secret.
func secretValue(t *testing.T, ns, name, key string) string {
	t.Helper()
	s, err := env.client.CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get Secret %s: %v", name, err)
	}
	v, ok := s.Data[key]
	if !ok {
		t.Fatalf("Secret %s has no key %s", name, key)
	}
	return string(v)
}

// dumpNamespace writes what a failed test needs to be debugged: describe
// output of the workloads, the events, and every container's logs.
func dumpNamespace(t *testing.T, ns string) {
	ctx := context.Background()
	var b strings.Builder
	fmt.Fprintf(&b, "===== dump of namespace %s =====\n", ns)
	describeAll(ctx, &b, ns)

	events, err := env.client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err == nil {
		sort.Slice(events.Items, func(i, j int) bool {
			return events.Items[i].LastTimestamp.Before(&events.Items[j].LastTimestamp)
		})
		fmt.Fprintf(&b, "----- events -----\n")
		for _, e := range events.Items {
			fmt.Fprintf(&b, "%s %s %s/%s %s: %s\n", e.LastTimestamp.Format(time.RFC3339), e.Type,
				e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
		}
	}

	pods, err := env.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err == nil {
		for _, p := range pods.Items {
			for _, c := range p.Spec.Containers {
				for _, previous := range []bool{false, true} {
					raw, err := env.client.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: c.Name, Previous: previous}).
						Do(ctx).Raw()
					if err != nil {
						continue
					}
					fmt.Fprintf(&b, "----- logs %s/%s (previous=%v) -----\n%s\n", p.Name, c.Name, previous, raw)
				}
			}
		}
	}
	t.Log(b.String())
	if dir := os.Getenv("GOKV_E2E_ARTIFACTS"); dir != "" {
		path := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+"-"+ns+".txt")
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err == nil {
			t.Logf("dump written to %s", path)
		}
	}
}

// describeAll writes `kubectl describe` output for the namespace's
// workloads and claims.
func describeAll(ctx context.Context, w io.Writer, ns string) {
	type target struct {
		gk   schema.GroupKind
		name string
	}
	var targets []target
	if l, err := env.client.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, o := range l.Items {
			targets = append(targets, target{schema.GroupKind{Group: "apps", Kind: "StatefulSet"}, o.Name})
		}
	}
	if l, err := env.client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, o := range l.Items {
			targets = append(targets, target{schema.GroupKind{Group: "apps", Kind: "Deployment"}, o.Name})
		}
	}
	if l, err := env.client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, o := range l.Items {
			targets = append(targets, target{schema.GroupKind{Group: "batch", Kind: "Job"}, o.Name})
		}
	}
	if l, err := env.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, o := range l.Items {
			targets = append(targets, target{schema.GroupKind{Kind: "Pod"}, o.Name})
		}
	}
	if l, err := env.client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, o := range l.Items {
			targets = append(targets, target{schema.GroupKind{Kind: "PersistentVolumeClaim"}, o.Name})
		}
	}
	for _, tg := range targets {
		d, ok := describe.DescriberFor(tg.gk, env.restConfig)
		if !ok {
			continue
		}
		out, err := d.Describe(ns, tg.name, describe.DescriberSettings{})
		if err != nil {
			fmt.Fprintf(w, "describe %s %s: %v\n", tg.gk.Kind, tg.name, err)
			continue
		}
		fmt.Fprintf(w, "----- describe %s %s -----\n%s\n", tg.gk.Kind, tg.name, out)
	}
}

// nodeExec runs a command on the kind node that hosts the pod's
// containers and returns its output.
func nodeExec(t *testing.T, args ...string) []byte {
	t.Helper()
	if len(env.nodes) == 0 {
		t.Skip("not a kind cluster: no node to inspect containers on")
	}
	var out, errOut bytes.Buffer
	cmd := env.nodes[0].Command(args[0], args[1:]...)
	cmd.SetStdout(&out)
	cmd.SetStderr(&errOut)
	if err := cmd.Run(); err != nil {
		t.Fatalf("on node %s: %s: %v\n%s", env.nodes[0], strings.Join(args, " "), err, errOut.String())
	}
	return out.Bytes()
}

// containerRuntimeInfo is the part of `crictl inspect` that says how the
// runtime really started a container.
type containerRuntimeInfo struct {
	Info struct {
		Pid         int `json:"pid"`
		RuntimeSpec struct {
			Process struct {
				User struct {
					UID uint32 `json:"uid"`
					GID uint32 `json:"gid"`
				} `json:"user"`
				NoNewPrivileges bool `json:"noNewPrivileges"`
				Capabilities    struct {
					Bounding    []string `json:"bounding"`
					Effective   []string `json:"effective"`
					Permitted   []string `json:"permitted"`
					Inheritable []string `json:"inheritable"`
					Ambient     []string `json:"ambient"`
				} `json:"capabilities"`
			} `json:"process"`
			Root struct {
				Readonly bool `json:"readonly"`
			} `json:"root"`
		} `json:"runtimeSpec"`
	} `json:"info"`
}

func inspectContainer(t *testing.T, containerID string) containerRuntimeInfo {
	t.Helper()
	id := containerID[strings.Index(containerID, "://")+3:]
	var info containerRuntimeInfo
	if err := json.Unmarshal(nodeExec(t, "crictl", "inspect", id), &info); err != nil {
		t.Fatalf("crictl inspect %s: %v", id, err)
	}
	return info
}
