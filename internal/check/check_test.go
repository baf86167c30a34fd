package check_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/apitest"
	"github.com/gokv-service/gokv/internal/check"
	"github.com/gokv-service/gokv/internal/client"
)

func TestRoundTripPassesOnAWorkingServer(t *testing.T) {
	srv := apitest.Start(t)
	var out bytes.Buffer
	if err := check.RoundTrip(context.Background(), client.New(srv.URL, srv.Token, nil), "gokv-check", &out); err != nil {
		t.Fatalf("RoundTrip: %v\n%s", err, out.String())
	}
	if n := strings.Count(out.String(), "ok   "); n != 7 {
		t.Errorf("%d steps reported ok, want 7:\n%s", n, out.String())
	}
}

// TestRoundTripCatchesBrokenServers puts a faulty proxy in front of a real
// server: the check must notice each fault.
func TestRoundTripCatchesBrokenServers(t *testing.T) {
	tests := []struct {
		name    string
		fault   func(*http.Response) error
		request func(*http.Request)
		want    string
	}{
		{
			name: "corrupted reads",
			fault: func(r *http.Response) error {
				if r.Request.Method == http.MethodGet && r.StatusCode == http.StatusOK {
					r.Body = io.NopCloser(strings.NewReader("something else"))
					r.ContentLength = -1
					r.Header.Del("Content-Length")
				}
				return nil
			},
			want: "read back",
		},
		{
			name: "lost content type",
			fault: func(r *http.Response) error {
				if r.Request.Method == http.MethodGet && r.StatusCode == http.StatusOK {
					r.Header.Set("Content-Type", "application/octet-stream")
				}
				return nil
			},
			want: "Content-Type",
		},
		{
			name: "authentication bypassed",
			request: func(r *http.Request) {
				r.Header.Set("Authorization", "Bearer "+apitest.MintToken(t, time.Hour))
			},
			want: "without a token was not refused",
		},
		{
			name: "deletes ignored",
			request: func(r *http.Request) {
				if r.Method == http.MethodDelete {
					r.Method = http.MethodHead
				}
			},
			want: "delete",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := apitest.Start(t)
			target, _ := url.Parse(srv.URL)
			proxy := httputil.NewSingleHostReverseProxy(target)
			proxy.ModifyResponse = tt.fault
			if tt.request != nil {
				director := proxy.Director
				proxy.Director = func(r *http.Request) {
					director(r)
					tt.request(r)
				}
			}
			broken := httptest.NewServer(proxy)
			defer broken.Close()

			err := check.RoundTrip(context.Background(), client.New(broken.URL, srv.Token, nil), "gokv-check", io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("RoundTrip through a proxy with %s: %v, want an error about %q", tt.name, err, tt.want)
			}
		})
	}
}
