package auth

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// clock is a settable time source for verifiers under test.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestCachedTokenExpires(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	token, err := Mint(testSecret, Claims{ExpiresIn: time.Minute}, c.t)
	if err != nil {
		t.Fatal(err)
	}
	cached, err := NewVerifier(testSecret, VerifierOptions{CacheSize: 8, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := NewVerifier(testSecret, VerifierOptions{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	exp := c.t.Add(time.Minute)
	tests := []struct {
		at time.Time
		ok bool
	}{
		{c.t, true},
		{c.t, true}, // now from the cache
		{exp, true},
		{exp.Add(Leeway - time.Second), true},
		{exp.Add(Leeway), false},
		{exp.Add(time.Hour), false},
	}
	for _, tt := range tests {
		c.t = tt.at
		for name, v := range map[string]*Verifier{"cached": cached, "uncached": plain} {
			_, err := v.Verify(token)
			if (err == nil) != tt.ok {
				t.Errorf("%s Verify at exp%+v = %v, want ok=%v", name, tt.at.Sub(exp), err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidToken) {
				t.Errorf("%s Verify: %v does not wrap ErrInvalidToken", name, err)
			}
		}
	}
	if n := cachedTokens(cached.cache); n != 0 {
		t.Errorf("the expired token is still cached (%d entries)", n)
	}
}

func TestCacheIsBounded(t *testing.T) {
	const size = 4
	v, err := NewVerifier(testSecret, VerifierOptions{CacheSize: size})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		token := mustMint(t, Claims{Subject: fmt.Sprint("client-", i), ExpiresIn: time.Hour})
		if _, err := v.Verify(token); err != nil {
			t.Fatalf("Verify #%d: %v", i, err)
		}
		if n := cachedTokens(v.cache); n > size {
			t.Fatalf("cache holds %d tokens, bound is %d", n, size)
		}
	}
}

func TestCacheNeverAcceptsAlteredToken(t *testing.T) {
	v, err := NewVerifier(testSecret, VerifierOptions{CacheSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	token := mustMint(t, Claims{ExpiresIn: time.Hour})
	if _, err := v.Verify(token); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{tamper(token), token + "x", token[:len(token)-1], " " + token} {
		if _, err := v.Verify(bad); err == nil {
			t.Errorf("Verify(%q) succeeded after the genuine token was cached", bad)
		}
	}
}

// FuzzVerify feeds arbitrary strings to a caching and a non-caching
// verifier: neither may panic, they must agree, and an accepted token
// must really be an HS256 JWT signed with the secret. Each input is also
// spliced over the tail of a genuine token that is in the cache, since
// tokens that share most of a cached token are where a cache could go
// wrong.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	genuine, err := Mint(testSecret, Claims{Subject: "genuine", ExpiresIn: time.Hour}, now)
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range []Claims{{ExpiresIn: time.Hour}, {Subject: "s", Issuer: "i", Audience: "a", ExpiresIn: time.Minute}} {
		token, err := Mint(testSecret, c, now)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(token)
		f.Add(tamper(token))
	}
	f.Add("")
	f.Add("a.b.c")
	f.Add("x")
	f.Add("eyJhbGciOiJub25lIn0.eyJleHAiOjk5OTk5OTk5OTl9.")
	cached, err := NewVerifier(testSecret, VerifierOptions{CacheSize: 16, Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	plain, err := NewVerifier(testSecret, VerifierOptions{Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, input string) {
		if _, err := cached.Verify(genuine); err != nil {
			t.Fatalf("the genuine token: %v", err)
		}
		spliced := genuine[:max(0, len(genuine)-len(input))] + input
		for _, token := range []string{input, spliced} {
			_, want := plain.Verify(token)
			for range 2 { // the second call may be answered by the cache
				if _, got := cached.Verify(token); (got == nil) != (want == nil) {
					t.Fatalf("cached Verify(%q) = %v, uncached %v", token, got, want)
				}
			}
			if want != nil {
				if !errors.Is(want, ErrInvalidToken) {
					t.Fatalf("Verify(%q) = %v, does not wrap ErrInvalidToken", token, want)
				}
				continue
			}
			parsed, err := jwt.Parse(token, func(*jwt.Token) (any, error) { return testSecret, nil },
				jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithValidMethods([]string{"HS256"}))
			if err != nil || !parsed.Valid {
				t.Fatalf("Verify accepted %q, which is not a valid HS256 token: %v", token, err)
			}
		}
	})
}

// BenchmarkVerify compares a full verification with a cache hit, the
// per-request cost of authentication.
func BenchmarkVerify(b *testing.B) {
	token := mustMint(b, Claims{Subject: "bench", ExpiresIn: time.Hour})
	for _, size := range []int{0, 1024} {
		b.Run(fmt.Sprintf("cache=%d", size), func(b *testing.B) {
			v, err := NewVerifier(testSecret, VerifierOptions{CacheSize: size})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := v.Verify(token); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func cachedTokens(c *tokenCache) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.tokens)
}
