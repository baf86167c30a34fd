package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// sign signs arbitrary claims with method and key, to build tokens that
// Mint would never produce.
func sign(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	token, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return token
}

func TestVerify(t *testing.T) {
	now := time.Now()
	valid := jwt.MapClaims{"exp": now.Add(time.Hour).Unix()}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	withClaim := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{"exp": now.Add(time.Hour).Unix()}
		c[k] = v
		return c
	}
	noneToken := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid)
	withCrit := func(crit any) string {
		token := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": now.Add(time.Hour).Unix(), "x": 1})
		token.Header["crit"] = crit
		token.Header["x"] = true
		s, err := token.SignedString(testSecret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hour := jwt.MapClaims{"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	long := jwt.MapClaims{"iat": now.Unix(), "exp": now.Add(time.Hour + time.Second).Unix()}
	lifetime := VerifierOptions{MaxLifetime: time.Hour}

	tests := []struct {
		name  string
		token string
		opts  VerifierOptions
		want  error // the reason; nil: accepted
	}{
		{"valid HS256", sign(t, jwt.SigningMethodHS256, testSecret, valid), VerifierOptions{}, nil},
		{"minted", mustMint(t, Claims{ExpiresIn: time.Minute}), VerifierOptions{}, nil},
		{"nbf in the past", sign(t, jwt.SigningMethodHS256, testSecret, withClaim("nbf", now.Add(-time.Minute).Unix())), VerifierOptions{}, nil},
		{"nbf within leeway", sign(t, jwt.SigningMethodHS256, testSecret, withClaim("nbf", now.Add(Leeway/2).Unix())), VerifierOptions{}, nil},
		{"expired within leeway", sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"exp": now.Add(-Leeway / 2).Unix()}), VerifierOptions{}, nil},
		{"matching issuer", sign(t, jwt.SigningMethodHS256, testSecret, withClaim("iss", "ops")), VerifierOptions{Issuer: "ops"}, nil},
		{"matching audience", sign(t, jwt.SigningMethodHS256, testSecret, withClaim("aud", []string{"x", "gokv"})), VerifierOptions{Audience: "gokv"}, nil},
		{"fractional exp", sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"exp": float64(now.Add(time.Hour).Unix()) + 0.5}), VerifierOptions{}, nil},
		{"lifetime at the maximum", sign(t, jwt.SigningMethodHS256, testSecret, hour), lifetime, nil},
		{"minted within the maximum", mustMint(t, Claims{ExpiresIn: time.Hour}), lifetime, nil},

		{"empty", "", VerifierOptions{}, ErrMalformed},
		{"garbage", "not-a-jwt", VerifierOptions{}, ErrMalformed},
		{"two segments", "eyJhbGciOiJIUzI1NiJ9.e30", VerifierOptions{}, ErrMalformed},
		{"alg none", noneToken, VerifierOptions{}, ErrBadSignature},
		{"alg none, signature stripped", strings.TrimSuffix(noneToken, ".") + ".", VerifierOptions{}, ErrBadSignature},
		{"HS384", sign(t, jwt.SigningMethodHS384, testSecret, valid), VerifierOptions{}, ErrBadSignature},
		{"HS512", sign(t, jwt.SigningMethodHS512, testSecret, valid), VerifierOptions{}, ErrBadSignature},
		{"RS256", sign(t, jwt.SigningMethodRS256, rsaKey, valid), VerifierOptions{}, ErrBadSignature},
		{"wrong secret", sign(t, jwt.SigningMethodHS256, []byte("another-secret-of-at-least-32-bytes!"), valid), VerifierOptions{}, ErrBadSignature},
		{"tampered payload", tamper(sign(t, jwt.SigningMethodHS256, testSecret, valid)), VerifierOptions{}, ErrBadSignature},
		{"no exp", sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "x"}), VerifierOptions{}, ErrInvalidClaims},
		{"expired", sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"exp": now.Add(-2 * Leeway).Unix()}), VerifierOptions{}, ErrExpired},
		{"exp not a number", sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"exp": "tomorrow"}), VerifierOptions{}, ErrMalformed},
		// RFC 7519 §2: a NumericDate is a JSON number; encoding/json would
		// read the string "123" as one.
		{"exp a numeric string", sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"exp": fmt.Sprint(now.Add(time.Hour).Unix())}), VerifierOptions{}, ErrMalformed},
		{"exp a boolean", sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"exp": true}), VerifierOptions{}, ErrMalformed},
		{"exp null", sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"exp": nil}), VerifierOptions{}, ErrMalformed},
		{"EXP in capitals a string", sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"EXP": fmt.Sprint(now.Add(time.Hour).Unix())}), VerifierOptions{}, ErrMalformed},
		{"nbf a numeric string", sign(t, jwt.SigningMethodHS256, testSecret, withClaim("nbf", fmt.Sprint(now.Add(-time.Minute).Unix()))), VerifierOptions{}, ErrMalformed},
		{"nbf null", sign(t, jwt.SigningMethodHS256, testSecret, withClaim("nbf", nil)), VerifierOptions{}, ErrMalformed},
		{"iat a numeric string", sign(t, jwt.SigningMethodHS256, testSecret, withClaim("iat", fmt.Sprint(now.Unix()))), VerifierOptions{}, ErrMalformed},
		{"iat a boolean", sign(t, jwt.SigningMethodHS256, testSecret, withClaim("iat", false)), VerifierOptions{}, ErrMalformed},
		// RFC 7515 §4.1.11: gokv understands no extension, so any crit
		// names one it does not understand.
		{"crit naming a header", withCrit([]string{"x"}), VerifierOptions{}, ErrInvalidClaims},
		{"crit naming a claim", withCrit([]string{"exp"}), VerifierOptions{}, ErrInvalidClaims},
		{"crit empty", withCrit([]string{}), VerifierOptions{}, ErrInvalidClaims},
		{"crit not a list", withCrit("x"), VerifierOptions{}, ErrInvalidClaims},
		{"lifetime over the maximum", sign(t, jwt.SigningMethodHS256, testSecret, long), lifetime, ErrInvalidClaims},
		{"no iat with a maximum", sign(t, jwt.SigningMethodHS256, testSecret, valid), lifetime, ErrInvalidClaims},
		{"old iat with a maximum", sign(t, jwt.SigningMethodHS256, testSecret, withClaim("iat", now.Add(-2*time.Hour).Unix())), lifetime, ErrInvalidClaims},
		{"minted over the maximum", mustMint(t, Claims{ExpiresIn: 2 * time.Hour}), lifetime, ErrInvalidClaims},
		{"nbf in the future", sign(t, jwt.SigningMethodHS256, testSecret, withClaim("nbf", now.Add(2*Leeway).Unix())), VerifierOptions{}, ErrInvalidClaims},
		{"iat in the future", sign(t, jwt.SigningMethodHS256, testSecret, withClaim("iat", now.Add(2*Leeway).Unix())), VerifierOptions{}, ErrInvalidClaims},
		{"wrong issuer", sign(t, jwt.SigningMethodHS256, testSecret, withClaim("iss", "someone")), VerifierOptions{Issuer: "ops"}, ErrInvalidClaims},
		{"missing issuer", sign(t, jwt.SigningMethodHS256, testSecret, valid), VerifierOptions{Issuer: "ops"}, ErrInvalidClaims},
		{"wrong audience", sign(t, jwt.SigningMethodHS256, testSecret, withClaim("aud", "other")), VerifierOptions{Audience: "gokv"}, ErrWrongAudience},
		{"missing audience", sign(t, jwt.SigningMethodHS256, testSecret, valid), VerifierOptions{Audience: "gokv"}, ErrWrongAudience},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Twice each, with and without the cache: a refused token
			// must stay refused, never be remembered as good.
			for _, size := range []int{0, 8} {
				opts := tt.opts
				opts.CacheSize = size
				v, err := NewVerifier(testSecret, opts)
				if err != nil {
					t.Fatal(err)
				}
				for range 2 {
					_, err = v.Verify(tt.token)
					if tt.want == nil && err != nil {
						t.Fatalf("Verify (cache size %d): %v, want success", size, err)
					}
					if tt.want != nil && (!errors.Is(err, ErrInvalidToken) || !errors.Is(err, tt.want)) {
						t.Fatalf("Verify (cache size %d): err = %v, want ErrInvalidToken and %v", size, err, tt.want)
					}
				}
			}
		})
	}
}

// tamper flips a character of the payload, keeping the signature.
func tamper(token string) string {
	parts := strings.Split(token, ".")
	p := []byte(parts[1])
	p[len(p)/2] ^= 1
	parts[1] = string(p)
	return strings.Join(parts, ".")
}

func mustMint(t testing.TB, c Claims) string {
	t.Helper()
	token, err := Mint(testSecret, c, time.Now())
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return token
}

func TestMintClaims(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	token, err := Mint(testSecret, Claims{Subject: "ci", Issuer: "ops", Audience: "gokv", ExpiresIn: 90 * time.Minute,
		Scope: ScopeRead | ScopeAdmin, Buckets: []string{"cfg", "team-*"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	var claims mintedClaims
	parsed, _, err := jwt.NewParser().ParseUnverified(token, &claims)
	if err != nil {
		t.Fatal(err)
	}
	if alg := parsed.Header["alg"]; alg != "HS256" {
		t.Errorf("alg = %v, want HS256", alg)
	}
	if kid := parsed.Header["kid"]; kid != KeyID(testSecret) {
		t.Errorf("kid = %v, want %s", kid, KeyID(testSecret))
	}
	if claims.Scope != "read admin" || !reflect.DeepEqual(claims.Buckets, []string{"cfg", "team-*"}) {
		t.Errorf("scope = %q, buckets = %q", claims.Scope, claims.Buckets)
	}
	// Without Scope and Buckets, neither claim: such a token keeps its
	// old meaning on every server.
	plain, _, err := jwt.NewParser().ParseUnverified(mustMint(t, Claims{ExpiresIn: time.Minute}), jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"scope", "buckets"} {
		if v, ok := plain.Claims.(jwt.MapClaims)[name]; ok {
			t.Errorf("a token minted without %s has %s = %v", name, name, v)
		}
	}
	if claims.Subject != "ci" || claims.Issuer != "ops" || len(claims.Audience) != 1 || claims.Audience[0] != "gokv" {
		t.Errorf("claims = %+v", claims)
	}
	if got := claims.ExpiresAt.Time; !got.Equal(now.Add(90 * time.Minute)) {
		t.Errorf("exp = %v, want %v", got, now.Add(90*time.Minute))
	}
	if got := claims.IssuedAt.Time; !got.Equal(now) {
		t.Errorf("iat = %v, want %v", got, now)
	}
}

func TestMintRejects(t *testing.T) {
	tests := []struct {
		name   string
		secret []byte
		c      Claims
	}{
		{"empty secret", nil, Claims{ExpiresIn: time.Hour}},
		{"short secret", []byte("31-bytes-is-one-byte-too-short!"), Claims{ExpiresIn: time.Hour}},
		{"whitespace secret", []byte(strings.Repeat(" \t\n", 16)), Claims{ExpiresIn: time.Hour}},
		{"no expiry", testSecret, Claims{}},
		{"negative expiry", testSecret, Claims{ExpiresIn: -time.Second}},
		{"empty buckets", testSecret, Claims{ExpiresIn: time.Hour, Buckets: []string{}}},
		{"bad bucket pattern", testSecret, Claims{ExpiresIn: time.Hour, Buckets: []string{"cfg", "a*b"}}},
		{"reserved bucket", testSecret, Claims{ExpiresIn: time.Hour, Buckets: []string{"_txn"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if token, err := Mint(tt.secret, tt.c, time.Now()); err == nil {
				t.Fatalf("Mint succeeded with %q", token)
			}
		})
	}
}

func TestNewVerifierRejectsShortSecret(t *testing.T) {
	if _, err := NewVerifier([]byte("short"), VerifierOptions{}); err == nil {
		t.Fatal("NewVerifier accepted a 5-byte secret")
	}
}
