// Package etcdtest starts real etcd clusters inside a test process: N
// members of go.etcd.io/etcd/server/v3/embed on loopback, with free ports
// and data in the test's temporary directory, that a test can stop and
// restart one member at a time to take away a leader or a quorum.
package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

// startTimeout bounds how long a member may take to join or rejoin its
// cluster: on two busy cores an election takes a few seconds at worst.
const startTimeout = 60 * time.Second

// Options change a cluster from the defaults.
type Options struct {
	// Fsync makes members sync their log to disk as a production etcd
	// does. Off by default: members are stopped, never crashed, in a
	// test, and fsync on shared CI disks costs seconds.
	Fsync bool
	// MaxRequestBytes is etcd's --max-request-bytes; 0 keeps etcd's
	// default, 1.5 MiB.
	MaxRequestBytes uint
}

// Cluster is a running cluster. Its methods are safe for concurrent use.
type Cluster struct {
	mu      sync.Mutex
	members []*member
}

type member struct {
	cfg  *embed.Config
	etcd *embed.Etcd // nil while stopped
}

// Start starts a cluster of n members that is stopped when the test ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	return StartWith(t, n, Options{})
}

// StartWith starts a cluster of n members as opts say.
func StartWith(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	c, err := Launch(t.TempDir(), n, opts)
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// Launch starts a cluster of n members with their data under dir, for a
// TestMain that shares one cluster among a package's tests (a cluster
// takes a second or two to start); Close stops it.
func Launch(dir string, n int, opts Options) (*Cluster, error) {
	// A port free when chosen can be taken by another test process before
	// the member binds it; then the whole cluster starts again on new
	// ports, as its members name each other's.
	for attempt := 1; ; attempt++ {
		dir := filepath.Join(dir, fmt.Sprint("start", attempt))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		c, err := launch(dir, n, opts)
		if !errors.Is(err, syscall.EADDRINUSE) || attempt == maxLaunchAttempts {
			return c, err
		}
	}
}

const maxLaunchAttempts = 5

func launch(dir string, n int, opts Options) (*Cluster, error) {
	c := &Cluster{}
	token := fmt.Sprintf("gokv-test-%d", time.Now().UnixNano())
	var initial []string
	for i := range n {
		name := fmt.Sprintf("m%d", i)
		peer, err := freeURL()
		if err != nil {
			return nil, err
		}
		client, err := freeURL()
		if err != nil {
			return nil, err
		}
		cfg := embed.NewConfig()
		cfg.Name = name
		cfg.Dir = filepath.Join(dir, name)
		cfg.ListenPeerUrls = []url.URL{peer}
		cfg.AdvertisePeerUrls = []url.URL{peer}
		cfg.ListenClientUrls = []url.URL{client}
		cfg.AdvertiseClientUrls = []url.URL{client}
		cfg.InitialClusterToken = token
		cfg.LogLevel = "error"
		cfg.LogOutputs = []string{filepath.Join(dir, name+".log")}
		cfg.UnsafeNoFsync = !opts.Fsync
		if opts.MaxRequestBytes > 0 {
			cfg.MaxRequestBytes = opts.MaxRequestBytes
		}
		initial = append(initial, name+"="+peer.String())
		c.members = append(c.members, &member{cfg: cfg})
	}
	for _, m := range c.members {
		m.cfg.InitialCluster = strings.Join(initial, ",")
	}
	// Members wait for each other's votes, so they start together.
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range c.members {
		wg.Go(func() { errs[i] = c.start(i) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("start member %d: %w", i, err)
		}
	}
	return c, nil
}

// freeURL returns http://127.0.0.1:<port> with a port free a moment ago.
func freeURL() (url.URL, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return url.URL{}, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return url.URL{Scheme: "http", Host: ln.Addr().String()}, nil
}

// start starts member i on its data directory and ports and waits until
// it serves.
func (c *Cluster) start(i int) error {
	c.mu.Lock()
	m := c.members[i]
	c.mu.Unlock()
	e, err := embed.StartEtcd(m.cfg)
	if err != nil {
		return err
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return err
	case <-time.After(startTimeout):
		e.Close()
		return fmt.Errorf("not ready after %s", startTimeout)
	}
	c.mu.Lock()
	m.etcd = e
	c.mu.Unlock()
	return nil
}

// Endpoints returns the client URLs of every member, running or not, as
// ETCD_ENDPOINTS takes them.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.cfg.AdvertiseClientUrls[0].String())
	}
	return eps
}

// Endpoint returns member i's client URL.
func (c *Cluster) Endpoint(i int) string {
	return c.members[i].cfg.AdvertiseClientUrls[0].String()
}

// Size is the number of members, running or not.
func (c *Cluster) Size() int { return len(c.members) }

// Client returns a client of the whole cluster, closed when the test ends.
func (c *Cluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("etcdtest: client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// Stop stops member i as a shutdown of its process would: a leader hands
// its leadership over first. Its data stays for Restart. Stopping a
// stopped member does nothing.
func (c *Cluster) Stop(i int) { c.stop(i, false) }

// Kill stops member i at once, as a crash of its process would: a leader
// hands nothing over, and the others notice only when its heartbeats stop
// (an election timeout, 1 s). Its data stays for Restart: the member
// never fsyncs unless Options.Fsync, but a test's kill leaves the page
// cache as it was.
func (c *Cluster) Kill(i int) { c.stop(i, true) }

func (c *Cluster) stop(i int, hard bool) {
	c.mu.Lock()
	m := c.members[i]
	e := m.etcd
	m.etcd = nil
	c.mu.Unlock()
	if e == nil {
		return
	}
	if hard {
		e.Server.HardStop()
	}
	e.Close()
}

// Restart starts the stopped member i again, on the same data directory
// and ports, and waits until it has rejoined (which needs a quorum).
func (c *Cluster) Restart(t testing.TB, i int) {
	t.Helper()
	if err := c.start(i); err != nil {
		t.Fatalf("etcdtest: restart member %d: %v", i, err)
	}
}

// Running reports whether member i runs.
func (c *Cluster) Running(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[i].etcd != nil
}

// Leader returns the index of the member that leads, waiting up to
// timeout for an election; -1 when none leads by then.
func (c *Cluster) Leader(timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		c.mu.Lock()
		for i, m := range c.members {
			if m.etcd != nil && m.etcd.Server.Leader() == m.etcd.Server.MemberID() && m.etcd.Server.Leader() != 0 {
				c.mu.Unlock()
				return i
			}
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			return -1
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Follower returns the index of a running member that does not lead, or
// -1.
func (c *Cluster) Follower() int {
	leader := c.Leader(startTimeout)
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, m := range c.members {
		if i != leader && m.etcd != nil {
			return i
		}
	}
	return -1
}

// Compact compacts the cluster's history up to rev, so that watches and
// reads at older revisions fail as they do in production.
func (c *Cluster) Compact(ctx context.Context, rev int64) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer cli.Close()
	_, err = cli.Compact(ctx, rev, clientv3.WithCompactPhysical())
	return err
}

// Close kills every member.
func (c *Cluster) Close() {
	var wg sync.WaitGroup
	for i := range c.members {
		wg.Go(func() { c.Kill(i) })
	}
	wg.Wait()
}
