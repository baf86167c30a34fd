package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/auth"
	"github.com/gokv-service/gokv/internal/config"
	"github.com/gokv-service/gokv/internal/etcdstore/etcdtest"
)

var etcdPrefixes atomic.Int64

// etcdConfig is testConfig for gokv on cluster c under a prefix of its
// own (or prefix, when not empty).
func etcdConfig(t *testing.T, c *etcdtest.Cluster, prefix string) config.Config {
	cfg := testConfig(t)
	cfg.StorageBackend = config.BackendEtcd
	cfg.DBPath = ""
	cfg.EtcdEndpoints = c.Endpoints()
	cfg.EtcdPrefix = prefix
	if prefix == "" {
		cfg.EtcdPrefix = fmt.Sprintf("/server-test-%d/", etcdPrefixes.Add(1))
	}
	cfg.EtcdDialTimeout = 2 * time.Second
	cfg.EtcdRequestTimeout = time.Second
	cfg.EtcdMaxRequestBytes = 1536 << 10
	return cfg
}

// client makes requests to gokv servers with an admin token.
type client struct {
	t     *testing.T
	token string
}

func newClient(t *testing.T) client {
	token, err := auth.Mint([]byte(testSecret), auth.Claims{ExpiresIn: time.Hour, Scope: auth.ScopeRead | auth.ScopeWrite | auth.ScopeAdmin}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return client{t, token}
}

func (c client) do(method, url string, body []byte, headers ...string) (*http.Response, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp, b
}

// want checks a response's status.
func want(t *testing.T, what string, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: %d %s, want %d", what, resp.StatusCode, body, status)
	}
}

// TestEtcdBackend runs gokv with STORAGE_BACKEND=etcd on a real 3-member
// cluster, through the real router and HTTP server: two replicas share
// the data, conditional writes and watches work across them, backups
// move between Badger and etcd both ways, and losing quorum makes gokv
// unready and answer 503 with Retry-After, never restart (liveness) or
// fail with 500.
func TestEtcdBackend(t *testing.T) {
	c := etcdtest.Start(t, 3)
	cl := newClient(t)

	t.Run("replicas", func(t *testing.T) {
		cfg := etcdConfig(t, c, "")
		a, _, _ := runServer(t, cfg)
		b, _, _ := runServer(t, etcdConfig(t, c, cfg.EtcdPrefix))

		// A watch on replica a, of what replica b writes.
		wctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(wctx, http.MethodGet, a+"/cfg/?watch=true", nil)
		req.Header.Set("Authorization", "Bearer "+cl.token)
		req.Header.Set("Accept", "text/event-stream")
		stream, err := http.DefaultClient.Do(req)
		if err != nil || stream.StatusCode != http.StatusOK {
			t.Fatalf("watch: %v %v", stream, err)
		}
		defer stream.Body.Close()

		resp, body := cl.do(http.MethodPut, b+"/cfg/k", []byte("v1"), "Content-Type", "text/plain")
		want(t, "PUT on b", resp, body, http.StatusCreated)
		first := resp.Header.Get("ETag")
		resp, body = cl.do(http.MethodGet, a+"/cfg/k", nil)
		want(t, "GET on a", resp, body, http.StatusOK)
		if string(body) != "v1" || resp.Header.Get("ETag") != first || resp.Header.Get("Content-Type") != "text/plain" {
			t.Fatalf("GET on a = %q, ETag %s, %s; want v1, %s, text/plain", body, resp.Header.Get("ETag"), resp.Header.Get("Content-Type"), first)
		}
		resp, body = cl.do(http.MethodPut, a+"/cfg/k", []byte("v2"), "If-Match", first)
		want(t, "PUT If-Match current on a", resp, body, http.StatusNoContent)
		second := resp.Header.Get("ETag")
		resp, body = cl.do(http.MethodPut, b+"/cfg/k", []byte("v3"), "If-Match", first)
		want(t, "PUT If-Match stale on b", resp, body, http.StatusPreconditionFailed)
		resp, body = cl.do(http.MethodPut, b+"/cfg/k?ttl=1h", []byte("v3"), "If-None-Match", "*")
		want(t, "PUT If-None-Match on b", resp, body, http.StatusPreconditionFailed)

		// The stream holds both writes, with their ETags as ids.
		lines := bufio.NewScanner(stream.Body)
		for _, id := range []string{first, second} {
			wantID := "id: " + strings.Trim(id, `"`)
			for lines.Scan() && lines.Text() != wantID {
			}
			if lines.Err() != nil {
				t.Fatalf("watch stream: %v, before %q", lines.Err(), wantID)
			}
		}
	})

	t.Run("backup from badger into etcd and back", func(t *testing.T) {
		badger, _, _ := runServer(t, testConfig(t))
		etcd, _, _ := runServer(t, etcdConfig(t, c, ""))
		records := map[string]string{}
		for i := range 300 {
			path := fmt.Sprintf("/b%d/k/%03d", i%4, i)
			value := strings.Repeat(fmt.Sprint(i), i%50)
			query := ""
			if i%3 == 0 {
				query = "?ttl=1h"
			}
			resp, body := cl.do(http.MethodPut, badger+path+query, []byte(value), "Content-Type", fmt.Sprint("application/x-", i%5))
			want(t, "PUT on badger", resp, body, http.StatusCreated)
			records[path] = value
		}
		resp, backup := cl.do(http.MethodGet, badger+"/_admin/backup", nil)
		want(t, "backup of badger", resp, backup, http.StatusOK)
		resp, body := cl.do(http.MethodPost, etcd+"/_admin/restore", backup)
		want(t, "restore into etcd", resp, body, http.StatusOK)
		readBack(t, cl, etcd, records)

		// And back: etcd's backup restores into a fresh Badger.
		resp, body = cl.do(http.MethodPut, etcd+"/b0/added-on-etcd", []byte("new"), "Content-Type", "application/x-0")
		want(t, "PUT on etcd", resp, body, http.StatusCreated)
		records["/b0/added-on-etcd"] = "new"
		resp, backup = cl.do(http.MethodGet, etcd+"/_admin/backup", nil)
		want(t, "backup of etcd", resp, backup, http.StatusOK)
		fresh, _, _ := runServer(t, testConfig(t))
		resp, body = cl.do(http.MethodPost, fresh+"/_admin/restore", backup)
		want(t, "restore into badger", resp, body, http.StatusOK)
		readBack(t, cl, fresh, records)
	})

	t.Run("quorum loss", func(t *testing.T) {
		url, _, _ := runServer(t, etcdConfig(t, c, ""))
		resp, body := cl.do(http.MethodPut, url+"/q/k", []byte("before"))
		want(t, "PUT", resp, body, http.StatusCreated)
		leader := c.Leader(10 * time.Second)
		follower := c.Follower()
		c.Stop(follower)
		c.Stop(leader)
		waitStatus(t, cl, url+"/readyz", http.StatusServiceUnavailable)
		resp, body = cl.do(http.MethodGet, url+"/healthz", nil)
		want(t, "/healthz without quorum", resp, body, http.StatusOK)
		for _, method := range []string{http.MethodGet, http.MethodPut} {
			resp, body = cl.do(method, url+"/q/k", []byte("during"))
			want(t, method+" without quorum", resp, body, http.StatusServiceUnavailable)
			if resp.Header.Get("Retry-After") == "" {
				t.Errorf("%s without quorum: no Retry-After", method)
			}
		}
		c.Restart(t, follower)
		waitStatus(t, cl, url+"/readyz", http.StatusOK)
		resp, body = cl.do(http.MethodGet, url+"/q/k", nil)
		want(t, "GET with quorum back", resp, body, http.StatusOK)
		if string(body) != "before" {
			t.Errorf("GET with quorum back = %q, want the acknowledged write", body)
		}
		c.Restart(t, leader)
	})
}

// readBack checks that url serves every record with its content type.
func readBack(t *testing.T, cl client, url string, records map[string]string) {
	t.Helper()
	for path, value := range records {
		resp, body := cl.do(http.MethodGet, url+path, nil)
		want(t, "GET "+path, resp, body, http.StatusOK)
		if string(body) != value || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/x-") {
			t.Fatalf("GET %s = %q (%s), want %q", path, body, resp.Header.Get("Content-Type"), value)
		}
	}
}

// waitStatus waits up to 30 s for url to answer status.
func waitStatus(t *testing.T, cl client, url string, status int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, _ := cl.do(http.MethodGet, url, nil)
		if resp.StatusCode == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d after 30 s, want %d", url, resp.StatusCode, status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
