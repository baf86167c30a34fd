package oidc_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gokv-service/gokv/internal/auth"
	"github.com/gokv-service/gokv/internal/oidc"
	"github.com/gokv-service/gokv/internal/oidc/oidctest"
)

const (
	audience = "gokv"
	// hsSecret is the server's HS256 secret beside the issuer.
	hsSecret = "0123456789abcdef0123456789abcdef"
	writer   = "system:serviceaccount:team-a:writer"
)

const testPolicy = `
policies:
  - subject: system:serviceaccount:team-a:writer
    scope: read write
    buckets: [team-a]
  - subject: system:serviceaccount:team-b:*
    scope: read
`

// setup starts an issuer, a Verifier of its tokens behind auth's
// Verifier (as the server wires them), and waits for the keys.
type setup struct {
	iss *oidctest.Issuer
	v   *auth.Verifier
}

func newSetup(t *testing.T, cacheSize int, opts oidc.Options, keys func(*oidctest.Issuer)) *setup {
	t.Helper()
	iss := oidctest.New(t)
	keys(iss)
	v := newVerifier(t, iss, cacheSize, opts)
	return &setup{iss: iss, v: v}
}

func newVerifier(t testing.TB, iss *oidctest.Issuer, cacheSize int, opts oidc.Options) *auth.Verifier {
	t.Helper()
	policy, err := oidc.ParsePolicy([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	opts.IssuerURL, opts.Audience, opts.CAFile, opts.Policy = iss.URL, audience, iss.CAFile, policy
	opts.Logger = slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ov, err := oidc.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier([]byte(hsSecret), auth.VerifierOptions{CacheSize: cacheSize, Issuers: ov})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// claims are valid claims of the issuer for subject, for an hour.
func claims(iss *oidctest.Issuer, subject string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"iss": iss.URL, "sub": subject, "aud": []string{audience},
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// with is c with the changes: a nil value deletes the claim.
func with(c jwt.MapClaims, changes map[string]any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// waitVerified retries token until it verifies: the keys are fetched in
// the background.
func waitVerified(t testing.TB, v *auth.Verifier, token string) auth.Grant {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g, err := v.Verify(token)
		if err == nil {
			return g
		}
		if time.Now().After(deadline) {
			t.Fatalf("token not verified within 10s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hs256(t *testing.T, secret []byte, c jwt.MapClaims, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	iss := oidctest.New(t)
	rsaKey := iss.AddRSA(t, "rsa-1")
	ecKey := iss.AddEC(t, "ec-1")
	untrusted := oidctest.New(t).AddRSA(t, "rsa-1") // same kid, another key
	v := newVerifier(t, iss, 0, oidc.Options{})
	good := claims(iss, writer)
	waitVerified(t, v, oidctest.Sign(t, rsaKey, "rsa-1", good))

	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, good).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	rs384 := jwt.NewWithClaims(jwt.SigningMethodRS384, good)
	rs384.Header["kid"] = "rsa-1"
	rs384Token, err := rs384.SignedString(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := oidctest.PublicKeyPEM(t, rsaKey)
	hs512 := jwt.NewWithClaims(jwt.SigningMethodHS512, good)
	hs512.Header["kid"] = "rsa-1"
	hs512Token, err := hs512.SignedString(pemKey)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		token string
		want  error // nil: accepted
		grant auth.Grant
	}{
		{"RS256", oidctest.Sign(t, rsaKey, "rsa-1", good), nil,
			auth.Grant{Subject: writer, Scopes: auth.ScopeRead | auth.ScopeWrite, Buckets: []string{"team-a"}}},
		{"ES256", oidctest.Sign(t, ecKey, "ec-1", good), nil,
			auth.Grant{Subject: writer, Scopes: auth.ScopeRead | auth.ScopeWrite, Buckets: []string{"team-a"}}},
		{"namespace glob", oidctest.Sign(t, ecKey, "ec-1", claims(iss, "system:serviceaccount:team-b:reader")), nil,
			auth.Grant{Subject: "system:serviceaccount:team-b:reader", Scopes: auth.ScopeRead}},
		{"no kid, one key of the alg fits", oidctest.Sign(t, ecKey, "", good), nil,
			auth.Grant{Subject: writer, Scopes: auth.ScopeRead | auth.ScopeWrite, Buckets: []string{"team-a"}}},
		{"aud among several", oidctest.Sign(t, rsaKey, "rsa-1", with(good, map[string]any{"aud": []string{"api", audience}})), nil,
			auth.Grant{Subject: writer, Scopes: auth.ScopeRead | auth.ScopeWrite, Buckets: []string{"team-a"}}},
		{"no policy for the subject", oidctest.Sign(t, rsaKey, "rsa-1", claims(iss, "system:serviceaccount:team-c:x")), auth.ErrForbidden, auth.Grant{}},
		{"wrong audience", oidctest.Sign(t, rsaKey, "rsa-1", with(good, map[string]any{"aud": []string{"api"}})), auth.ErrWrongAudience, auth.Grant{}},
		{"missing aud", oidctest.Sign(t, rsaKey, "rsa-1", with(good, map[string]any{"aud": nil})), auth.ErrWrongAudience, auth.Grant{}},
		{"missing exp", oidctest.Sign(t, rsaKey, "rsa-1", with(good, map[string]any{"exp": nil})), auth.ErrInvalidClaims, auth.Grant{}},
		{"expired", oidctest.Sign(t, rsaKey, "rsa-1", with(good, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})), auth.ErrExpired, auth.Grant{}},
		{"other issuer", oidctest.Sign(t, rsaKey, "rsa-1", with(good, map[string]any{"iss": "https://elsewhere.example"})), auth.ErrInvalidClaims, auth.Grant{}},
		{"crit header", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodRS256, good)
			tok.Header["kid"], tok.Header["crit"] = "rsa-1", []string{"exp"}
			s, err := tok.SignedString(rsaKey)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}(), auth.ErrInvalidClaims, auth.Grant{}},
		{"untrusted key under a trusted kid", oidctest.Sign(t, untrusted, "rsa-1", good), auth.ErrBadSignature, auth.Grant{}},
		{"untrusted key under an unknown kid", oidctest.Sign(t, untrusted, "nobody", good), auth.ErrBadSignature, auth.Grant{}},
		{"kid of the other key", oidctest.Sign(t, rsaKey, "ec-1", good), auth.ErrBadSignature, auth.Grant{}},
		{"ES256 key named by an RS256 kid", oidctest.Sign(t, ecKey, "rsa-1", good), auth.ErrBadSignature, auth.Grant{}},
		{"alg confusion: HS256 keyed with the issuer's public key", hs256(t, pemKey, good, "rsa-1"), auth.ErrBadSignature, auth.Grant{}},
		{"alg confusion: HS512 keyed with the issuer's public key", hs512Token, auth.ErrBadSignature, auth.Grant{}},
		{"none", none, auth.ErrBadSignature, auth.Grant{}},
		{"RS384", rs384Token, auth.ErrBadSignature, auth.Grant{}},
		{"not a JWT", "a.b.c", auth.ErrMalformed, auth.Grant{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := v.Verify(tt.token)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if g.Subject != tt.grant.Subject || g.Scopes != tt.grant.Scopes || !slices.Equal(g.Buckets, tt.grant.Buckets) {
					t.Errorf("grant = %+v, want %+v", g, tt.grant)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify: %v, want %v", err, tt.want)
			}
			if tt.want != auth.ErrForbidden && !errors.Is(err, auth.ErrInvalidToken) {
				t.Errorf("Verify: %v does not wrap ErrInvalidToken", err)
			}
		})
	}
}

// HS256 tokens of the server's secret keep working beside the issuer's,
// and never reach it.
func TestHS256BesideIssuer(t *testing.T) {
	s := newSetup(t, 0, oidc.Options{}, func(iss *oidctest.Issuer) { iss.AddRSA(t, "k") })
	token, err := auth.Mint([]byte(hsSecret), auth.Claims{Subject: "ci", ExpiresIn: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	before := s.iss.JWKSFetches.Load()
	g, err := s.v.Verify(token)
	if err != nil || g.Subject != "ci" {
		t.Fatalf("Verify HS256: %+v, %v", g, err)
	}
	// A forged HS256 token with a kid the JWKS lacks must not trigger a
	// refetch: it never reaches the issuer's verifier.
	forged := hs256(t, []byte("another-secret-of-32-bytes-or-more!"), claims(s.iss, writer), "unknown")
	if _, err := s.v.Verify(forged); !errors.Is(err, auth.ErrBadSignature) {
		t.Fatalf("forged HS256: %v", err)
	}
	if got := s.iss.JWKSFetches.Load(); got != before {
		t.Errorf("JWKS fetched %d times for HS256 tokens", got-before)
	}
}

// The JWKS endpoint going down leaves the keys fetched before in use.
func TestJWKSDownKeepsKeys(t *testing.T) {
	s := newSetup(t, 0, oidc.Options{RefreshInterval: 50 * time.Millisecond, RefetchInterval: time.Millisecond},
		func(iss *oidctest.Issuer) { iss.AddRSA(t, "k") })
	waitVerified(t, s.v, signWith(t, s, "k", writer))
	s.iss.SetDown(true)
	fetches := s.iss.JWKSFetches.Load()
	time.Sleep(200 * time.Millisecond) // several failed background refreshes
	// A new token (the verifier has no cache) and one naming an unknown
	// kid, which fails to refetch.
	if _, err := s.v.Verify(signWith(t, s, "k", writer)); err != nil {
		t.Errorf("with the JWKS down, a token of a known key: %v", err)
	}
	if _, err := s.v.Verify(oidctest.Sign(t, oidctest.New(t).AddRSA(t, "x"), "x", claims(s.iss, writer))); !errors.Is(err, auth.ErrBadSignature) {
		t.Errorf("with the JWKS down, an unknown kid: %v, want a bad signature", err)
	}
	if s.iss.JWKSFetches.Load() != fetches {
		t.Errorf("the down issuer served JWKS fetches")
	}
}

// signWith signs valid claims for subject with the issuer's key kid.
func signWith(t *testing.T, s *setup, kid, subject string) string {
	t.Helper()
	return oidctest.Sign(t, s.iss.Key(kid), kid, claims(s.iss, subject))
}

// With no keys at all (the issuer unreachable since the start) tokens
// of the issuer are refused as unverifiable, never an error of another
// kind; once it answers, the background retry loads the keys.
func TestNoKeysUntilIssuerAnswers(t *testing.T) {
	s := newSetup(t, 0, oidc.Options{}, func(iss *oidctest.Issuer) {
		iss.AddRSA(t, "k")
		iss.SetDown(true)
	})
	token := signWith(t, s, "k", writer)
	time.Sleep(100 * time.Millisecond)
	if _, err := s.v.Verify(token); !errors.Is(err, auth.ErrBadSignature) || !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("Verify without keys: %v, want an invalid token with a bad signature", err)
	}
	s.iss.SetDown(false)
	waitVerified(t, s.v, token) // the first retry comes after a second
}

// A discovery document naming another issuer is refused: the keys are
// never loaded.
func TestDiscoveryOfAnotherIssuer(t *testing.T) {
	s := newSetup(t, 0, oidc.Options{}, func(iss *oidctest.Issuer) {
		iss.AddRSA(t, "k")
		iss.ClaimIssuer("https://someone-else.example")
	})
	time.Sleep(300 * time.Millisecond)
	if _, err := s.v.Verify(signWith(t, s, "k", writer)); !errors.Is(err, auth.ErrBadSignature) {
		t.Fatalf("Verify: %v, want a bad signature (no keys)", err)
	}
	if n := s.iss.JWKSFetches.Load(); n != 0 {
		t.Errorf("JWKS fetched %d times after a discovery document of another issuer", n)
	}
}

// Issuer-side rotation: a token naming a new kid makes gokv refetch and
// verifies; once the issuer drops the old key, a token of it that sat in
// the cache is refused at the next refetch: no token outlives its key.
func TestIssuerRotation(t *testing.T) {
	s := newSetup(t, 16, oidc.Options{RefetchInterval: time.Millisecond}, func(iss *oidctest.Issuer) { iss.AddRSA(t, "old") })
	old := signWith(t, s, "old", writer)
	waitVerified(t, s.v, old) // now cached
	s.iss.AddEC(t, "new")
	fetches := s.iss.JWKSFetches.Load()
	if _, err := s.v.Verify(signWith(t, s, "new", writer)); err != nil {
		t.Fatalf("token of the new key: %v", err)
	}
	if s.iss.JWKSFetches.Load() != fetches+1 {
		t.Errorf("JWKS fetches for a new kid: %d, want 1", s.iss.JWKSFetches.Load()-fetches)
	}
	if _, err := s.v.Verify(old); err != nil {
		t.Fatalf("cached token of the old key while it is published: %v", err)
	}
	s.iss.Drop("old")
	// Any unknown kid triggers a refetch, which drops the old key.
	time.Sleep(5 * time.Millisecond)
	s.v.Verify(oidctest.Sign(t, s.iss.Key("new"), "unknown", claims(s.iss, writer)))
	if _, err := s.v.Verify(old); !errors.Is(err, auth.ErrBadSignature) {
		t.Fatalf("cached token of a dropped key: %v, want a bad signature", err)
	}
	if _, err := s.v.Verify(signWith(t, s, "new", writer)); err != nil {
		t.Errorf("token of the new key after the old one was dropped: %v", err)
	}
}

// Unknown kids are refetched at most once per RefetchInterval.
func TestUnknownKidRateLimited(t *testing.T) {
	s := newSetup(t, 0, oidc.Options{RefetchInterval: time.Hour}, func(iss *oidctest.Issuer) { iss.AddRSA(t, "k") })
	waitVerified(t, s.v, signWith(t, s, "k", writer))
	fetches := s.iss.JWKSFetches.Load()
	stranger := oidctest.New(t).AddRSA(t, "x")
	for i := range 20 {
		kid := "made-up-" + string(rune('a'+i))
		if _, err := s.v.Verify(oidctest.Sign(t, stranger, kid, claims(s.iss, writer))); !errors.Is(err, auth.ErrBadSignature) {
			t.Fatalf("made-up kid: %v", err)
		}
	}
	if got := s.iss.JWKSFetches.Load() - fetches; got != 1 {
		t.Errorf("20 tokens with made-up kids made %d JWKS fetches, want 1", got)
	}
}

// The token for the issuer is read from its file for every fetch, as
// kubelet rotates it, and only sent to the issuer's host.
func TestTokenFileReadPerFetch(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newSetup(t, 0, oidc.Options{TokenFile: file, RefetchInterval: time.Millisecond}, func(iss *oidctest.Issuer) {
		iss.AddRSA(t, "k")
		iss.RequireToken("first")
	})
	waitVerified(t, s.v, signWith(t, s, "k", writer))
	s.iss.RequireToken("second")
	if err := os.WriteFile(file, []byte("second"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.iss.AddRSA(t, "k2")
	time.Sleep(5 * time.Millisecond)
	if _, err := s.v.Verify(signWith(t, s, "k2", writer)); err != nil {
		t.Fatalf("a new key fetched with the rotated token: %v", err)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	policy, err := oidc.ParsePolicy([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := oidc.Options{IssuerURL: "https://issuer.example", Audience: audience, Policy: policy, Logger: slog.New(slog.DiscardHandler)}
	tests := []struct {
		name   string
		change func(*oidc.Options)
	}{
		{"http issuer", func(o *oidc.Options) { o.IssuerURL = "http://issuer.example" }},
		{"no audience", func(o *oidc.Options) { o.Audience = "" }},
		{"no policy", func(o *oidc.Options) { o.Policy = nil }},
		{"http JWKS URL", func(o *oidc.Options) { o.JWKSURL = "http://issuer.example/keys" }},
		{"missing CA file", func(o *oidc.Options) { o.CAFile = filepath.Join(t.TempDir(), "none") }},
		{"CA file without a certificate", func(o *oidc.Options) { o.CAFile = notPEM }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := good
			tt.change(&opts)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if _, err := oidc.New(ctx, opts); err == nil {
				t.Error("New accepted it")
			}
		})
	}
}
