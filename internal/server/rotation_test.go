package server

import (
	"net/http"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/auth"
)

// TestPreviousSecretVerifies: JWT_SECRET_PREVIOUS reaches the verifier,
// so that tokens of the secret being rotated out keep working, and only
// while it is set.
func TestPreviousSecretVerifies(t *testing.T) {
	const previous = "the-previous-secret-of-32-bytes-or-more"
	mint := func(secret string) string {
		token, err := auth.Mint([]byte(secret), auth.Claims{ExpiresIn: time.Hour}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	tests := []struct {
		name     string
		previous string
		token    string
		want     int
	}{
		{"current secret", previous, mint(testSecret), http.StatusNotFound},
		{"previous secret while set", previous, mint(previous), http.StatusNotFound},
		{"previous secret once dropped", "", mint(previous), http.StatusUnauthorized},
		{"another secret", previous, mint("yet-another-secret-of-32-bytes-or-more"), http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.JWTSecretPrev = tt.previous
			url, _, _ := runServer(t, cfg)
			req, _ := http.NewRequest(http.MethodGet, url+"/b/missing", nil)
			req.Header.Set("Authorization", "Bearer "+tt.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("GET: %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}
