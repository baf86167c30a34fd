package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gokv-service/gokv/internal/client"
)

// gokvctl runs the command with env as its environment and returns the
// exit code, stdout and stderr.
func gokvctl(t testing.TB, env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// closedURL returns the URL of a loopback port nothing listens on.
func closedURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestErrorsAreOneLineWithTheirExitCode(t *testing.T) {
	dir := t.TempDir()
	emptyToken := filepath.Join(dir, "empty")
	if err := os.WriteFile(emptyToken, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withToken := map[string]string{"GOKV_TOKEN": "t", "GOKV_URL": closedURL(t)}

	tests := []struct {
		name   string
		env    map[string]string
		stdin  string
		args   []string
		code   int
		stderr string // a part of the line
	}{
		{"no command", withToken, "", nil, exitUsage, "no command"},
		{"unknown command", withToken, "", []string{"frob"}, exitUsage, `unknown command "frob"`},
		{"unknown global flag", withToken, "", []string{"--nope", "get", "b", "k"}, exitUsage, "nope"},
		{"unknown command flag", withToken, "", []string{"get", "--nope", "b", "k"}, exitUsage, "get: flag provided but not defined"},
		{"get without key", withToken, "", []string{"get", "b"}, exitUsage, "get: missing arguments"},
		{"get with too many arguments", withToken, "", []string{"get", "b", "k", "x"}, exitUsage, `unexpected argument "x"`},
		{"delete without arguments", withToken, "", []string{"delete"}, exitUsage, "delete: missing arguments"},
		{"put without key", withToken, "", []string{"put", "b"}, exitUsage, "put: missing arguments"},
		{"put with a bad --ttl", withToken, "", []string{"put", "--ttl", "soon", "b", "k", "-"}, exitUsage, `invalid value "soon" for flag -ttl`},
		{"put with a --ttl under 1s", withToken, "", []string{"put", "b", "k", "--ttl", "500ms"}, exitUsage, "--ttl must be from 1s"},
		{"put with a --ttl over 10 years", withToken, "", []string{"put", "b", "k", "--ttl", "87601h"}, exitUsage, "--ttl must be from 1s"},
		{"put with a negative --ttl", withToken, "", []string{"put", "b", "k", "--ttl=-1m"}, exitUsage, "--ttl must be from 1s"},
		{"put with --if-none-match other than *", withToken, "", []string{"put", "--if-none-match", `"3"`, "b", "k"}, exitUsage, "--if-none-match takes only *"},
		{"put from a missing file", withToken, "", []string{"put", "b", "k", filepath.Join(dir, "missing")}, exitUsage, "no such file"},
		{"ls without bucket", withToken, "", []string{"ls", "--prefix", "a/"}, exitUsage, "ls: missing arguments"},
		{"ls with --limit 0", withToken, "", []string{"ls", "--limit", "0", "b"}, exitUsage, "--limit must be from 1 to 1000"},
		{"ls with --limit over 1000", withToken, "", []string{"ls", "b", "--limit=1001"}, exitUsage, "--limit must be from 1 to 1000"},
		{"buckets with an argument", withToken, "", []string{"buckets", "b"}, exitUsage, `unexpected argument "b"`},
		{"watch with a bad --since", withToken, "", []string{"watch", "--since", `"12"`, "b"}, exitUsage, "invalid value"},
		{"watch without bucket", withToken, "", []string{"watch"}, exitUsage, "watch: missing arguments"},
		{"txn without file", withToken, "", []string{"txn"}, exitUsage, "txn: missing arguments"},
		{"txn that is not JSON", withToken, "{", []string{"txn", "-"}, exitUsage, "is not a transaction"},
		{"txn with a misspelt field", withToken, `{"ops":[{"op":"put","bucket":"b","key":"k","ifmatch":"*"}]}`, []string{"txn", "-"}, exitUsage, "ifmatch"},
		{"txn with trailing data", withToken, `{"ops":[]} {}`, []string{"txn", "-"}, exitUsage, "more after"},
		{"no token", map[string]string{"GOKV_URL": closedURL(t)}, "", []string{"get", "b", "k"}, exitUsage, "no token: set GOKV_TOKEN or pass --token-file"},
		{"missing token file", withToken, "", []string{"--token-file", filepath.Join(dir, "missing"), "get", "b", "k"}, exitUsage, "read the token"},
		{"empty token file", withToken, "", []string{"--token-file", emptyToken, "get", "b", "k"}, exitUsage, "is empty"},
		{"not an http URL", withToken, "", []string{"--url", "localhost:8080", "get", "b", "k"}, exitUsage, "not an http:// or https:// URL"},
		{"server unreachable", withToken, "", []string{"get", "b", "k"}, exitFailed, "GET /b/k"},
		{"server unreachable, --url wins over $GOKV_URL", map[string]string{"GOKV_TOKEN": "t", "GOKV_URL": "http://gokv.invalid"}, "", []string{"--url", closedURL(t), "delete", "b", "k"}, exitFailed, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := gokvctl(t, tt.env, tt.stdin, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if !strings.HasPrefix(stderr, "gokvctl: ") || strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
				t.Errorf("stderr %q, want one line starting with gokvctl: ", stderr)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr %q, want it to contain %q", stderr, tt.stderr)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"-h"}, []string{"Usage: gokvctl", "Exit codes:", "3  a precondition failed", "-token-file"}},
		{[]string{"--help"}, []string{"Usage: gokvctl", "Exit codes:"}},
		{[]string{"put", "-h"}, []string{"put [flags] BUCKET KEY [FILE|-]", "-ttl", "-if-match", "-if-none-match", "-content-type"}},
		{[]string{"ls", "--help"}, []string{"-prefix", "-delimiter", "-limit", "-cursor", "-all", "-json"}},
		{[]string{"watch", "-h"}, []string{"-since", "-values"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := gokvctl(t, nil, "", tt.args...)
			if code != exitOK || stdout != "" {
				t.Errorf("exit code %d, stdout %q; want 0 and nothing", code, stdout)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("help does not mention %q:\n%s", w, stderr)
				}
			}
		})
	}
}

func TestFlagsMayFollowArguments(t *testing.T) {
	tests := []struct {
		args    []string
		wantPos []string
		wantTTL string
	}{
		{[]string{"b", "k"}, []string{"b", "k"}, "0s"},
		{[]string{"--ttl", "1m", "b", "k", "-"}, []string{"b", "k", "-"}, "1m0s"},
		{[]string{"b", "--ttl", "1m", "k"}, []string{"b", "k"}, "1m0s"},
		{[]string{"b", "k", "--ttl=1m"}, []string{"b", "k"}, "1m0s"},
		{[]string{"b", "--", "-k", "-"}, []string{"b", "-k", "-"}, "0s"},
		{[]string{"--ttl", "1m", "--", "b", "--ttl"}, []string{"b", "--ttl"}, "1m0s"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			fs := flag.NewFlagSet("put", flag.ContinueOnError)
			ttl := fs.Duration("ttl", 0, "")
			pos, err := (&app{}).parse(fs, "BUCKET KEY [FILE|-]", tt.args, 2, 3)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pos, tt.wantPos) || ttl.String() != tt.wantTTL {
				t.Errorf("arguments %q, --ttl %s; want %q, %s", pos, ttl, tt.wantPos, tt.wantTTL)
			}
		})
	}
}

func TestExitCodeOfServerErrors(t *testing.T) {
	statusErr := func(status int, msg string) *client.StatusError {
		return &client.StatusError{Method: http.MethodPut, Path: "/b/k", Status: status, Message: msg}
	}
	tests := []struct {
		name string
		err  error
		code int
		line string
	}{
		{"404", statusErr(http.StatusNotFound, "not found"), exitFailed, "gokvctl: PUT /b/k: 404 Not Found: not found\n"},
		{"412", statusErr(http.StatusPreconditionFailed, "etag mismatch"), exitPrecondition, "gokvctl: PUT /b/k: 412 Precondition Failed: etag mismatch\n"},
		{"txn 409", fmt.Errorf("txn op 1 (check b k) failed: %w", statusErr(http.StatusConflict, "condition failed")), exitPrecondition, "gokvctl: txn op 1 (check b k) failed: PUT /b/k: 409 Conflict: condition failed\n"},
		{"txn 409, op out of range", &client.TxnError{Op: 7, Err: statusErr(http.StatusConflict, "x")}, exitPrecondition, "gokvctl: op 7: PUT /b/k: 409 Conflict: x\n"},
		{"watch reset", fmt.Errorf("GET /b/?watch=true: %w", client.ErrWatchReset), exitWatchReset, "gokvctl: GET /b/?watch=true: " + client.ErrWatchReset.Error() + "\n"},
		{"a message over lines", statusErr(http.StatusBadGateway, "<html>\r\nbad\ngateway</html>"), exitFailed, "gokvctl: PUT /b/k: 502 Bad Gateway: <html> bad gateway</html>\n"},
		{"usage", usageErrorf("no command"), exitUsage, "gokvctl: no command (gokvctl -h for help)\n"},
		{"other", errors.New("write the value: broken pipe"), exitFailed, "gokvctl: write the value: broken pipe\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := report(&stderr, tt.err); code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
			if stderr.String() != tt.line {
				t.Errorf("stderr %q, want %q", stderr.String(), tt.line)
			}
		})
	}
}

func TestETagArgument(t *testing.T) {
	for in, want := range map[string]string{"": "", "*": "*", "12": `"12"`, `"12"`: `"12"`, `W/"12"`: `W/"12"`} {
		if got := etag(in); got != want {
			t.Errorf("etag(%q) = %q, want %q", in, got, want)
		}
	}
}
