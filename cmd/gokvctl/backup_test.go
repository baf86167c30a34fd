package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/apitest"
	"github.com/gokv-service/gokv/internal/kv"
)

// fillStore writes n keys across a few buckets behind the API's back, a
// third of them with a TTL, content types and values of their own.
func fillStore(t *testing.T, s kv.Store, n int) {
	t.Helper()
	var ops []kv.Op
	for i := range n {
		op := kv.Op{Kind: kv.OpPut, Bucket: fmt.Sprint("b", i%4), Key: fmt.Sprintf("key/%07d", i),
			Value: []byte(strings.Repeat(fmt.Sprint(i), 1+i%5)), ContentType: fmt.Sprint("application/x-", i%3)}
		if i%3 == 0 {
			op.TTL = time.Duration(1+i%48) * time.Hour
		}
		if ops = append(ops, op); len(ops) == kv.MaxOps || i == n-1 {
			if _, err := s.Apply(context.Background(), ops); err != nil {
				t.Fatal(err)
			}
			ops = nil
		}
	}
}

// contents is every entry of s, in key order.
func contents(t *testing.T, s kv.Store) []kv.Record {
	t.Helper()
	var recs []kv.Record
	if _, err := s.Backup(context.Background(), func(r kv.Record) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return recs
}

func sameContents(t *testing.T, got, want []kv.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("the database holds %d entries, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Bucket != w.Bucket || g.Key != w.Key || g.ContentType != w.ContentType ||
			!g.ExpiresAt.Equal(w.ExpiresAt) || !bytes.Equal(g.Value, w.Value) {
			t.Fatalf("entry %d = %+v, want %+v", i, g, w)
		}
	}
}

// TestE2EBackupWipeRestore: 100k keys backed up with gokvctl, the database
// changed, then restored with --replace, and into a new, empty server:
// every key, content type, expiry and value comes back, and nothing else.
func TestE2EBackupWipeRestore(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 5_000
	}
	srv := apitest.Start(t)
	env := map[string]string{"GOKV_URL": srv.URL, "GOKV_TOKEN": srv.AdminToken}
	fillStore(t, srv.Store, n)
	want := contents(t, srv.Store)

	file := filepath.Join(t.TempDir(), "gokv.backup")
	out, _ := must(t, env, exitOK, "", "backup", "-o", file, "--progress", "0")
	if !strings.HasPrefix(out, fmt.Sprintf("%s: %d records, ", file, n)) {
		t.Errorf("backup printed %q", out)
	}
	if _, err := os.Stat(file + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("backup left %s.tmp behind: %v", file, err)
	}

	// Wipe: delete, overwrite and add keys.
	if _, err := srv.Store.Apply(context.Background(), []kv.Op{
		{Kind: kv.OpDelete, Bucket: "b0", Key: "key/0000000"},
		{Kind: kv.OpPut, Bucket: "b1", Key: "key/0000001", Value: []byte("changed")},
		{Kind: kv.OpPut, Bucket: "new", Key: "k", Value: []byte("not in the backup")},
	}); err != nil {
		t.Fatal(err)
	}
	_, stderr := must(t, env, exitPrecondition, "", "restore", file)
	if !strings.Contains(stderr, "--replace") {
		t.Errorf("restore into a non-empty database said %q, want a hint at --replace", stderr)
	}
	out, _ = must(t, env, exitOK, "", "restore", "--replace", file)
	if !strings.HasPrefix(out, fmt.Sprintf("restored %d entries", n)) {
		t.Errorf("restore printed %q", out)
	}
	sameContents(t, contents(t, srv.Store), want)

	fresh := apitest.Start(t)
	must(t, map[string]string{"GOKV_URL": fresh.URL, "GOKV_TOKEN": fresh.AdminToken}, exitOK, "", "restore", file)
	sameContents(t, contents(t, fresh.Store), want)
}

// TestE2ERestoreOfADamagedFile: a backup file cut in the middle or with a
// byte flipped is refused (exit 1, the reason on stderr) and the database
// keeps what it held.
func TestE2ERestoreOfADamagedFile(t *testing.T) {
	srv := apitest.Start(t)
	env := map[string]string{"GOKV_URL": srv.URL, "GOKV_TOKEN": srv.AdminToken}
	fillStore(t, srv.Store, 1000)
	dir := t.TempDir()
	file := filepath.Join(dir, "good.backup")
	must(t, env, exitOK, "", "backup", "-o", file)
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := contents(t, srv.Store)
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x20
	for _, tt := range []struct {
		name string
		body []byte
		says string
	}{
		{"cut", good[:len(good)/2], "truncated"},
		{"flipped", flipped, "corrupt"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := filepath.Join(dir, tt.name)
			if err := os.WriteFile(bad, tt.body, 0o600); err != nil {
				t.Fatal(err)
			}
			_, stderr := must(t, env, exitFailed, "", "restore", "--replace", bad)
			if !strings.Contains(stderr, "400") || !strings.Contains(stderr, tt.says) {
				t.Errorf("stderr %q, want a 400 saying %q", stderr, tt.says)
			}
			sameContents(t, contents(t, srv.Store), want)
		})
	}
}

// TestE2EBackupUsage: backup needs -o; restore needs a file that exists.
func TestE2EBackupUsage(t *testing.T) {
	env := server(t)
	must(t, env, exitUsage, "", "backup")
	must(t, env, exitUsage, "", "restore")
	must(t, env, exitUsage, "", "restore", filepath.Join(t.TempDir(), "missing"))
}
