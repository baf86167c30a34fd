package server

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/auth"
	"github.com/gokv-service/gokv/internal/badgerstore"
)

// TestRestoreSpoolsUnderDBPath: a restore spools its body in
// DB_PATH/restore-tmp, which a start clears of what a crash left and
// which the store ignores: the restored database opens again with the
// directory beside it.
func TestRestoreSpoolsUnderDBPath(t *testing.T) {
	token, err := auth.Mint([]byte(testSecret), auth.Claims{ExpiresIn: time.Hour, Scope: auth.ScopeRead | auth.ScopeWrite | auth.ScopeAdmin}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, url string, body io.Reader) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, url, body)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}

	srcURL, _, _ := runServer(t, testConfig(t))
	if got, _ := do(http.MethodPut, srcURL+"/b/k", strings.NewReader("v")); got != http.StatusCreated {
		t.Fatalf("PUT: %d", got)
	}
	got, backup := do(http.MethodGet, srcURL+"/_admin/backup", nil)
	if got != http.StatusOK {
		t.Fatalf("backup: %d", got)
	}

	cfg := testConfig(t)
	spool := filepath.Join(cfg.DBPath, restoreSpoolDir)
	if err := os.MkdirAll(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spool, "restore-1.backup"), []byte("left by a crash"), 0o600); err != nil {
		t.Fatal(err)
	}
	url, stop, result := runServer(t, cfg)
	if entries, err := os.ReadDir(spool); err != nil || len(entries) != 0 {
		t.Fatalf("restore spool at start: %v, %v; want it empty", entries, err)
	}
	if got, body := do(http.MethodPost, url+"/_admin/restore", bytes.NewReader(backup)); got != http.StatusOK {
		t.Fatalf("restore: %d %s", got, body)
	}
	if entries, err := os.ReadDir(spool); err != nil || len(entries) != 0 {
		t.Fatalf("restore spool after a restore: %v, %v; want it empty", entries, err)
	}
	stop()
	if err := <-result; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	s, err := badgerstore.Open(cfg.DBPath, badgerstore.Options{})
	if err != nil {
		t.Fatalf("reopen after a restore: %v", err)
	}
	defer s.Close()
	if e, err := s.Get(context.Background(), "b", "k", nil); err != nil || string(e.Value) != "v" {
		t.Errorf("restored b/k after reopening: %q, %v", e.Value, err)
	}
}
