package main

import (
	"bytes"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runGokv runs the binary to completion and returns its exit code, stdout
// and stderr.
func runGokv(t *testing.T, environ []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = environ
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A gokv that does not stop by itself has started serving.
	timer := time.AfterFunc(15*time.Second, func() { cmd.Process.Kill() })
	cmd.Wait()
	timer.Stop()
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// storeAndStop starts gokv on dbPath, stores one key and stops it cleanly,
// which flushes the key into an .sst table.
func storeAndStop(t *testing.T, dbPath string) {
	t.Helper()
	p := start(t, env(dbPath))
	if status, _ := do(t, http.MethodPut, p.URL+"/b/k", strings.NewReader("kept")); status != http.StatusCreated {
		t.Fatalf("PUT: status %d", status)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("gokv exited %d after SIGTERM", code)
	}
}

func tables(t *testing.T, dbPath string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dbPath, "*.sst"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLostManifestRefusesToStart(t *testing.T) {
	dbPath := t.TempDir()
	storeAndStop(t, dbPath)
	before := tables(t, dbPath)
	if len(before) == 0 {
		t.Fatal("a clean stop left no .sst file")
	}
	if err := os.Remove(filepath.Join(dbPath, "MANIFEST")); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runGokv(t, env(dbPath, "LOG_LEVEL=warn"))
	if code != 1 {
		t.Fatalf("exit code %d, want 1; stderr:\n%s", code, stderr)
	}
	if !strings.HasPrefix(stderr, "gokv: open database at "+dbPath) || strings.Count(stderr, "\n") != 1 ||
		!strings.Contains(stderr, "database directory is damaged") || !strings.Contains(stderr, "gokv repair") {
		t.Errorf("stderr = %q, want one line saying the directory is damaged and naming gokv repair", stderr)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	if after := tables(t, dbPath); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf(".sst files after the refused start: %v, want %v", after, before)
	}
}

func TestRepairCommand(t *testing.T) {
	dbPath := t.TempDir()
	storeAndStop(t, dbPath)
	if err := os.Remove(filepath.Join(dbPath, "MANIFEST")); err != nil {
		t.Fatal(err)
	}
	environ := []string{"PATH=" + os.Getenv("PATH"), "DB_PATH=" + dbPath}
	steps := []struct {
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{nil, 1, "run again with --accept-data-loss", "database directory is damaged"},
		{[]string{"--accept-wal-loss"}, 1, "run again with --accept-data-loss", "nothing was changed"},
		{[]string{"--accept-data-loss"}, 0, "gokv will start with an empty database", ""},
		{nil, 0, "no damage found", ""},
		{[]string{"--db-path", ""}, 2, "", "set DB_PATH or --db-path"},
	}
	for _, s := range steps {
		code, stdout, stderr := runGokv(t, environ, append([]string{"repair"}, s.args...)...)
		if code != s.wantCode || !strings.Contains(stdout, s.wantOut) || !strings.Contains(stderr, s.wantErr) {
			t.Fatalf("gokv repair %v: exit %d, stdout %q, stderr %q; want %d, %q, %q",
				s.args, code, stdout, stderr, s.wantCode, s.wantOut, s.wantErr)
		}
	}
	kept, err := filepath.Glob(filepath.Join(dbPath, "quarantine", "*", "*.sst"))
	if err != nil || len(kept) == 0 {
		t.Errorf("no .sst file in quarantine after the repair: %v", err)
	}
	p := start(t, env(dbPath))
	if status, _ := do(t, http.MethodGet, p.URL+"/b/k", nil); status != http.StatusNotFound {
		t.Errorf("GET after the repair: %d, want 404 from the fresh database", status)
	}
}

// TestDamagedWALRefusesToStart kills gokv during writes, damages the
// middle of its memtable WAL and expects the next start to refuse with one
// line instead of dropping the writes after the damage, until the operator
// accepts the loss with gokv repair.
func TestDamagedWALRefusesToStart(t *testing.T) {
	dbPath := t.TempDir()
	p := start(t, env(dbPath))
	done := make(chan int, 1)
	go func() { done <- writeLoad(t, p.URL, "wal", 8, 40, newAckLog(), nil) }()
	time.Sleep(500 * time.Millisecond)
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.wait(t, 10*time.Second)
	if acked := <-done; acked < 50 {
		t.Fatalf("only %d writes acknowledged before kill -9; the WAL is too short to damage in its middle", acked)
	}
	wal, end := biggestWAL(t, dbPath)
	f, err := os.OpenFile(wal, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xff, 0x00, 0xff}, int64(end/2)); err != nil {
		t.Fatal(err)
	}
	f.Close()

	code, _, stderr := runGokv(t, env(dbPath, "LOG_LEVEL=warn"))
	if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, filepath.Base(wal)+" is damaged before its end") {
		t.Fatalf("start on a damaged WAL: exit %d, stderr %q; want 1 and one line naming %s", code, stderr, filepath.Base(wal))
	}
	environ := []string{"PATH=" + os.Getenv("PATH"), "DB_PATH=" + dbPath}
	if code, stdout, stderr := runGokv(t, environ, "repair", "--accept-wal-loss"); code != 0 || !strings.Contains(stdout, "kept its first") {
		t.Fatalf("gokv repair --accept-wal-loss: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	start(t, env(dbPath))
}

// biggestWAL returns the .mem file of dbPath holding the most data and
// where its data ends.
func biggestWAL(t *testing.T, dbPath string) (string, int) {
	t.Helper()
	mems, err := filepath.Glob(filepath.Join(dbPath, "*.mem"))
	if err != nil {
		t.Fatal(err)
	}
	best, bestEnd := "", 0
	for _, m := range mems {
		data, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		if end := len(bytes.TrimRight(data, "\x00")); end > bestEnd {
			best, bestEnd = m, end
		}
	}
	if best == "" {
		t.Fatalf("no .mem file with data in %s", dbPath)
	}
	return best, bestEnd
}

// TestStartSurvivesKill9DuringStart kills gokv at random points of its
// start, again and again, first on an empty directory and then on one
// holding a key: every start must get as far as the last one did, and the
// key must survive.
func TestStartSurvivesKill9DuringStart(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "db")
	killDuringStart := func(round string) {
		for i := range 12 {
			cmd := exec.Command(binary)
			cmd.Env = env(dbPath)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case <-exited:
				t.Fatalf("%s, start %d exited by itself (%v) after a kill -9 during the previous start:\n%s",
					round, i, cmd.ProcessState, stderr.String())
			case <-time.After(time.Duration(rand.IntN(60)) * time.Millisecond):
				cmd.Process.Kill()
				<-exited
			}
		}
	}
	killDuringStart("empty directory")
	storeAndStop(t, dbPath)
	killDuringStart("directory with a key")
	p := start(t, env(dbPath))
	if status, body := do(t, http.MethodGet, p.URL+"/b/k", nil); status != http.StatusOK || body != "kept" {
		t.Errorf("GET after the kills: %d %q, want 200 \"kept\"", status, body)
	}
}
