package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gokv-service/gokv/internal/auth"
)

// TestHostSetsTheListenAddress: HOST binds gokv to one address, loopback
// for a sidecar or a machine behind a local proxy; unset, it listens on
// every interface as before.
func TestHostSetsTheListenAddress(t *testing.T) {
	tests := []struct {
		name, host, wantIP string
	}{
		{"unset", "", "::"},
		{"IPv4 loopback", "127.0.0.1", "127.0.0.1"},
		{"IPv6 loopback", "::1", "::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var extra []string
			if tt.host != "" {
				extra = append(extra, "HOST="+tt.host)
			}
			p := start(t, env(filepath.Join(t.TempDir(), "db"), extra...))
			addr := servingAddr(t, p)
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				t.Fatalf("logged addr %q: %v", addr, err)
			}
			if host != tt.wantIP {
				t.Fatalf("gokv listens on %s, want %s", addr, net.JoinHostPort(tt.wantIP, port))
			}
			if tt.host == "" {
				return
			}
			resp, err := http.Get("http://" + net.JoinHostPort(tt.host, port) + "/healthz")
			if err != nil {
				t.Fatalf("GET /healthz on %s: %v", tt.host, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET /healthz on %s: %d", tt.host, resp.StatusCode)
			}
		})
	}
}

// servingAddr returns the address of gokv's "gokv is serving" log line.
func servingAddr(t *testing.T, p *process) string {
	t.Helper()
	for line := range strings.SplitSeq(p.log(), "\n") {
		var l struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "gokv is serving" {
			return l.Addr
		}
	}
	t.Fatalf("no \"gokv is serving\" line in the log:\n%s", p.log())
	return ""
}

// TestMaxTokenLifetime: with JWT_MAX_LIFETIME set, the server refuses
// tokens minted for longer, and tokens without iat.
func TestMaxTokenLifetime(t *testing.T) {
	p := start(t, env(filepath.Join(t.TempDir(), "db"), "JWT_MAX_LIFETIME=24h"))
	mint := func(expiresIn time.Duration) string {
		tok, err := auth.Mint([]byte(testSecret), auth.Claims{ExpiresIn: expiresIn}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	noIAT, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, token string
		want        int
	}{
		{"an hour", mint(time.Hour), http.StatusNotFound},
		{"a day", mint(24 * time.Hour), http.StatusNotFound},
		{"a day and a second", mint(24*time.Hour + time.Second), http.StatusUnauthorized},
		{"a year", mint(365 * 24 * time.Hour), http.StatusUnauthorized},
		{"no iat", noIAT, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 { // the second time from the token cache, if at all
				req, _ := http.NewRequest(http.MethodGet, p.URL+"/b/absent", nil)
				req.Header.Set("Authorization", "Bearer "+tt.token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tt.want {
					t.Fatalf("GET with a token valid for %s: %d, want %d", tt.name, resp.StatusCode, tt.want)
				}
			}
		})
	}
}

// TestMetricsPort: /metrics answers without a token on METRICS_PORT, at
// HOST; a METRICS_PORT in use stops gokv with one line naming it.
func TestMetricsPort(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	busy := held.Addr().(*net.TCPAddr).Port
	t.Run("in use", func(t *testing.T) {
		cmd := exec.Command(binary)
		cmd.Env = env(filepath.Join(t.TempDir(), "db"), "HOST=127.0.0.1", fmt.Sprint("METRICS_PORT=", busy))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		cmd.Run()
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		want := fmt.Sprintf("gokv: METRICS_PORT: listen on port %d: ", busy)
		if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.HasPrefix(lines[len(lines)-1], want) {
			t.Errorf("exit %d, last line %q; want 1 and %q...", code, lines[len(lines)-1], want)
		}
	})
	t.Run("serving", func(t *testing.T) {
		free, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := free.Addr().(*net.TCPAddr).Port
		free.Close()
		p := start(t, env(filepath.Join(t.TempDir(), "db"), "HOST=127.0.0.1", fmt.Sprint("METRICS_PORT=", port)))
		if status, _ := do(t, http.MethodGet, p.URL+"/healthz", nil); status != http.StatusOK {
			t.Fatalf("healthz: %d", status)
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := `gokv_http_requests_total{code="200",method="GET",route="/healthz"} 1`; resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("GET /metrics: %d, want 200 with %s", resp.StatusCode, want)
		}
	})
}
