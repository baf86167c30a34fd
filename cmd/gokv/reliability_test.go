package main

// Reliability suites: the real binary under concurrent load, killed with
// SIGKILL or SIGTERM, or with its database on a filesystem that fills up.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestKill9KeepsAcknowledgedWrites kills gokv at a random moment while 16
// writers overwrite their keys, restarts it on the same database and
// expects every acknowledged value back, several times in a row.
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	const rounds, writers, keysPerWriter = 4, 16, 40
	for _, sync := range []string{"false", "true"} {
		t.Run("SYNC_WRITES="+sync, func(t *testing.T) {
			dbPath := t.TempDir()
			acks := newAckLog()
			for round := range rounds {
				p := start(t, env(dbPath, "SYNC_WRITES="+sync))
				acks.verify(t, p.URL)
				done := make(chan int, 1)
				go func() {
					done <- writeLoad(t, p.URL, fmt.Sprintf("round%d", round), writers, keysPerWriter, acks, nil)
				}()
				time.Sleep(100*time.Millisecond + rand.N(400*time.Millisecond))
				if err := p.cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				p.wait(t, 10*time.Second)
				acked := <-done
				t.Logf("round %d: %d writes acknowledged before kill -9, %d keys in doubt", round, acked, len(acks.inFlight))
				if acked == 0 {
					t.Fatalf("round %d: no write was acknowledged before the kill; the round proves nothing", round)
				}
			}
			p := start(t, env(dbPath, "SYNC_WRITES="+sync))
			acks.verify(t, p.URL)
		})
	}
}

// TestSIGTERMUnderLoad sends SIGTERM while 16 writers are busy: no request
// may fail with a 5xx, gokv must exit 0 within SHUTDOWN_DELAY +
// SHUTDOWN_TIMEOUT, and every acknowledged write must be there after a
// restart.
func TestSIGTERMUnderLoad(t *testing.T) {
	const delay, timeout = time.Second, 5 * time.Second
	dbPath := t.TempDir()
	p := start(t, env(dbPath, "SHUTDOWN_DELAY="+delay.String(), "SHUTDOWN_TIMEOUT="+timeout.String()))
	acks := newAckLog()
	done := make(chan int, 1)
	go func() { done <- writeLoad(t, p.URL, "graceful", 16, 40, acks, nil) }()
	time.Sleep(300 * time.Millisecond)

	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := p.wait(t, delay+timeout+10*time.Second)
	took := time.Since(sent)
	acked := <-done
	t.Logf("exit %d %s after SIGTERM; %d writes acknowledged; statuses %v", code, took.Round(time.Millisecond), acked, acks.statuses)
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	if took > delay+timeout {
		t.Errorf("exit %s after SIGTERM, want within SHUTDOWN_DELAY + SHUTDOWN_TIMEOUT = %s", took, delay+timeout)
	}
	for status, n := range acks.statuses {
		if status >= 500 {
			t.Errorf("%d requests answered %d during the shutdown", n, status)
		}
	}
	if acked == 0 {
		t.Fatal("no write was acknowledged; the test proves nothing")
	}
	p = start(t, env(dbPath))
	acks.verify(t, p.URL)
}

// TestDiskFull puts DB_PATH on a small tmpfs and writes until it is full:
// gokv must answer 507 with a JSON error and stay up (Badger, left alone,
// dies of SIGBUS writing into its sparse memory-mapped files), keep
// serving reads, accept writes again once deletes and value-log GC have
// freed space, and reopen with every acknowledged write after a restart.
func TestDiskFull(t *testing.T) {
	mnt := t.TempDir()
	// 224 MiB less the 64 MiB gokv keeps free leaves room for more than
	// two 64 MiB value-log files: GC never rewrites the newest one, so
	// deletes can only give space back from older ones.
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=224m"); err != nil {
		t.Skipf("this test needs to mount a tmpfs for DB_PATH, which is not permitted here (%v); run it as root", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	dbPath := filepath.Join(mnt, "db")
	p := start(t, env(dbPath, "GC_INTERVAL=1s", "SYNC_WRITES=false"))
	tok := token(t)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	try := func(method, key, value string) (int, string, error) {
		var body io.Reader
		if value != "" {
			body = strings.NewReader(value)
		}
		req, _ := http.NewRequest(method, p.URL+"/full/"+key, body)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			// The URL holds the long key; the cause is what matters.
			return 0, "", fmt.Errorf("%s %.20s...: %v (is gokv still running? its log follows)", method, key, errors.Unwrap(err))
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b), nil
	}
	send := func(method, key, value string) (int, string) {
		t.Helper()
		status, body, err := try(method, key, value)
		if err != nil {
			t.Fatal(err)
		}
		return status, body
	}

	// Long keys make every write and delete count in Badger's LSM tree,
	// so that memtable flushes and compactions, which tell the value-log
	// GC what is garbage, happen within a test-sized run.
	keyOf := func(w, i int) string { return fmt.Sprintf("%s-w%02d-%06d", strings.Repeat("k", 900), w, i) }
	value := strings.Repeat("v", 4<<10)
	var (
		mu      sync.Mutex
		stored  []string
		refused string
		wg      sync.WaitGroup
	)
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				status, body, err := try(http.MethodPut, keyOf(w, i), value)
				mu.Lock()
				switch {
				case err != nil:
					if !t.Failed() {
						t.Error(err)
					}
				case status == http.StatusCreated:
					stored = append(stored, keyOf(w, i))
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
		return
	}
	var errBody struct{ Error string }
	if err := json.Unmarshal([]byte(refused), &errBody); err != nil || errBody.Error == "" {
		t.Errorf("507 body %q is not a JSON error", refused)
	}
	t.Logf("disk full after %d values of 4 KiB: %s; 507 %s", len(stored), df(t, mnt), refused)

	for _, key := range []string{stored[0], stored[len(stored)/2], stored[len(stored)-1]} {
		if status, got := send(http.MethodGet, key, ""); status != http.StatusOK || got != value {
			t.Fatalf("GET on a full disk: %d, %d bytes", status, len(got))
		}
	}
	if status, _ := send(http.MethodPut, "probe", "x"); status != http.StatusInsufficientStorage {
		t.Fatalf("PUT on a full disk: %d, want 507", status)
	}

	// Keep every tenth key, delete the rest (16 at a time), and wait for
	// the GC.
	var kept, doomed []string
	for i, key := range stored {
		if i%10 == 0 {
			kept = append(kept, key)
		} else {
			doomed = append(doomed, key)
		}
	}
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < len(doomed); i += 16 {
				if status, body, err := try(http.MethodDelete, doomed[i], ""); err != nil || status != http.StatusNoContent {
					t.Errorf("DELETE on a full disk: %d %s %v", status, body, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("deleted %d keys: %s", len(doomed), df(t, mnt))
	deadline := time.Now().Add(90 * time.Second)
	for {
		status, body := send(http.MethodPut, "probe", "x")
		if status == http.StatusCreated {
			break
		}
		if status != http.StatusInsufficientStorage {
			t.Fatalf("PUT after freeing space: %d %s", status, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes still refused 90 s after deleting 90%% of the keys: %s", df(t, mnt))
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("writes accepted again: %s", df(t, mnt))

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	p = start(t, env(dbPath, "SYNC_WRITES=false"))
	for _, key := range kept {
		if status, got := send(http.MethodGet, key, ""); status != http.StatusOK || got != value {
			t.Fatalf("after restart, a kept key: %d, %d bytes", status, len(got))
		}
	}
	if status, got := send(http.MethodGet, "probe", ""); status != http.StatusOK || got != "x" {
		t.Fatalf("after restart, the probe: %d %q", status, got)
	}
	if status, _ := send(http.MethodGet, doomed[0], ""); status != http.StatusNotFound {
		t.Fatalf("after restart, a deleted key: %d, want 404", status)
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
