package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gokv-service/gokv/internal/auth"
	"github.com/gokv-service/gokv/internal/config"
	"github.com/gokv-service/gokv/internal/oidc/oidctest"
)

const saWriter = "system:serviceaccount:clients:writer"

// oidcConfig is testConfig with iss as OIDC issuer, audience gokv, and a
// policy letting saWriter read and write bucket team-a.
func oidcConfig(t testing.TB, iss *oidctest.Issuer) config.Config {
	t.Helper()
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policy, []byte("policies:\n  - subject: "+saWriter+"\n    scope: read write\n    buckets: [team-a]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.OIDCIssuerURL, cfg.OIDCAudience, cfg.OIDCCAFile, cfg.AuthPolicyFile = iss.URL, "gokv", iss.CAFile, policy
	return cfg
}

// saToken is a service-account-like token of iss's key kid.
func saToken(t testing.TB, iss *oidctest.Issuer, kid, subject, audience string) string {
	t.Helper()
	now := time.Now()
	return oidctest.Sign(t, iss.Key(kid), kid, jwt.MapClaims{"iss": iss.URL, "sub": subject, "aud": []string{audience},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()})
}

// answer is a response's status, WWW-Authenticate and JSON error.
type answer struct {
	status    int
	challenge string
	err       string
}

func do(t *testing.T, method, url, token, body string) answer {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, challenge: resp.Header.Get("WWW-Authenticate")}
	if resp.StatusCode >= 400 {
		var e struct{ Error string }
		if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
			t.Errorf("%s %s: %d with body %q, want a JSON error", method, url, resp.StatusCode, b)
		}
		a.err = e.Error
	}
	return a
}

// TestServiceAccountTokens goes through the server as configured by the
// OIDC settings: a service-account token works within its policy, and
// HS256 tokens keep working beside it.
func TestServiceAccountTokens(t *testing.T) {
	iss := oidctest.New(t)
	iss.AddRSA(t, "rsa")
	iss.AddEC(t, "ec")
	url, _, _ := runServer(t, oidcConfig(t, iss))
	writer := saToken(t, iss, "rsa", saWriter, "gokv")
	deadline := time.Now().Add(10 * time.Second)
	for do(t, http.MethodGet, url+"/team-a/none", writer, "").status == http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("the issuer's keys were not loaded within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	hs, err := auth.Mint([]byte(testSecret), auth.Claims{Subject: "ci", ExpiresIn: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		method, path  string
		token         string
		want          int
		wantChallenge string
		wantError     string
	}{
		{"writes its bucket", http.MethodPut, "/team-a/k", writer, http.StatusCreated, "", ""},
		{"reads its bucket", http.MethodGet, "/team-a/k", writer, http.StatusOK, "", ""},
		{"ES256 token of the same account", http.MethodGet, "/team-a/k", saToken(t, iss, "ec", saWriter, "gokv"), http.StatusOK, "", ""},
		{"another bucket", http.MethodPut, "/team-b/k", writer, http.StatusForbidden, `error="insufficient_scope"`, ""},
		{"admin", http.MethodGet, "/_admin/backup", writer, http.StatusForbidden, `error="insufficient_scope"`, ""},
		{"an account without a policy", http.MethodGet, "/team-a/k", saToken(t, iss, "rsa", "system:serviceaccount:clients:other", "gokv"), http.StatusForbidden, `error="insufficient_scope"`,
			"insufficient scope: no policy names the token's subject"},
		{"another audience", http.MethodGet, "/team-a/k", saToken(t, iss, "rsa", saWriter, "api"), http.StatusUnauthorized, `error="invalid_token"`, ""},
		{"HS256 token", http.MethodPut, "/team-b/k", hs, http.StatusCreated, "", ""},
		{"HS256 token keyed with the issuer's public key", http.MethodGet, "/team-a/k", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": iss.URL, "sub": saWriter, "aud": "gokv",
				"exp": time.Now().Add(time.Hour).Unix()})
			tok.Header["kid"] = "rsa"
			s, err := tok.SignedString(oidctest.PublicKeyPEM(t, iss.Key("rsa")))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}(), http.StatusUnauthorized, `error="invalid_token"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, tt.method, url+tt.path, tt.token, "v")
			if a.status != tt.want {
				t.Fatalf("%s %s: %d (%s), want %d", tt.method, tt.path, a.status, a.err, tt.want)
			}
			if tt.wantError != "" && a.err != tt.wantError {
				t.Errorf("error %q, want %q", a.err, tt.wantError)
			}
			if !strings.Contains(a.challenge, tt.wantChallenge) {
				t.Errorf("WWW-Authenticate %q, want %q in it", a.challenge, tt.wantChallenge)
			}
		})
	}
}

// gokv starts while the issuer is down; its tokens get 401 (never 500)
// until the keys come, HS256 tokens work all along.
func TestStartsWithIssuerDown(t *testing.T) {
	iss := oidctest.New(t)
	iss.AddRSA(t, "rsa")
	iss.SetDown(true)
	url, _, _ := runServer(t, oidcConfig(t, iss))
	writer := saToken(t, iss, "rsa", saWriter, "gokv")
	if a := do(t, http.MethodPut, url+"/team-a/k", writer, "v"); a.status != http.StatusUnauthorized {
		t.Fatalf("PUT with no keys of the issuer: %d, want 401", a.status)
	}
	hs, err := auth.Mint([]byte(testSecret), auth.Claims{ExpiresIn: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if a := do(t, http.MethodPut, url+"/team-a/k", hs, "v"); a.status != http.StatusCreated {
		t.Fatalf("PUT with an HS256 token while the issuer is down: %d", a.status)
	}
	iss.SetDown(false)
	deadline := time.Now().Add(10 * time.Second)
	for do(t, http.MethodGet, url+"/team-a/k", writer, "").status != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("the issuer's token did not work within 10s of the issuer coming up")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestOIDCSettingsRefused(t *testing.T) {
	iss := oidctest.New(t)
	dir := t.TempDir()
	badPolicy := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badPolicy, []byte("policies:\n  - {subject: a, scope: everything}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*config.Config)
		want   string
	}{
		{"policy file missing", func(c *config.Config) { c.AuthPolicyFile = filepath.Join(dir, "none.yaml") }, "AUTH_POLICY_FILE"},
		{"policy with an unknown scope", func(c *config.Config) { c.AuthPolicyFile = badPolicy }, `AUTH_POLICY_FILE ` + badPolicy + `: policies[0]: subject "a": unknown scope "everything"`},
		{"CA file missing", func(c *config.Config) { c.OIDCCAFile = filepath.Join(dir, "none.crt") }, "OIDC_CA_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := oidcConfig(t, iss)
			tt.change(&cfg)
			_, err := New(cfg, slog.New(slog.DiscardHandler))
			if err == nil {
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line containing %q", err, tt.want)
			}
		})
	}
}
