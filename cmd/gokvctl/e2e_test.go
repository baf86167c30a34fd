package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/apitest"
	"github.com/gokv-service/gokv/internal/client"
)

// These tests run gokvctl against the real server on a real Badger. They
// need API v1 on the server side (ETags, TTLs, listing, watch, /_txn).

// server starts a gokv and returns gokvctl's environment for it.
func server(t *testing.T) map[string]string {
	t.Helper()
	srv := apitest.Start(t)
	return map[string]string{"GOKV_URL": srv.URL, "GOKV_TOKEN": srv.Token}
}

// must runs gokvctl, expects exit code want and returns stdout.
func must(t *testing.T, env map[string]string, want int, stdin string, args ...string) (stdout, stderr string) {
	t.Helper()
	code, stdout, stderr := gokvctl(t, env, stdin, args...)
	if code != want {
		t.Fatalf("gokvctl %s: exit code %d, want %d; stderr %q", strings.Join(args, " "), code, want, stderr)
	}
	return stdout, stderr
}

var etagLine = regexp.MustCompile(`^"[0-9]+"\n$`)

func TestE2EConditionalWrites(t *testing.T) {
	env := server(t)
	file := filepath.Join(t.TempDir(), "url")
	if err := os.WriteFile(file, []byte("postgres://db:5432/app"), 0o600); err != nil {
		t.Fatal(err)
	}

	etag1, _ := must(t, env, exitOK, "", "put", "--content-type", "text/plain", "cfg", "app/db/url", file)
	if !etagLine.MatchString(etag1) {
		t.Fatalf("put printed %q, want an ETag line", etag1)
	}
	etag1 = strings.TrimSpace(etag1)
	value, info := must(t, env, exitOK, "", "get", "-i", "cfg", "app/db/url")
	if value != "postgres://db:5432/app" {
		t.Errorf("get printed %q", value)
	}
	if !strings.Contains(info, "ETag: "+etag1+"\n") || !strings.Contains(info, "Content-Type: text/plain\n") || strings.Contains(info, "Gokv-Expires-At") {
		t.Errorf("get -i printed %q to stderr, want ETag %s, Content-Type text/plain and no expiry", info, etag1)
	}

	_, stderr := must(t, env, exitPrecondition, "other", "put", "--if-none-match", "*", "cfg", "app/db/url", "-")
	if !strings.Contains(stderr, "412") {
		t.Errorf("put --if-none-match * on an existing key: stderr %q, want the 412", stderr)
	}
	must(t, env, exitPrecondition, "other", "put", "cfg", "app/db/url", "--if-match", `"999999999"`)
	etag2, _ := must(t, env, exitOK, "v2", "put", "cfg", "app/db/url", "--if-match", strings.Trim(etag1, `"`))
	etag2 = strings.TrimSpace(etag2)
	if etag2 == etag1 {
		t.Errorf("a replacement kept the ETag %s", etag1)
	}
	if value, _ := must(t, env, exitOK, "", "get", "cfg", "app/db/url"); value != "v2" {
		t.Errorf("after the conditional put, get printed %q, want v2", value)
	}

	must(t, env, exitPrecondition, "", "delete", "--if-match", etag1, "cfg", "app/db/url")
	must(t, env, exitOK, "", "delete", "--if-match", etag2, "cfg", "app/db/url")
	_, stderr = must(t, env, exitFailed, "", "get", "cfg", "app/db/url")
	if !strings.Contains(stderr, "404") {
		t.Errorf("get after delete: stderr %q, want the 404", stderr)
	}
	must(t, env, exitPrecondition, "new", "put", "--if-match", "*", "cfg", "app/db/url")
	must(t, env, exitOK, "new", "put", "--if-none-match", "*", "cfg", "app/db/url")
}

func TestE2ETTL(t *testing.T) {
	env := server(t)
	must(t, env, exitOK, "soon gone", "put", "--ttl", "1h", "cfg", "session")
	_, info := must(t, env, exitOK, "", "get", "-i", "cfg", "session")
	m := regexp.MustCompile(`Gokv-Expires-At: (\S+)\n`).FindStringSubmatch(info)
	if m == nil {
		t.Fatalf("get -i printed %q, want Gokv-Expires-At", info)
	}
	at, err := time.Parse(time.RFC3339, m[1])
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(at); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("expires at %s, %s from now; want about 1h", at, d)
	}
}

func TestE2EList(t *testing.T) {
	env := server(t)
	for _, key := range []string{"app/b", "app/a", "app/sub/c", "top"} {
		must(t, env, exitOK, "value of "+key, "put", "--content-type", "text/plain", "cfg", key)
	}
	must(t, env, exitOK, "x", "put", "other", "k")

	tests := []struct {
		name       string
		args       []string
		stdout     string
		nextCursor bool
	}{
		{"everything", []string{"ls", "cfg"}, "app/a\napp/b\napp/sub/c\ntop\n", false},
		{"prefix and delimiter", []string{"ls", "cfg", "--prefix", "app/", "--delimiter", "/"}, "app/a\napp/b\napp/sub/\t(prefix)\n", false},
		{"one page", []string{"ls", "--limit", "1", "cfg"}, "app/a\n", true},
		{"all pages", []string{"ls", "--limit", "1", "--all", "cfg"}, "app/a\napp/b\napp/sub/c\ntop\n", false},
		{"a bucket without keys", []string{"ls", "none"}, "", false},
		{"buckets", []string{"buckets"}, "cfg\nother\n", false},
		{"buckets, one page", []string{"buckets", "--limit", "1"}, "cfg\n", true},
		{"buckets, all pages", []string{"buckets", "--limit", "1", "--all"}, "cfg\nother\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr := must(t, env, exitOK, "", tt.args...)
			if stdout != tt.stdout {
				t.Errorf("stdout %q, want %q", stdout, tt.stdout)
			}
			if got := strings.Contains(stderr, "next page: --cursor "); got != tt.nextCursor {
				t.Errorf("stderr %q; want a next cursor: %v", stderr, tt.nextCursor)
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		stdout, _ := must(t, env, exitOK, "", "ls", "--json", "--prefix", "app/", "--delimiter", "/", "cfg")
		var page client.ListPage
		if err := json.Unmarshal([]byte(stdout), &page); err != nil {
			t.Fatalf("ls --json printed %q: %v", stdout, err)
		}
		if len(page.Items) != 2 || page.Items[0].Key != "app/a" || page.Items[0].Size != int64(len("value of app/a")) ||
			page.Items[0].ContentType != "text/plain" || !etagLine.MatchString(page.Items[0].ETag+"\n") {
			t.Errorf("items %+v", page.Items)
		}
		if len(page.Prefixes) != 1 || page.Prefixes[0] != "app/sub/" || page.NextCursor != "" {
			t.Errorf("prefixes %q, next cursor %q", page.Prefixes, page.NextCursor)
		}
	})
}

func TestE2ETxn(t *testing.T) {
	env := server(t)
	must(t, env, exitOK, "old", "put", "cfg", "t/old")

	ok := `{"ops":[
		{"op":"put","bucket":"cfg","key":"t/x","value":"aGk=","content_type":"text/plain","ttl":"90s"},
		{"op":"put","bucket":"cfg","key":"t/y","value":"eQ==","if_none_match":"*"},
		{"op":"delete","bucket":"cfg","key":"t/old","if_match":"*"},
		{"op":"check","bucket":"cfg","key":"t/x","if_match":"*"}
	]}`
	stdout, _ := must(t, env, exitOK, ok, "txn", "-")
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 4 || !regexp.MustCompile(`^0\tput\tcfg\tt/x\t"[0-9]+"\t\S+Z$`).MatchString(lines[0]) ||
		!regexp.MustCompile(`^1\tput\tcfg\tt/y\t"[0-9]+"$`).MatchString(lines[1]) ||
		lines[2] != "2\tdelete\tcfg\tt/old" || lines[3] != "3\tcheck\tcfg\tt/x" {
		t.Errorf("txn printed %q", stdout)
	}
	if value, _ := must(t, env, exitOK, "", "get", "cfg", "t/x"); value != "hi" {
		t.Errorf("t/x is %q, want hi", value)
	}
	must(t, env, exitFailed, "", "get", "cfg", "t/old")

	file := filepath.Join(t.TempDir(), "txn.json")
	failing := `{"ops":[
		{"op":"put","bucket":"cfg","key":"t/z","value":"eg=="},
		{"op":"check","bucket":"cfg","key":"t/x","if_match":"\"999999999\""}
	]}`
	if err := os.WriteFile(file, []byte(failing), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr := must(t, env, exitPrecondition, "", "txn", file)
	if !strings.Contains(stderr, "txn op 1 (check cfg t/x) failed") || !strings.Contains(stderr, "409") {
		t.Errorf("stderr %q, want op 1 named and the 409", stderr)
	}
	must(t, env, exitFailed, "", "get", "cfg", "t/z")
}

func TestE2EWatch(t *testing.T) {
	env := server(t)
	since, _ := must(t, env, exitOK, "a", "put", "cfg", "w/a")
	// Watching from the first put's version sees every later change, however
	// long the watch takes to start.
	since = strings.Trim(strings.TrimSpace(since), `"`)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	// Closing the reader ends a watch left running by a failed test.
	defer pr.Close()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		code := run(ctx, []string{"watch", "--values", "--prefix", "w/", "--since", since, "cfg"},
			func(k string) string { return env[k] }, strings.NewReader(""), pw, &stderr)
		pw.Close()
		done <- code
	}()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()

	must(t, env, exitOK, "b", "put", "cfg", "w/b")
	must(t, env, exitOK, "elsewhere", "put", "cfg", "x/c")
	must(t, env, exitOK, "", "delete", "cfg", "w/a")

	var got []client.Event
	for len(got) < 2 {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the watch ended after %d events; stderr %q", len(got), stderr.String())
			}
			var e client.Event
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("watch printed %q: %v", line, err)
			}
			got = append(got, e)
		case <-time.After(10 * time.Second):
			t.Fatalf("after 10s the watch printed %d events, want 2", len(got))
		}
	}
	if got[0].Type != "put" || got[0].Key != "w/b" || string(got[0].Value) != "b" || got[0].ETag == "" ||
		got[1].Type != "delete" || got[1].Key != "w/a" || got[1].ID <= got[0].ID {
		t.Errorf("events %+v, want the put of w/b with its value, then the delete of w/a", got)
	}

	cancel()
	go func() {
		for range lines {
		}
	}()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("an interrupted watch exited %d, want 0; stderr %q", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not end within 10s of its interruption")
	}
}
