package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gokv-service/gokv/internal/apitest"
	"github.com/gokv-service/gokv/internal/kv"
)

// runCmd runs a subcommand's function with env and returns its exit code
// and output.
func runCmd(t *testing.T, fn func([]string, func(string) string, *bytes.Buffer, *bytes.Buffer) int, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := fn(args, func(k string) string { return env[k] }, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func backupFn(args []string, getenv func(string) string, stdout, stderr *bytes.Buffer) int {
	return runBackup(args, getenv, stdout, stderr)
}

func restoreFn(args []string, getenv func(string) string, stdout, stderr *bytes.Buffer) int {
	return runRestore(args, getenv, stdout, stderr)
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestBackupAndRestoreCommands: gokv backup writes a verified, timestamped
// file with a token minted from JWT_SECRET, keeps the newest --retention
// files and removes leftovers; gokv restore loads the newest into an empty
// server, and refuses a server with data unless --replace.
func TestBackupAndRestoreCommands(t *testing.T) {
	src := apitest.Start(t)
	for i := range 300 {
		src.MustPut(t, "b", fmt.Sprint("k", i), []byte(fmt.Sprint("v", i)))
	}
	secret := map[string]string{"JWT_SECRET": string(apitest.Secret)}
	dir := t.TempDir()
	old := []string{"gokv-20200101T000000.000Z.backup", "gokv-20210101T000000.000Z.backup", "gokv-20220101T000000.000Z.backup"}
	for _, n := range append(slices.Clone(old), ".gokv-20230101T000000.000Z.backup.tmp", "unrelated.txt") {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	code, out, errOut := runCmd(t, backupFn, secret, "--url", src.URL, "--dir", dir, "--retention", "2")
	listed := listBackups(t, dir)
	if code != 0 || !strings.Contains(out, "300 records") || !strings.Contains(out, "pruned 2") || strings.Count(out, "\n") != 1 {
		t.Fatalf("gokv backup: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	names := dirNames(t, dir)
	if len(names) != 3 || names[0] != old[2] || !strings.HasPrefix(names[1], "gokv-2") || names[2] != "unrelated.txt" {
		t.Fatalf("after backup with retention 2 the directory holds %q, want the newest old one, the new one and unrelated.txt", names)
	}

	if !strings.Contains(listed, old[2]+"\t1 bytes\n") || !strings.Contains(listed, names[1]+"\t") ||
		strings.Contains(listed, old[0]) || strings.Contains(listed, "unrelated") || !strings.HasSuffix(listed, "gokv backups: 2 in "+dir+", writable\n") {
		t.Errorf("gokv backups listed %q", listed)
	}

	dst := apitest.Start(t)
	dst.MustPut(t, "b", "mine", []byte("x"))
	code, _, errOut = runCmd(t, restoreFn, secret, "--url", dst.URL, "--file", dir)
	if code != 1 || !strings.Contains(errOut, "409") {
		t.Fatalf("gokv restore into a non-empty server: exit %d, stderr %q; want 1 and a 409", code, errOut)
	}
	code, out, errOut = runCmd(t, restoreFn, secret, "--url", dst.URL, "--file", dir, "--replace")
	if code != 0 || !strings.Contains(out, "restored 300 entries") || !strings.Contains(out, names[1]) {
		t.Fatalf("gokv restore --replace of the newest backup: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, err := dst.Store.Get(context.Background(), "b", "mine", nil); err != kv.ErrNotFound {
		t.Errorf("after restore --replace the key only the target held: %v, want not found", err)
	}
	e, err := dst.Store.Get(context.Background(), "b", "k299", nil)
	if err != nil || string(e.Value) != "v299" {
		t.Errorf("restored b/k299 = %q, %v", e.Value, err)
	}
}

func TestBackupCommandUsage(t *testing.T) {
	srv := apitest.Start(t)
	dir := t.TempDir()
	tests := []struct {
		name string
		fn   func([]string, func(string) string, *bytes.Buffer, *bytes.Buffer) int
		env  map[string]string
		args []string
		code int
		err  string
	}{
		{"backup without --dir", backupFn, nil, []string{"--url", srv.URL}, 2, "--dir is required"},
		{"backup with retention 0", backupFn, nil, []string{"--dir", dir, "--retention", "0"}, 2, "--retention"},
		{"backup without credentials", backupFn, nil, []string{"--url", srv.URL, "--dir", dir}, 2, "set JWT_SECRET"},
		{"backup with a wrong secret", backupFn, map[string]string{"JWT_SECRET": "some-other-secret-at-least-32-bytes"}, []string{"--url", srv.URL, "--dir", dir}, 1, "401"},
		{"backup into a missing directory", backupFn, map[string]string{"GOKV_TOKEN": srv.AdminToken}, []string{"--url", srv.URL, "--dir", filepath.Join(dir, "missing")}, 1, "no such file"},
		{"restore without --file", restoreFn, nil, []string{"--url", srv.URL}, 2, "--file is required"},
		{"restore from an empty directory", restoreFn, map[string]string{"GOKV_TOKEN": srv.AdminToken}, []string{"--url", srv.URL, "--file", dir}, 2, "no gokv-*.backup file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCmd(t, tt.fn, tt.env, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.err) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errOut, tt.code, tt.err)
			}
		})
	}
	// A failed backup leaves no file behind.
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("failed backups left %q", names)
	}
}

// listBackups runs gokv backups on dir and returns what it printed.
func listBackups(t *testing.T, dir string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := runBackups([]string{"--dir", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("gokv backups --dir %s: exit %d, stderr %q", dir, code, stderr.String())
	}
	return stdout.String()
}

// TestBackupsCommandChecksTheDirectory: a directory gokv backup could not
// write to fails the listing, so the install's Job shows the problem
// before the first scheduled backup does.
func TestBackupsCommandChecksTheDirectory(t *testing.T) {
	// Not a directory: even root cannot write a backup into it.
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := runBackups([]string{"--dir", notDir}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "not writable") {
		t.Fatalf("gokv backups on a file: exit %d, stderr %q", code, stderr.String())
	}
	if code := runBackups(nil, &stdout, &stderr); code != 2 {
		t.Fatalf("gokv backups without --dir: exit %d", code)
	}
}
