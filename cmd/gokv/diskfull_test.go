package main

// The disk-full suite: the real binary with its database on a small tmpfs
// that fills up.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// recoverLimit is how long writes may stay refused after every key on a
// full disk has been deleted.
const recoverLimit = 60 * time.Second

// TestDiskFull fills a small tmpfs until writes get 507 and deletes keys:
// writes must be accepted again within recoverLimit, and after a restart
// every kept key must be there and no deleted one. It deletes nine keys in
// ten or all of them, while gokv keeps running, before a SIGTERM and
// restart, or after a restart on a disk another file has filled further,
// where gokv must start (not die of SIGBUS), serve reads and take the
// deletes. Badger left alone dies of SIGBUS on a full disk
// (MIN_FREE_BYTES=0 shows it); without reclaim.go the deletes never gave
// the space back, GC_INTERVAL=1s notwithstanding.
//
// 64 KiB values make the fill quick and go to Badger's value log; 160 MiB
// less the 64 MiB gokv keeps free holds a full 64 MiB value-log file and
// part of the next one, the newest, which Badger does not collect while it
// writes to it.
func TestDiskFull(t *testing.T) {
	tests := []struct {
		name                string
		keepEvery           int // keep every keepEvery-th key; 0 deletes all
		restartBeforeDelete bool
		restartAfterDelete  bool
	}{
		{name: "delete nine tenths", keepEvery: 10},
		{name: "delete all"},
		{name: "delete all, restart", restartAfterDelete: true},
		{name: "restart on the full disk, delete all", restartBeforeDelete: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mnt := mountTmpfs(t, "160m")
			environ := env(filepath.Join(mnt, "db"), "GC_INTERVAL=1s", "SYNC_WRITES=false")
			p := start(t, environ)
			c := newDiskClient(t)
			keys := c.fill(t, p.URL)
			t.Logf("disk full after %d values of 64 KiB: %s", len(keys), df(t, mnt))
			if tt.restartBeforeDelete {
				stop(t, p)
				// Something else on the filesystem takes more of the
				// space gokv kept free, leaving just what deletes need.
				fillTo(t, mnt, filepath.Join(mnt, "other"), minFreeBytes/4+4<<20)
				p = start(t, environ)
				t.Logf("restarted on the full disk: %s", df(t, mnt))
			}
			for _, key := range []string{keys[0], keys[len(keys)-1]} {
				if status, body := c.send(t, http.MethodGet, p.URL, key, nil); status != http.StatusOK || body != string(fillValue) {
					t.Fatalf("GET on the full disk: %d, %d bytes", status, len(body))
				}
			}
			if status, _ := c.send(t, http.MethodPut, p.URL, "probe", []byte("x")); status != http.StatusInsufficientStorage {
				t.Fatalf("PUT on the full disk: %d, want 507", status)
			}

			var kept, doomed []string
			for i, key := range keys {
				if tt.keepEvery > 0 && i%tt.keepEvery == 0 {
					kept = append(kept, key)
				} else {
					doomed = append(doomed, key)
				}
			}
			c.deleteAll(t, p.URL, doomed)
			t.Logf("deleted %d keys: %s", len(doomed), df(t, mnt))
			if tt.restartAfterDelete {
				p = restart(t, p, environ)
			}
			took := c.waitWritable(t, p.URL, mnt)
			t.Logf("writes accepted %s after the last delete: %s", took.Round(100*time.Millisecond), df(t, mnt))

			p = restart(t, p, environ)
			for _, key := range kept {
				if status, body := c.send(t, http.MethodGet, p.URL, key, nil); status != http.StatusOK || body != string(fillValue) {
					t.Fatalf("after restart, a kept key: %d, %d bytes", status, len(body))
				}
			}
			if status, body := c.send(t, http.MethodGet, p.URL, "probe", nil); status != http.StatusOK || body != "x" {
				t.Fatalf("after restart, the probe: %d %q", status, body)
			}
			if status, _ := c.send(t, http.MethodGet, p.URL, doomed[0], nil); status != http.StatusNotFound {
				t.Fatalf("after restart, a deleted key: %d, want 404", status)
			}
		})
	}
}

// TestStartOnFullDisk starts gokv on a filesystem with 8 KiB free, where
// Badger's Open itself died of SIGBUS writing the header of a new
// memory-mapped file: gokv must exit 1 with one line saying why.
func TestStartOnFullDisk(t *testing.T) {
	mnt := mountTmpfs(t, "16m")
	dbPath := filepath.Join(mnt, "db")
	// The filesystem is smaller than the default MIN_FREE_BYTES.
	environ := env(dbPath, "MIN_FREE_BYTES=4194304")
	stop(t, start(t, environ))
	fillTo(t, mnt, filepath.Join(mnt, "other"), 8<<10)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary)
	cmd.Env = environ
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	last := lines[len(lines)-1]
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.HasPrefix(last, "gokv: open database at "+dbPath+": no space left on device") {
		t.Fatalf("exit code %d (%v), last line %q; want 1 and why; %s; stderr:\n%.3000s", code, err, last, df(t, mnt), stderr.String())
	}
}

// mountTmpfs mounts a tmpfs of size (as mount -o size= takes it) on a
// temporary directory for the duration of the test, or skips the test,
// saying why, where mounting is not permitted.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("this test needs to mount a tmpfs for DB_PATH, which is not permitted here (%v); run it as root", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	return mnt
}

// minFreeBytes is gokv's default MIN_FREE_BYTES.
const minFreeBytes = 64 << 20

// restart stops p and starts gokv again.
func restart(t *testing.T, p *process, environ []string) *process {
	t.Helper()
	stop(t, p)
	return start(t, environ)
}

// fillTo writes file until the filesystem at mnt has about free bytes left.
func fillTo(t *testing.T, mnt, file string, free uint64) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(mnt, &st); err != nil {
		t.Fatal(err)
	}
	if avail := st.Bavail * uint64(st.Bsize); avail > free {
		if err := os.WriteFile(file, make([]byte, avail-free), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

var fillValue = bytes.Repeat([]byte{'v'}, 64<<10)

// diskClient sends requests to gokv from several goroutines.
type diskClient struct {
	tok  string
	http *http.Client
}

func newDiskClient(t *testing.T) *diskClient {
	c := &diskClient{tok: token(t), http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 30 * time.Second}}
	t.Cleanup(c.http.CloseIdleConnections)
	return c
}

// send sends one request for key in bucket "full" and fails the test if
// no answer comes.
func (c *diskClient) send(t *testing.T, method, base, key string, body []byte) (int, string) {
	t.Helper()
	status, got, err := c.do(method, base+"/full/"+key, body)
	if err != nil {
		t.Fatal(err)
	}
	return status, got
}

func (c *diskClient) do(method, url string, body []byte) (int, string, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.tok)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("%s %s: %w (is gokv still running? its log follows)", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// fill writes fillValue under new keys of bucket "full" with 16 writers
// until gokv answers 507, which must carry a JSON error, and returns the
// keys it stored.
func (c *diskClient) fill(t *testing.T, base string) []string {
	t.Helper()
	var (
		mu      sync.Mutex
		stored  []string
		refused string
		wg      sync.WaitGroup
	)
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				key := fmt.Sprintf("w%02d-%06d", w, i)
				status, body, err := c.do(http.MethodPut, base+"/full/"+key, fillValue)
				mu.Lock()
				switch {
				case err != nil:
					t.Error(err)
				case status == http.StatusCreated:
					stored = append(stored, key)
				case status == http.StatusInsufficientStorage:
					refused = body
				default:
					t.Errorf("PUT while filling the disk: %d %s", status, body)
				}
				mu.Unlock()
				if status != http.StatusCreated {
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	var errBody struct{ Error string }
	if err := json.Unmarshal([]byte(refused), &errBody); err != nil || errBody.Error == "" {
		t.Fatalf("507 body %q is not a JSON error", refused)
	}
	return stored
}

// deleteAll deletes keys from bucket "full" with 16 goroutines; each must
// answer 204.
func (c *diskClient) deleteAll(t *testing.T, base string, keys []string) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < len(keys); i += 16 {
				if status, body, err := c.do(http.MethodDelete, base+"/full/"+keys[i], nil); err != nil || status != http.StatusNoContent {
					t.Errorf("DELETE on a full disk: %d %s %v", status, body, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// waitWritable PUTs a probe every 200 ms until it is created and returns
// how long that took; it fails the test after recoverLimit.
func (c *diskClient) waitWritable(t *testing.T, base, mnt string) time.Duration {
	t.Helper()
	begin := time.Now()
	for {
		status, body, err := c.do(http.MethodPut, base+"/full/probe", []byte("x"))
		switch {
		case err != nil:
			t.Fatal(err)
		case status == http.StatusCreated:
			return time.Since(begin)
		case status != http.StatusInsufficientStorage:
			t.Fatalf("PUT after the deletes: %d %s", status, body)
		case time.Since(begin) > recoverLimit:
			t.Fatalf("writes still refused %s after the deletes: %s", recoverLimit, df(t, mnt))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// df describes the space used on the filesystem at path.
func df(t *testing.T, path string) string {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	size, free := st.Blocks*uint64(st.Bsize), st.Bavail*uint64(st.Bsize)
	return fmt.Sprintf("%d of %d MiB used", (size-free)>>20, size>>20)
}
