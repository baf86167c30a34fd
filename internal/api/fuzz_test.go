package api_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gokv-service/gokv/internal/apitest"
)

// FuzzHandler sends arbitrary requests to the real router over a real
// Badger: whatever the method, path, headers and body, the answer is
// never a 5xx (a panic would be one) and never a 2xx without a valid
// token, except from the two probes.
func FuzzHandler(f *testing.F) {
	ts := apitest.Start(f)
	// Keys that exist, so that a request that slips past authentication
	// gets a 2xx and shows.
	for _, key := range []string{"k", "a/b", "x y"} {
		ts.MustPut(f, "b", key, []byte("v"))
	}
	f.Add("PUT", "/b/k", uint8(1), "text/plain", []byte("v"))
	f.Add("GET", "/b/k", uint8(1), "", []byte(nil))
	f.Add("HEAD", "/b/a%2Fb", uint8(1), "", []byte(nil))
	f.Add("DELETE", "/b/k", uint8(1), "", []byte(nil))
	f.Add("POST", "/b/%FF", uint8(1), "text/plain; charset=utf-8", []byte("x"))
	f.Add("PUT", "/b/k", uint8(0), "", []byte("v"))
	f.Add("HEAD", "/b/k", uint8(0), "", []byte(nil))
	f.Add("DELETE", "/b/a%2Fb", uint8(2), "", []byte(nil))
	f.Add("GET", "/b/k", uint8(2), "eyJhbGciOiJub25lIn0.eyJleHAiOjk5OTk5OTk5OTl9.", []byte(nil))
	f.Add("PATCH", "/a:b/c", uint8(3), "Basic dXNlcjpwYXNz", []byte("{}"))
	f.Add("GET", "/healthz", uint8(0), "", []byte(nil))
	f.Add("PUT", "/b/ct", uint8(1), "not a type;;", []byte("v"))
	f.Fuzz(func(t *testing.T, method, path string, auth uint8, header string, body []byte) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequest(method, "http://gokv"+path, bytes.NewReader(body))
		if err != nil {
			return // not a request net/http would pass to the handler
		}
		validToken := false
		switch auth % 4 {
		case 0: // no Authorization; header is the content type
			req.Header.Set("Content-Type", header)
		case 1:
			req.Header.Set("Authorization", "Bearer "+ts.Token)
			req.Header.Set("Content-Type", header)
			validToken = true
		case 2:
			req.Header.Set("Authorization", "Bearer "+header)
		case 3:
			req.Header.Set("Authorization", header)
		}
		w := httptest.NewRecorder()
		ts.Handler.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %q (auth %d, header %q): %d %s", method, path, auth%4, header, w.Code, w.Body)
		}
		probe := req.URL.Path == "/healthz" || req.URL.Path == "/readyz"
		if w.Code/100 == 2 && !validToken && !probe {
			t.Fatalf("%s %q without a valid token (auth %d, header %q): %d", method, path, auth%4, header, w.Code)
		}
	})
}
