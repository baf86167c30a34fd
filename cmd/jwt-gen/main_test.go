package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gokv-service/gokv/internal/auth"
)

const testSecret = "0123456789abcdef0123456789abcdef"

func runJWTGen(args []string, env map[string]string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, func(k string) string { return env[k] }, &out, &errOut, time.Now())
	return code, out.String(), errOut.String()
}

func TestMintsAVerifiableToken(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		opts auth.VerifierOptions
	}{
		{"secret flag", []string{"--secret", testSecret, "--expires-in", "1h"}, nil, auth.VerifierOptions{}},
		{"secret from environment", []string{"--expires-in", "5m"}, map[string]string{"JWT_SECRET": testSecret}, auth.VerifierOptions{}},
		{"flag wins over environment", []string{"--secret", testSecret}, map[string]string{"JWT_SECRET": "some-other-secret-of-32-bytes-or-more"}, auth.VerifierOptions{}},
		{"at the cap", []string{"--expires-in", "2160h"}, map[string]string{"JWT_SECRET": testSecret}, auth.VerifierOptions{}},
		{"long-lived when asked", []string{"--expires-in", "8760h", "--allow-long-lived"}, map[string]string{"JWT_SECRET": testSecret}, auth.VerifierOptions{}},
		{"issuer and audience", []string{"--issuer", "ops", "--audience", "gokv", "--subject", "ci"}, map[string]string{"JWT_SECRET": testSecret},
			auth.VerifierOptions{Issuer: "ops", Audience: "gokv"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runJWTGen(tt.args, tt.env)
			if code != 0 {
				t.Fatalf("exit code %d, stderr %q", code, stderr)
			}
			if stderr != "" {
				t.Errorf("stderr = %q, want nothing", stderr)
			}
			token, ok := strings.CutSuffix(stdout, "\n")
			if !ok || strings.ContainsAny(token, "\n ") || token == "" {
				t.Fatalf("stdout = %q, want one token and a newline", stdout)
			}
			v, err := auth.NewVerifier([]byte(testSecret), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(token); err != nil {
				t.Errorf("the server would reject the token: %v", err)
			}
		})
	}
}

func TestExpiresIn(t *testing.T) {
	now := time.Now()
	var out bytes.Buffer
	if code := run([]string{"--expires-in", "90m"}, func(string) string { return testSecret }, &out, &bytes.Buffer{}, now); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(strings.TrimSpace(out.String()), &claims); err != nil {
		t.Fatal(err)
	}
	if got, want := claims.ExpiresAt.Unix(), now.Add(90*time.Minute).Unix(); got != want {
		t.Errorf("exp = %d, want %d", got, want)
	}
}

func TestBadUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no secret", nil, nil, "no secret"},
		{"short secret", []string{"--secret", "short"}, nil, "at least 32 bytes"},
		{"short secret from environment", nil, map[string]string{"JWT_SECRET": "short"}, "at least 32 bytes"},
		{"unknown flag", []string{"--secret", testSecret, "--expires", "1h"}, nil, "flag provided but not defined"},
		{"bad duration", []string{"--secret", testSecret, "--expires-in", "1 hour"}, nil, "invalid value"},
		{"zero duration", []string{"--secret", testSecret, "--expires-in", "0s"}, nil, "must be positive"},
		{"negative duration", []string{"--secret", testSecret, "--expires-in", "-1h"}, nil, "must be positive"},
		{"stray argument", []string{"--secret", testSecret, "extra"}, nil, `unexpected argument "extra"`},
		{"whitespace secret", nil, map[string]string{"JWT_SECRET": strings.Repeat(" ", 40)}, "only whitespace"},
		{"over the cap", []string{"--secret", testSecret, "--expires-in", "2160h1s"}, nil, "--expires-in must be at most 2160h0m0s (90 days) unless --allow-long-lived is given"},
		{"unknown scope", []string{"--secret", testSecret, "--scope", "read", "--scope", "delete"}, nil, `unknown scope "delete"`},
		{"scope in capitals", []string{"--secret", testSecret, "--scope", "READ"}, nil, `unknown scope "READ"`},
		{"empty scope", []string{"--secret", testSecret, "--scope", ""}, nil, "names no scope"},
		{"bucket glob in the middle", []string{"--secret", testSecret, "--bucket", "team-*-a"}, nil, `bucket pattern "team-*-a": '*' may only end a pattern`},
		{"reserved bucket", []string{"--secret", testSecret, "--bucket", "_admin"}, nil, `bucket "_admin"`},
		{"empty bucket", []string{"--secret", testSecret, "--bucket", ""}, nil, `bucket ""`},
		{"292 years", []string{"--secret", testSecret, "--expires-in", "2562047h"}, nil, "--expires-in must be at most 2160h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runJWTGen(tt.args, tt.env)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if !strings.HasPrefix(stderr, "jwt-gen: ") || !strings.Contains(stderr, tt.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr = %q, want one line jwt-gen: ...%s...", stderr, tt.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	code, stdout, stderr := runJWTGen([]string{"-h"}, nil)
	if code != 0 || stdout != "" {
		t.Errorf("-h: exit code %d, stdout %q; want 0 and nothing", code, stdout)
	}
	for _, want := range []string{"Usage: jwt-gen", "-expires-in", "-allow-long-lived", "-scope", "-bucket"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("-h printed %q, missing %q", stderr, want)
		}
	}
}

// TestScopedTokens: --scope and --bucket mint tokens the server reads as
// they were asked for.
func TestScopedTokens(t *testing.T) {
	tests := []struct {
		args []string
		want auth.Grant
	}{
		{nil, auth.Grant{Scopes: auth.ScopeRead | auth.ScopeWrite}},
		{[]string{"--scope", "read"}, auth.Grant{Scopes: auth.ScopeRead}},
		{[]string{"--scope", "admin"}, auth.Grant{Scopes: auth.ScopeAdmin}},
		{[]string{"--scope", "read", "--scope", "write"}, auth.Grant{Scopes: auth.ScopeRead | auth.ScopeWrite}},
		{[]string{"--scope", "read write admin"}, auth.Grant{Scopes: auth.ScopeRead | auth.ScopeWrite | auth.ScopeAdmin}},
		{[]string{"--scope", "read,admin"}, auth.Grant{Scopes: auth.ScopeRead | auth.ScopeAdmin}},
		{[]string{"--scope", "read", "--bucket", "cfg", "--bucket", "team-a-*"},
			auth.Grant{Scopes: auth.ScopeRead, Buckets: []string{"cfg", "team-a-*"}}},
		{[]string{"--bucket", "*"}, auth.Grant{Scopes: auth.ScopeRead | auth.ScopeWrite, Buckets: []string{"*"}}},
	}
	v, err := auth.NewVerifier([]byte(testSecret), auth.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runJWTGen(append([]string{"--subject", "s"}, tt.args...), map[string]string{"JWT_SECRET": testSecret})
			if code != 0 {
				t.Fatalf("exit code %d, stderr %q", code, stderr)
			}
			got, err := v.Verify(strings.TrimSpace(stdout))
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Subject = "s"
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("grant %+v, want %+v", got, tt.want)
			}
		})
	}
}
