package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/kv"

	"github.com/gin-gonic/gin"

	"github.com/gokv-service/gokv/internal/api"
	"github.com/gokv-service/gokv/internal/apitest"
	"github.com/gokv-service/gokv/internal/auth"
)

// testServer wraps apitest's real stack with request helpers.
type testServer struct {
	*apitest.Server
}

func newTestServer(t testing.TB) *testServer {
	return &testServer{apitest.Start(t)}
}

const testMaxValue = apitest.DefaultMaxValue

type response struct {
	status int
	header http.Header
	body   []byte
}

// request sends one request with the server's valid token unless headers
// set Authorization (to "" for none). path is sent exactly as written.
func (ts *testServer) request(t testing.TB, method, path string, body io.Reader, headers map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+ts.Token)
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (ts *testServer) put(t testing.TB, path, value, contentType string) response {
	t.Helper()
	return ts.request(t, http.MethodPut, path, strings.NewReader(value), map[string]string{"Content-Type": contentType})
}

// wantStatus fails the test when r has another status.
func (r response) wantStatus(t testing.TB, want int, what string) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: status %d, want %d (body %q)", what, r.status, want, r.body)
	}
}

// errorMessage decodes a JSON error body, failing the test when the body
// is not one.
func (r response) errorMessage(t testing.TB) string {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error response Content-Type = %q, want application/json", ct)
	}
	var body struct {
		Error     string `json:"error"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Error == "" {
		t.Errorf(`error body %q is not {"error": "..."}: %v`, r.body, err)
	}
	if id := r.header.Get("X-Request-ID"); body.RequestID != id || id == "" {
		t.Errorf("error body's request_id %q, X-Request-ID %q: want the same id", body.RequestID, id)
	}
	return body.Error
}

func TestWriteReadDelete(t *testing.T) {
	ts := newTestServer(t)

	r := ts.request(t, http.MethodPost, "/b/k", strings.NewReader("one"), map[string]string{"Content-Type": "text/plain"})
	r.wantStatus(t, http.StatusCreated, "POST of a new key")
	if loc := r.header.Get("Location"); loc != "/b/k" {
		t.Errorf("Location = %q, want /b/k", loc)
	}

	r = ts.request(t, http.MethodGet, "/b/k", nil, nil)
	r.wantStatus(t, http.StatusOK, "GET")
	if string(r.body) != "one" || r.header.Get("Content-Type") != "text/plain" {
		t.Errorf("GET = %q %q, want text/plain one", r.header.Get("Content-Type"), r.body)
	}

	ts.put(t, "/b/k", `{"n":2}`, "application/json").wantStatus(t, http.StatusNoContent, "PUT replacing a value")
	r = ts.request(t, http.MethodHead, "/b/k", nil, nil)
	r.wantStatus(t, http.StatusOK, "HEAD")
	if len(r.body) != 0 || r.header.Get("Content-Length") != "7" || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("HEAD: body %q, Content-Length %q, Content-Type %q; want no body, 7, application/json",
			r.body, r.header.Get("Content-Length"), r.header.Get("Content-Type"))
	}

	ts.request(t, http.MethodDelete, "/b/k", nil, nil).wantStatus(t, http.StatusNoContent, "DELETE")
	r = ts.request(t, http.MethodGet, "/b/k", nil, nil)
	r.wantStatus(t, http.StatusNotFound, "GET after DELETE")
	if msg := r.errorMessage(t); msg != "not found" {
		t.Errorf("GET after DELETE: error %q, want \"not found\"", msg)
	}
	ts.request(t, http.MethodHead, "/b/k", nil, nil).wantStatus(t, http.StatusNotFound, "HEAD after DELETE")
	r = ts.request(t, http.MethodDelete, "/b/k", nil, nil)
	r.wantStatus(t, http.StatusNotFound, "second DELETE")
	r.errorMessage(t)
}

func TestStoredBytesAndContentType(t *testing.T) {
	ts := newTestServer(t)
	binary := string([]byte{0, 1, 2, 0xff, '\n', 0})
	tests := []struct {
		name, value, contentType, wantType string
	}{
		{"default type", "raw", "", "application/octet-stream"},
		{"type with parameters", "héllo", "text/plain; charset=utf-8", "text/plain; charset=utf-8"},
		{"binary", binary, "application/octet-stream", "application/octet-stream"},
		{"empty value", "", "text/plain", "text/plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/b/" + strings.ReplaceAll(tt.name, " ", "-")
			ts.put(t, path, tt.value, tt.contentType).wantStatus(t, http.StatusCreated, "PUT")
			r := ts.request(t, http.MethodGet, path, nil, nil)
			r.wantStatus(t, http.StatusOK, "GET")
			if string(r.body) != tt.value || r.header.Get("Content-Type") != tt.wantType {
				t.Errorf("GET = %q %q, want %q %q", r.header.Get("Content-Type"), r.body, tt.wantType, tt.value)
			}
		})
	}
}

// TestKeyPaths checks that the key is the whole rest of the path, unescaped
// exactly once as a path: %2F is a slash, '+' and %2B are plus signs, %20
// is a space.
func TestKeyPaths(t *testing.T) {
	ts := newTestServer(t)
	tests := []struct {
		name      string
		writePath string
		readPath  string
		bucket    string
		key       string
	}{
		{"hierarchical", "/cfg/app/db/url", "/cfg/app%2Fdb%2Furl", "cfg", "app/db/url"},
		{"escaped slashes", "/cfg/a%2Fb", "/cfg/a/b", "cfg", "a/b"},
		{"plus", "/b/a+b", "/b/a%2Bb", "b", "a+b"},
		{"space", "/b/a%20b", "/b/a%20b", "b", "a b"},
		{"colon", "/b/x:y", "/b/x%3Ay", "b", "x:y"},
		{"unicode", "/b/%C3%A9t%C3%A9", "/b/%c3%a9t%c3%a9", "b", "été"},
		{"trailing slash", "/b/dir/", "/b/dir%2F", "b", "dir/"},
		{"double slash", "/b/a//b", "/b/a%2F%2Fb", "b", "a//b"},
		{"percent", "/b/100%25", "/b/100%25", "b", "100%"},
		{"query is not the key", "/b/q?x=1", "/b/q", "b", "q"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts.put(t, tt.writePath, tt.name, "text/plain").wantStatus(t, http.StatusCreated, "PUT "+tt.writePath)
			r := ts.request(t, http.MethodGet, tt.readPath, nil, nil)
			r.wantStatus(t, http.StatusOK, "GET "+tt.readPath)
			if string(r.body) != tt.name {
				t.Errorf("GET %s = %q, want %q", tt.readPath, r.body, tt.name)
			}
			if _, err := ts.Store.Get(context.Background(), tt.bucket, tt.key, nil); err != nil {
				t.Errorf("store has no key %q in bucket %q: %v", tt.key, tt.bucket, err)
			}
		})
	}
}

func TestBucketsDoNotAlias(t *testing.T) {
	ts := newTestServer(t)
	ts.put(t, "/a/b:c", "in a", "").wantStatus(t, http.StatusCreated, "PUT /a/b:c")
	r := ts.put(t, "/a:b/c", "in a:b", "")
	r.wantStatus(t, http.StatusBadRequest, "PUT /a:b/c")
	r.errorMessage(t)
	if r := ts.request(t, http.MethodGet, "/a/b:c", nil, nil); string(r.body) != "in a" {
		t.Errorf("GET /a/b:c = %q, want \"in a\"", r.body)
	}
}

func TestBadRequests(t *testing.T) {
	ts := newTestServer(t)
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name   string
		method string
		path   string
		header map[string]string
		want   int
	}{
		{"bucket with bad character", http.MethodGet, "/b!d/k", nil, http.StatusBadRequest},
		{"bucket with escaped slash", http.MethodPut, "/a%2Fb/k", nil, http.StatusBadRequest},
		{"bucket with space", http.MethodPut, "/a%20b/k", nil, http.StatusBadRequest},
		{"bucket too long", http.MethodPut, "/" + long(kv.MaxBucketLen+1) + "/k", nil, http.StatusBadRequest},
		{"longest bucket", http.MethodPut, "/" + long(kv.MaxBucketLen) + "/k", nil, http.StatusCreated},
		{"key too long", http.MethodPut, "/b/" + long(kv.MaxKeyLen+1), nil, http.StatusBadRequest},
		{"longest key", http.MethodPut, "/b/" + long(kv.MaxKeyLen), nil, http.StatusCreated},
		{"key not UTF-8", http.MethodPut, "/b/%FF", nil, http.StatusBadRequest},
		{"empty key", http.MethodPut, "/b/", nil, http.StatusBadRequest},
		{"no key", http.MethodGet, "/b", nil, http.StatusNotFound},
		{"bad content type", http.MethodPut, "/b/ct", map[string]string{"Content-Type": "not a type;;"}, http.StatusBadRequest},
		{"long content type", http.MethodPut, "/b/ct", map[string]string{"Content-Type": "text/" + long(300)}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.request(t, tt.method, tt.path, strings.NewReader("v"), tt.header)
			r.wantStatus(t, tt.want, tt.method+" "+tt.path)
			if tt.want >= 400 {
				r.errorMessage(t)
			}
		})
	}
}

func TestValueSizeLimit(t *testing.T) {
	ts := newTestServer(t)
	tests := []struct {
		name    string
		size    int
		chunked bool
		want    int
	}{
		{"at the limit", testMaxValue, false, http.StatusCreated},
		{"over the limit", testMaxValue + 1, false, http.StatusRequestEntityTooLarge},
		{"chunked at the limit", testMaxValue, true, http.StatusCreated},
		{"chunked over the limit", testMaxValue + 1, true, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/size/" + strings.ReplaceAll(tt.name, " ", "-")
			var body io.Reader = bytes.NewReader(bytes.Repeat([]byte("v"), tt.size))
			if tt.chunked {
				// Hiding the length makes the client send chunks.
				body = io.MultiReader(body)
			}
			r := ts.request(t, http.MethodPut, path, body, nil)
			r.wantStatus(t, tt.want, "PUT")
			if tt.want == http.StatusRequestEntityTooLarge {
				if msg := r.errorMessage(t); !strings.Contains(msg, fmt.Sprint(testMaxValue, " bytes")) {
					t.Errorf("413 message %q does not state the limit", msg)
				}
				ts.request(t, http.MethodGet, path, nil, nil).wantStatus(t, http.StatusNotFound, "GET of a refused value")
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	ts := newTestServer(t)
	tests := []struct {
		method, path string
		allow        []string
	}{
		{http.MethodPatch, "/b/k", []string{"GET", "HEAD", "POST", "PUT", "DELETE"}},
		{http.MethodOptions, "/b/k", []string{"GET", "HEAD", "POST", "PUT", "DELETE"}},
		{http.MethodPost, "/healthz", []string{"GET", "HEAD"}},
		{http.MethodDelete, "/readyz", []string{"GET", "HEAD"}},
	}
	for _, tt := range tests {
		r := ts.request(t, tt.method, tt.path, nil, nil)
		r.wantStatus(t, http.StatusMethodNotAllowed, tt.method+" "+tt.path)
		r.errorMessage(t)
		allow := r.header.Get("Allow")
		for _, m := range tt.allow {
			if !strings.Contains(allow, m) {
				t.Errorf("%s %s: Allow = %q, missing %s", tt.method, tt.path, allow, m)
			}
		}
	}
}

func TestAuthentication(t *testing.T) {
	ts := newTestServer(t)
	ts.put(t, "/b/k", "secret value", "").wantStatus(t, http.StatusCreated, "PUT with a valid token")

	otherSecret := []byte("another-secret-that-is-32-bytes!")
	foreign, err := auth.Mint(otherSecret, auth.Claims{ExpiresIn: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	expired, err := auth.Mint(apitest.Secret, auth.Claims{ExpiresIn: time.Minute}, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		authorization string
		challenge     string
	}{
		{"no header", "", `Bearer realm="gokv"`},
		{"basic scheme", "Basic dXNlcjpwYXNz", `Bearer realm="gokv"`},
		{"bearer without token", "Bearer ", `Bearer realm="gokv"`},
		{"token without scheme", ts.Token, `Bearer realm="gokv"`},
		{"garbage token", "Bearer abc.def.ghi", `Bearer realm="gokv", error="invalid_token"`},
		{"wrong secret", "Bearer " + foreign, `Bearer realm="gokv", error="invalid_token"`},
		{"expired", "Bearer " + expired, `Bearer realm="gokv", error="invalid_token"`},
		{"alg none", "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJleHAiOjQxMDI0NDQ4MDB9.", `Bearer realm="gokv", error="invalid_token"`},
	}
	for _, tt := range tests {
		for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete} {
			t.Run(tt.name+"/"+method, func(t *testing.T) {
				r := ts.request(t, method, "/b/k", strings.NewReader("overwritten"), map[string]string{"Authorization": tt.authorization})
				r.wantStatus(t, http.StatusUnauthorized, method)
				if got := r.header.Get("WWW-Authenticate"); got != tt.challenge {
					t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
				}
				if method != http.MethodHead {
					if msg := r.errorMessage(t); msg != "missing bearer token" && msg != "invalid token" {
						t.Errorf("error %q tells the client more than that the token is missing or invalid", msg)
					}
				}
			})
		}
	}
	if r := ts.request(t, http.MethodGet, "/b/k", nil, nil); string(r.body) != "secret value" {
		t.Errorf("after rejected writes, value = %q, want it untouched", r.body)
	}
	r := ts.request(t, http.MethodGet, "/b/k", nil, map[string]string{"Authorization": "bearer " + ts.Token})
	r.wantStatus(t, http.StatusOK, "GET with a lower-case scheme")
}

func TestHealthAndReadiness(t *testing.T) {
	ts := newTestServer(t)
	noToken := map[string]string{"Authorization": ""}
	ts.request(t, http.MethodGet, "/healthz", nil, noToken).wantStatus(t, http.StatusOK, "GET /healthz")
	ts.request(t, http.MethodHead, "/healthz", nil, noToken).wantStatus(t, http.StatusOK, "HEAD /healthz")
	ts.request(t, http.MethodGet, "/readyz", nil, noToken).wantStatus(t, http.StatusOK, "GET /readyz")

	ts.Ready.Store(false)
	r := ts.request(t, http.MethodGet, "/readyz", nil, noToken)
	r.wantStatus(t, http.StatusServiceUnavailable, "GET /readyz while not ready")
	r.errorMessage(t)
	ts.request(t, http.MethodGet, "/healthz", nil, noToken).wantStatus(t, http.StatusOK, "GET /healthz while not ready")

	// A bucket may be called healthz: only the exact paths are probes.
	ts.put(t, "/healthz/k", "v", "").wantStatus(t, http.StatusCreated, "PUT /healthz/k")
}

func TestUnknownPath(t *testing.T) {
	ts := newTestServer(t)
	r := ts.request(t, http.MethodGet, "/", nil, nil)
	r.wantStatus(t, http.StatusNotFound, "GET /")
	r.errorMessage(t)
}

func TestClosedStoreIsUnavailable(t *testing.T) {
	ts := newTestServer(t)
	ts.put(t, "/b/k", "v", "").wantStatus(t, http.StatusCreated, "PUT")
	if err := ts.Store.Close(); err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		r := ts.request(t, method, "/b/k", strings.NewReader("v"), nil)
		r.wantStatus(t, http.StatusServiceUnavailable, method+" on a closed store")
		r.errorMessage(t)
	}
}

func TestInvalidTrustedProxy(t *testing.T) {
	_, err := api.NewRouter(api.Options{TrustedProxies: []string{"not-an-ip"}, Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		t.Fatal("NewRouter accepted a bad trusted proxy")
	}
}

// TestLivenessNamesTheReason: while the store reports that the process
// needs a restart, /healthz and /readyz answer 503 with the reason.
func TestLivenessNamesTheReason(t *testing.T) {
	gin.SetMode(gin.TestMode)
	stalled := fmt.Errorf("%w: a commit has held the write path for 31s", kv.ErrStalled)
	router, err := api.NewRouter(api.Options{
		Ready:  func() bool { return true },
		Live:   func() error { return stalled },
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		rec := httptest.NewRecorder()
		router.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		var body struct{ Error string }
		if rec.Code != http.StatusServiceUnavailable || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
			t.Errorf("GET %s = %d %q, want 503 with a JSON error", path, rec.Code, rec.Body)
		}
		if path == "/healthz" && !strings.Contains(body.Error, "write path stalled") {
			t.Errorf("GET /healthz error = %q, want the reason", body.Error)
		}
	}
}
