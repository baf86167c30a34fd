package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/auth"
)

// TestCeilingServesLikeGokv: the yardstick must do the same work per
// request as gokv, or the ratios mean nothing: refuse a bad token, store
// and return values, answer 201, 204 and 404 like gokv.
func TestCeilingServesLikeGokv(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	v, err := auth.NewVerifier(secret, auth.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	token, err := auth.Mint(secret, auth.Claims{ExpiresIn: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r := newRouter(v)
	do := func(method, path, tok, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w
	}
	steps := []struct {
		method, path, token, body string
		want                      int
		wantBody                  string
	}{
		{http.MethodGet, "/b/k", token, "", http.StatusNotFound, ""},
		{http.MethodPut, "/b/k", token, "v1", http.StatusCreated, ""},
		{http.MethodPut, "/b/k", token, "v2", http.StatusNoContent, ""},
		{http.MethodGet, "/b/k", token, "", http.StatusOK, "v2"},
		{http.MethodGet, "/b/k", "", "", http.StatusUnauthorized, ""},
		{http.MethodGet, "/b/k", token + "x", "", http.StatusUnauthorized, ""},
		{http.MethodGet, "/readyz", "", "", http.StatusOK, ""},
	}
	for _, s := range steps {
		w := do(s.method, s.path, s.token, s.body)
		if w.Code != s.want || (s.wantBody != "" && w.Body.String() != s.wantBody) {
			t.Errorf("%s %s: %d %q, want %d %q", s.method, s.path, w.Code, w.Body, s.want, s.wantBody)
		}
	}
}
