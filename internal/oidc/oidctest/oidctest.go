// Package oidctest runs a real OIDC issuer for tests: an HTTPS server
// (httptest, its certificate in a CA file) serving a discovery document
// and a JWKS of generated RSA and ECDSA keys, and signing tokens with
// them. Tests change its keys, take it down, or make it require a
// bearer token, as a Kubernetes API server does.
package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer is a running test issuer.
type Issuer struct {
	// URL is the issuer, as its tokens' iss and its discovery document say.
	URL string
	// CAFile holds the PEM certificate of its TLS server (OIDC_CA_FILE).
	CAFile string
	// JWKSFetches counts requests for the JWKS.
	JWKSFetches atomic.Int64

	srv  *httptest.Server
	down atomic.Bool

	mu        sync.Mutex
	keys      map[string]crypto.Signer // by kid: what signs
	published []string                 // kids the JWKS lists, in order
	// wantToken, when set, is the bearer token every request must carry.
	wantToken string
	// discoveryIssuer, when set, is what discovery says the issuer is.
	discoveryIssuer string
}

// New starts an issuer without keys; it stops when the test ends.
func New(t testing.TB) *Issuer {
	t.Helper()
	iss := &Issuer{keys: make(map[string]crypto.Signer)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", iss.discovery)
	mux.HandleFunc("GET /jwks", iss.jwks)
	iss.srv = httptest.NewTLSServer(iss.guard(mux))
	t.Cleanup(iss.srv.Close)
	iss.URL = iss.srv.URL
	iss.CAFile = filepath.Join(t.TempDir(), "ca.crt")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: iss.srv.Certificate().Raw})
	if err := os.WriteFile(iss.CAFile, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	return iss
}

// guard answers 503 while the issuer is down, and 401 to a request
// without the wanted token.
func (iss *Issuer) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if iss.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		iss.mu.Lock()
		want := iss.wantToken
		iss.mu.Unlock()
		if want != "" && r.Header.Get("Authorization") != "Bearer "+want {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (iss *Issuer) discovery(w http.ResponseWriter, _ *http.Request) {
	iss.mu.Lock()
	issuer := iss.discoveryIssuer
	iss.mu.Unlock()
	if issuer == "" {
		issuer = iss.URL
	}
	json.NewEncoder(w).Encode(map[string]string{"issuer": issuer, "jwks_uri": iss.URL + "/jwks"})
}

func (iss *Issuer) jwks(w http.ResponseWriter, _ *http.Request) {
	iss.JWKSFetches.Add(1)
	iss.mu.Lock()
	keys := make([]map[string]string, 0, len(iss.published))
	for _, kid := range iss.published {
		keys = append(keys, jwk(kid, iss.keys[kid].Public()))
	}
	iss.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]any{"keys": keys})
}

// jwk is the public key as RFC 7517 writes it.
func jwk(kid string, pub crypto.PublicKey) map[string]string {
	b64 := base64.RawURLEncoding.EncodeToString
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return map[string]string{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
			"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PublicKey:
		raw, err := k.Bytes() // 0x04 || X || Y, fixed size
		if err != nil {
			panic(err)
		}
		return map[string]string{"kty": "EC", "kid": kid, "alg": "ES256", "use": "sig", "crv": "P-256",
			"x": b64(raw[1:33]), "y": b64(raw[33:])}
	}
	panic("unsupported key type")
}

// AddRSA generates an RSA key, publishes it under kid, and returns it.
func (iss *Issuer) AddRSA(t testing.TB, kid string) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	iss.Add(kid, k)
	return k
}

// AddEC generates a P-256 key, publishes it under kid, and returns it.
func (iss *Issuer) AddEC(t testing.TB, kid string) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	iss.Add(kid, k)
	return k
}

// Add publishes key under kid, replacing what kid named.
func (iss *Issuer) Add(kid string, key crypto.Signer) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	if _, ok := iss.keys[kid]; !ok {
		iss.published = append(iss.published, kid)
	}
	iss.keys[kid] = key
}

// Key is the key published under kid, nil when none is.
func (iss *Issuer) Key(kid string) crypto.Signer {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	return iss.keys[kid]
}

// Drop stops publishing kid (an issuer retiring a key).
func (iss *Issuer) Drop(kid string) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	delete(iss.keys, kid)
	for i, k := range iss.published {
		if k == kid {
			iss.published = append(iss.published[:i], iss.published[i+1:]...)
			break
		}
	}
}

// SetDown makes every request answer 503 (true) or be served again.
func (iss *Issuer) SetDown(down bool) { iss.down.Store(down) }

// RequireToken makes every request need "Authorization: Bearer token";
// "" lifts the requirement.
func (iss *Issuer) RequireToken(token string) {
	iss.mu.Lock()
	iss.wantToken = token
	iss.mu.Unlock()
}

// ClaimIssuer makes the discovery document name issuer instead of URL.
func (iss *Issuer) ClaimIssuer(issuer string) {
	iss.mu.Lock()
	iss.discoveryIssuer = issuer
	iss.mu.Unlock()
}

// Sign signs claims with key under kid ("" leaves kid out), with RS256
// for an RSA key and ES256 for an ECDSA key.
func Sign(t testing.TB, key crypto.Signer, kid string, claims jwt.MapClaims) string {
	t.Helper()
	method := jwt.SigningMethod(jwt.SigningMethodRS256)
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		method = jwt.SigningMethodES256
	}
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// PublicKeyPEM is key's public half as PEM, what an alg-confusion
// attacker would use as an HMAC secret.
func PublicKeyPEM(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
