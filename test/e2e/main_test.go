//go:build e2e

// Package e2e proves the user's promise on a real Kubernetes cluster made
// with kind: `helm install`, a port-forward, a token from the jwt-gen Job,
// curl. Run it with `make e2e`, which builds the image and picks the kind
// node image for this machine (hack/e2e.sh).
//
// Every test works in namespaces of its own. Most call t.Parallel and run
// side by side (hack/e2e.sh passes -parallel 4) once the others are done,
// which keeps the suite's wall time in CI's budget. The three that count
// failed requests while pods go away (a rollout, a secret rotation, the
// replicated mode's faults) run alone, so a busy node cannot fail them.
//
// Settings, all from the environment:
//
//	GOKV_E2E_IMAGE       image under test, in the local Docker engine (default gokv:e2e)
//	GOKV_E2E_CLUSTER     kind cluster to use; created if missing (default gokv-e2e)
//	GOKV_E2E_NODE_IMAGE  kind node image for a new cluster (default: kind's own)
//	GOKV_E2E_ETCD_IMAGE  image in the local Docker engine to load as the chart's
//	                     bundled etcd image (default: the cluster pulls it)
//	GOKV_E2E_KEEP=1      keep a cluster this run created, for debugging
//	GOKV_E2E_KUBECONFIG  use this cluster instead of kind; the chart's image must be pullable there
package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart/loader"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
)

// repoRoot is the repository, relative to this package.
const repoRoot = "../.."

// env is the cluster every test runs against.
var env struct {
	kubeconfig string
	restConfig *rest.Config
	client     kubernetes.Interface
	// nodes are the kind nodes, for inspecting containers as the runtime
	// sees them; empty for a GOKV_E2E_KUBECONFIG cluster.
	nodes []nodes.Node
	// chartImage is the image the chart's default values name; the image
	// under test is loaded under that name too, so tests install with
	// unmodified defaults.
	chartImage string
	// chartEtcdImage is the bundled etcd's image in the chart's defaults;
	// GOKV_E2E_ETCD_IMAGE, when set, is loaded under that name.
	chartEtcdImage string
	// jwtGen is a jwt-gen binary built from this repository.
	jwtGen string
	start  time.Time
}

func TestMain(m *testing.M) {
	env.start = time.Now()
	teardown, err := setup()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		teardown()
		os.Exit(1)
	}
	code := m.Run()
	teardown()
	os.Exit(code)
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%4.0fs] %s\n", time.Since(env.start).Seconds(), fmt.Sprintf(format, args...))
}

// setup prepares the cluster and returns what undoes it.
func setup() (teardown func(), err error) {
	var undo []func()
	teardown = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}

	tmp, err := os.MkdirTemp("", "gokv-e2e-")
	if err != nil {
		return teardown, err
	}
	undo = append(undo, func() { os.RemoveAll(tmp) })

	if env.chartImage, env.chartEtcdImage, err = chartImages(); err != nil {
		return teardown, err
	}
	env.jwtGen = filepath.Join(tmp, "jwt-gen")
	build := exec.Command("go", "build", "-o", env.jwtGen, "./cmd/jwt-gen")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		return teardown, fmt.Errorf("build jwt-gen: %v\n%s", err, out)
	}

	if kc := os.Getenv("GOKV_E2E_KUBECONFIG"); kc != "" {
		progress("using the cluster of %s", kc)
		env.kubeconfig = kc
		return teardown, connect()
	}

	image := getenv("GOKV_E2E_IMAGE", "gokv:e2e")
	imageID, err := localImageID(image)
	if err != nil {
		return teardown, err
	}
	name := getenv("GOKV_E2E_CLUSTER", "gokv-e2e")
	provider := cluster.NewProvider(cluster.ProviderWithDocker())
	existing, err := provider.List()
	if err != nil {
		return teardown, fmt.Errorf("list kind clusters (is Docker running?): %w", err)
	}
	env.kubeconfig = filepath.Join(tmp, "kubeconfig")
	if slices.Contains(existing, name) {
		progress("reusing kind cluster %s", name)
		if err := provider.ExportKubeConfig(name, env.kubeconfig, false); err != nil {
			return teardown, fmt.Errorf("kubeconfig of %s: %w", name, err)
		}
	} else {
		nodeImage := os.Getenv("GOKV_E2E_NODE_IMAGE")
		progress("creating kind cluster %s (node image: %s)", name, orDefault(nodeImage, "kind's default"))
		opts := []cluster.CreateOption{
			cluster.CreateWithConfigFile(filepath.Join(repoRoot, "k8s", "kind-config.yaml")),
			cluster.CreateWithKubeconfigPath(env.kubeconfig),
			cluster.CreateWithWaitForReady(3 * time.Minute),
			cluster.CreateWithDisplayUsage(false),
			cluster.CreateWithDisplaySalutation(false),
		}
		if nodeImage != "" {
			opts = append(opts, cluster.CreateWithNodeImage(nodeImage))
		}
		// Deleting comes first in undo order's reverse: register it before
		// creating, so a half-made cluster goes too.
		if os.Getenv("GOKV_E2E_KEEP") == "1" {
			undo = append(undo, func() { progress("keeping kind cluster %s (GOKV_E2E_KEEP=1)", name) })
		} else {
			undo = append(undo, func() {
				progress("deleting kind cluster %s", name)
				if err := provider.Delete(name, env.kubeconfig); err != nil {
					fmt.Fprintf(os.Stderr, "e2e: delete cluster %s: %v\n", name, err)
				}
			})
		}
		if err := provider.Create(name, opts...); err != nil {
			return teardown, fmt.Errorf("create kind cluster %s: %w", name, err)
		}
	}
	if env.nodes, err = provider.ListInternalNodes(name); err != nil {
		return teardown, err
	}
	if err := loadImage(image, imageID, env.chartImage); err != nil {
		return teardown, err
	}
	if etcd := os.Getenv("GOKV_E2E_ETCD_IMAGE"); etcd != "" {
		etcdID, err := localImageID(etcd)
		if err != nil {
			return teardown, err
		}
		if err := loadImage(etcd, etcdID, env.chartEtcdImage); err != nil {
			return teardown, err
		}
	}
	progress("cluster ready")
	return teardown, connect()
}

func connect() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", env.kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", env.kubeconfig, err)
	}
	env.restConfig = cfg
	env.client, err = kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if _, err := env.client.Discovery().ServerVersion(); err != nil {
		return fmt.Errorf("reach the API server: %w", err)
	}
	return nil
}

// chartImages are gokv's repository:appVersion and the bundled etcd's
// repository:tag from the chart's defaults.
func chartImages() (gokv, etcd string, err error) {
	c, err := loader.Load(filepath.Join(repoRoot, "charts", "gokv"))
	if err != nil {
		return "", "", fmt.Errorf("load chart: %w", err)
	}
	img, _ := c.Values["image"].(map[string]any)
	repo, _ := img["repository"].(string)
	if repo == "" {
		return "", "", errors.New("the chart has no image.repository")
	}
	etcdValues, _ := c.Values["etcd"].(map[string]any)
	etcdImg, _ := etcdValues["image"].(map[string]any)
	etcdRepo, _ := etcdImg["repository"].(string)
	etcdTag, _ := etcdImg["tag"].(string)
	if etcdRepo == "" || etcdTag == "" {
		return "", "", errors.New("the chart has no etcd.image.repository and tag")
	}
	return repo + ":" + c.Metadata.AppVersion, etcdRepo + ":" + etcdTag, nil
}

func localImageID(image string) (string, error) {
	out, err := exec.Command("docker", "image", "inspect", "-f", "{{.Id}}", image).Output()
	if err != nil {
		return "", fmt.Errorf("image %s is not in the local Docker engine: build it with `make image IMAGE=%s` (make e2e does)", image, image)
	}
	return strings.TrimSpace(string(out)), nil
}

// loadImage puts image into every node, as `kind load docker-image` does,
// unless it is already there, and tags it there as alias too.
func loadImage(image, id, alias string) error {
	for _, node := range env.nodes {
		if got, err := nodeutils.ImageID(node, image); err != nil || got != id {
			progress("loading %s into %s", image, node)
			if err := saveInto(image, node); err != nil {
				return err
			}
		}
		if err := nodeutils.ReTagImage(node, id, alias); err != nil {
			return fmt.Errorf("tag %s as %s on %s: %w", image, alias, node, err)
		}
	}
	return nil
}

func saveInto(image string, node nodes.Node) error {
	save := exec.Command("docker", "save", image)
	archive, err := save.StdoutPipe()
	if err != nil {
		return err
	}
	if err := save.Start(); err != nil {
		return fmt.Errorf("docker save %s: %w", image, err)
	}
	loadErr := nodeutils.LoadImageArchive(node, archive)
	if err := save.Wait(); err != nil {
		return fmt.Errorf("docker save %s: %w", image, err)
	}
	if loadErr != nil {
		return fmt.Errorf("load %s into %s: %w", image, node, loadErr)
	}
	return nil
}

func getenv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
