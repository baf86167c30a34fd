package server

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/auth"
	"github.com/gokv-service/gokv/internal/oidc/oidctest"
)

// BenchmarkPointGetByToken compares a point GET through the whole server
// (TCP, net/http, Gin, the token check, Badger) with an HS256 token and
// with service-account-like RS256 and ES256 tokens. Every request after
// the first finds its token in the verified-token cache, so the issuer's
// tokens should cost about what HS256 tokens do (docs/performance.md).
func BenchmarkPointGetByToken(b *testing.B) {
	iss := oidctest.New(b)
	iss.AddRSA(b, "rsa")
	iss.AddEC(b, "ec")
	url, _, _ := runServer(b, oidcConfig(b, iss))
	hs, err := auth.Mint([]byte(testSecret), auth.Claims{Subject: "bench", ExpiresIn: time.Hour}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	tokens := []struct{ name, token string }{
		{"HS256", hs},
		{"RS256", saToken(b, iss, "rsa", saWriter, "gokv")},
		{"ES256", saToken(b, iss, "ec", saWriter, "gokv")},
	}
	const keys = 1000
	for i := range keys {
		req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/team-a/key-%d", url, i), strings.NewReader(strings.Repeat("v", 100)))
		req.Header.Set("Authorization", "Bearer "+hs)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusCreated {
			b.Fatalf("preload: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	waitUntil := time.Now().Add(10 * time.Second)
	for getStatus(b, http.DefaultClient, url+"/team-a/key-0", tokens[1].token) != http.StatusOK {
		if time.Now().After(waitUntil) {
			b.Fatal("the issuer's keys were not loaded within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, tt := range tokens {
		b.Run(tt.name, func(b *testing.B) {
			var n atomic.Int64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				client := &http.Client{}
				for pb.Next() {
					if s := getStatus(b, client, fmt.Sprintf("%s/team-a/key-%d", url, n.Add(1)%keys), tt.token); s != http.StatusOK {
						b.Errorf("GET: %d", s)
					}
				}
			})
		})
	}
}

func getStatus(b testing.TB, client *http.Client, url, token string) int {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		b.Error(err)
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
