package oidc_test

import (
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/auth"
	"github.com/gokv-service/gokv/internal/oidc"
	"github.com/gokv-service/gokv/internal/oidc/oidctest"
)

// BenchmarkVerify is the token check alone, by kind of token, with the
// verified-token cache (as the server runs) and without (the cost of a
// token's first request): RS256 costs far more than HS256 to verify, and
// the cache is what makes them cost the same after the first request.
func BenchmarkVerify(b *testing.B) {
	iss := oidctest.New(b)
	iss.AddRSA(b, "rsa")
	iss.AddEC(b, "ec")
	hs, err := auth.Mint([]byte(hsSecret), auth.Claims{Subject: "bench", ExpiresIn: time.Hour}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	tokens := []struct{ name, token string }{
		{"HS256", hs},
		{"RS256", oidctest.Sign(b, iss.Key("rsa"), "rsa", claims(iss, writer))},
		{"ES256", oidctest.Sign(b, iss.Key("ec"), "ec", claims(iss, writer))},
	}
	for _, cache := range []struct {
		name string
		size int
	}{{"cached", 1024}, {"uncached", 0}} {
		v := newVerifier(b, iss, cache.size, oidc.Options{})
		waitVerified(b, v, tokens[1].token)
		for _, tt := range tokens {
			b.Run(cache.name+"/"+tt.name, func(b *testing.B) {
				for b.Loop() {
					if _, err := v.Verify(tt.token); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
