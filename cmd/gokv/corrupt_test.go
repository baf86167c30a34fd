package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests damage the value log of a database gokv wrote and restart
// gokv on it: damage is an error a client and an operator see, never a
// hang, a 404 or other bytes.

const (
	damagedKeys  = 300
	damagedValue = 2000 // above the 1 KiB value-log threshold
)

func damagedValueOf(i int) string {
	return strings.Repeat(string(rune('a'+i%26)), damagedValue)
}

// writeThenStop writes damagedKeys keys through gokv, stops it, and starts
// and stops it once more: Badger starts a new value-log file on every
// start and checks only the newest, so the values end up in a file that
// is read as it is. It returns that file.
func writeThenStop(t *testing.T, dbPath string) string {
	t.Helper()
	p := start(t, env(dbPath))
	for i := range damagedKeys {
		if status, body := do(t, http.MethodPut, fmt.Sprintf("%s/b/key-%d", p.URL, i), strings.NewReader(damagedValueOf(i))); status != http.StatusCreated {
			t.Fatalf("PUT key-%d: %d %s", i, status, body)
		}
	}
	stop(t, p)
	stop(t, start(t, env(dbPath)))
	files, err := filepath.Glob(filepath.Join(dbPath, "*.vlog"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if info, err := os.Stat(f); err == nil && info.Size() > damagedKeys*damagedValue {
			return f
		}
	}
	t.Fatalf("no value-log file holds the values: %v", files)
	return ""
}

// patchFile writes data at offset in file.
func patchFile(t *testing.T, file string, offset int64, data []byte) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, offset); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptValueIsA500: one flipped byte in a stored value is a 500
// with a JSON body and an error log line naming the file, not the
// value with one byte changed; the other keys are served as written.
func TestCorruptValueIsA500(t *testing.T) {
	dbPath := t.TempDir()
	vlog := writeThenStop(t, dbPath)
	data, err := os.ReadFile(vlog)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(data, []byte(damagedValueOf(12)))
	if at < 0 {
		t.Fatal("value of key-12 not found in the value log")
	}
	patchFile(t, vlog, int64(at+damagedValue/2), []byte{data[at+damagedValue/2] ^ 0xff})

	p := start(t, env(dbPath))
	status, body := do(t, http.MethodGet, p.URL+"/b/key-12", nil)
	var msg struct{ Error string }
	if status != http.StatusInternalServerError || json.Unmarshal([]byte(body), &msg) != nil || msg.Error == "" {
		t.Errorf("GET of the damaged key: %d %.40q, want 500 with a JSON error", status, body)
	}
	for _, i := range []int{0, 11, 13, damagedKeys - 1} {
		if status, body := do(t, http.MethodGet, fmt.Sprintf("%s/b/key-%d", p.URL, i), nil); status != http.StatusOK || body != damagedValueOf(i) {
			t.Errorf("GET key-%d: %d %.40q, want the stored value", i, status, body)
		}
	}
	waitFor(t, "an error log line naming "+filepath.Base(vlog), func() bool {
		for _, line := range strings.Split(p.log(), "\n") {
			var l struct{ Level, File string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Level == "ERROR" && l.File == filepath.Base(vlog) {
				return true
			}
		}
		return false
	})
}

// TestMissingValueLogRefusesToStart: a value-log file that live keys need
// is gone or cut short; gokv says so in one line and exits 1 instead of
// reporting ready and answering 500s.
func TestMissingValueLogRefusesToStart(t *testing.T) {
	tests := []struct {
		name   string
		damage func(file string) error
	}{
		{"deleted", os.Remove},
		{"truncated", func(file string) error { return os.Truncate(file, 64<<10) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dbPath := t.TempDir()
			vlog := writeThenStop(t, dbPath)
			if err := tt.damage(vlog); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary)
			cmd.Env = env(dbPath, "LOG_LEVEL=error")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if code := cmd.ProcessState.ExitCode(); code != 1 {
				t.Fatalf("exit code %d (%v), want 1; stderr:\n%s", code, err, stderr.String())
			}
			last := strings.TrimSpace(stderr.String())
			last = last[strings.LastIndex(last, "\n")+1:]
			if !strings.HasPrefix(last, "gokv: ") || !strings.Contains(last, filepath.Base(vlog)) {
				t.Errorf("last line of stderr = %q, want gokv's error naming %s", last, filepath.Base(vlog))
			}
		})
	}
}

// TestCorruptValueLogDoesNotHang: 4 KiB of garbage in the value log, every
// key read, value-log GC running: writes still finish (or liveness says
// why not), and SIGTERM ends the process in time.
func TestCorruptValueLogDoesNotHang(t *testing.T) {
	dbPath := t.TempDir()
	vlog := writeThenStop(t, dbPath)
	junk := make([]byte, 4<<10)
	rand.New(rand.NewSource(1)).Read(junk)
	patchFile(t, vlog, int64(damagedKeys*damagedValue/3), junk)

	const delay, timeout = time.Second, 2 * time.Second
	p := start(t, env(dbPath, "GC_INTERVAL=1s",
		fmt.Sprintf("SHUTDOWN_DELAY=%s", delay), fmt.Sprintf("SHUTDOWN_TIMEOUT=%s", timeout)))
	client := &http.Client{Timeout: 5 * time.Second}
	request := func(method, path, body string) (int, error) {
		req, err := http.NewRequest(method, p.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token(t))
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	damaged := 0
	for i := range damagedKeys {
		status, err := request(http.MethodGet, fmt.Sprintf("/b/key-%d", i), "")
		if err != nil {
			t.Fatalf("GET key-%d: %v", i, err)
		}
		if status == http.StatusInternalServerError {
			damaged++
		}
	}
	if damaged == 0 {
		t.Fatal("no key answered 500: the damage missed the values")
	}
	time.Sleep(2500 * time.Millisecond) // two GC rounds
	for i := range 20 {
		if _, err := request(http.MethodPut, fmt.Sprintf("/b/new-%d", i), "v"); err != nil {
			if status, _ := request(http.MethodGet, "/healthz", ""); status != http.StatusServiceUnavailable {
				t.Fatalf("PUT new-%d: %v, and /healthz answers %d: a silent hang", i, err, status)
			}
			break
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.wait(t, delay+timeout+8*time.Second)
}
