package api_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestDotSegmentsAreRefused(t *testing.T) {
	ts := newTestServer(t)
	tests := []struct {
		path string
		want int
	}{
		{"/b/./k", http.StatusBadRequest},
		{"/b/../k", http.StatusBadRequest},
		{"/b/a/../k", http.StatusBadRequest},
		{"/b/a/.", http.StatusBadRequest},
		{"/b/..", http.StatusBadRequest},
		{"/b/%2E%2E/k", http.StatusBadRequest},
		{"/b/a/%2e", http.StatusBadRequest},
		{"/b/a%2F..%2Fk", http.StatusBadRequest},
		{"/../k", http.StatusBadRequest},
		{"/%2E/k", http.StatusBadRequest},
		{"/b/.hidden", http.StatusCreated},
		{"/b/a..b/...", http.StatusCreated},
		{"/.b/k", http.StatusCreated},
	}
	for _, tt := range tests {
		for _, method := range []string{http.MethodPut, http.MethodGet, http.MethodDelete} {
			t.Run(tt.path+"/"+method, func(t *testing.T) {
				want := tt.want
				if want == http.StatusCreated && method != http.MethodPut {
					want = http.StatusNoContent
					if method == http.MethodGet {
						want = http.StatusOK
					}
				}
				r := ts.request(t, method, tt.path, strings.NewReader("v"), nil)
				r.wantStatus(t, want, method+" "+tt.path)
				if want >= 400 {
					r.errorMessage(t)
				}
			})
		}
	}
}

func TestTwoAuthorizationHeadersAreRefused(t *testing.T) {
	ts := newTestServer(t)
	ts.put(t, "/b/k", "original", "").wantStatus(t, http.StatusCreated, "PUT")
	tests := []struct {
		name   string
		values []string
	}{
		{"the same token twice", []string{"Bearer " + ts.Token, "Bearer " + ts.Token}},
		{"valid then invalid", []string{"Bearer " + ts.Token, "Bearer abc.def.ghi"}},
		{"invalid then valid", []string{"Bearer abc.def.ghi", "Bearer " + ts.Token}},
		{"valid then empty", []string{"Bearer " + ts.Token, ""}},
	}
	for _, tt := range tests {
		for _, method := range []string{http.MethodGet, http.MethodPut} {
			t.Run(tt.name+"/"+method, func(t *testing.T) {
				req, err := http.NewRequest(method, ts.URL+"/b/k", strings.NewReader("overwritten"))
				if err != nil {
					t.Fatal(err)
				}
				req.Header["Authorization"] = tt.values
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				r := readResponse(t, resp)
				r.wantStatus(t, http.StatusBadRequest, method+" with two Authorization headers")
				if msg := r.errorMessage(t); !strings.Contains(msg, "Authorization") {
					t.Errorf("error %q does not name the Authorization header", msg)
				}
			})
		}
	}
	if r := ts.request(t, http.MethodGet, "/b/k", nil, nil); string(r.body) != "original" {
		t.Errorf("value = %q after refused writes, want it untouched", r.body)
	}
}

// TestRefusedRequestsCloseTheirConnection: a client without a valid token
// must not keep an idle connection, one of MAX_CONNS, open.
func TestRefusedRequestsCloseTheirConnection(t *testing.T) {
	ts := newTestServer(t)
	tests := []struct {
		name   string
		values []string
		want   int
	}{
		{"no token", nil, http.StatusUnauthorized},
		{"bad token", []string{"Bearer abc.def.ghi"}, http.StatusUnauthorized},
		{"two headers", []string{"Bearer " + ts.Token, "Bearer " + ts.Token}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, ts.URL+"/b/k", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header["Authorization"] = tt.values
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			readResponse(t, resp).wantStatus(t, tt.want, "GET")
			if !resp.Close {
				t.Errorf("%d answer keeps the connection open, want Connection: close", resp.StatusCode)
			}
		})
	}
}

// TestValuesCannotRunAsPages stores an HTML page with a script: a browser
// led to its URL must neither sniff nor run it.
func TestValuesCannotRunAsPages(t *testing.T) {
	ts := newTestServer(t)
	ts.put(t, "/b/page", "<script>alert(document.cookie)</script>", "text/html").wantStatus(t, http.StatusCreated, "PUT")
	tests := []struct {
		name, method, path, authorization string
		want                              int
	}{
		{"GET", http.MethodGet, "/b/page", "Bearer " + ts.Token, http.StatusOK},
		{"HEAD", http.MethodHead, "/b/page", "Bearer " + ts.Token, http.StatusOK},
		{"not found", http.MethodGet, "/b/absent", "Bearer " + ts.Token, http.StatusNotFound},
		{"no token", http.MethodGet, "/b/page", "", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.request(t, tt.method, tt.path, nil, map[string]string{"Authorization": tt.authorization})
			r.wantStatus(t, tt.want, tt.method)
			if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
			}
			csp := r.header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "sandbox") {
				t.Errorf("Content-Security-Policy = %q, want default-src 'none' and sandbox", csp)
			}
		})
	}
}

// TestContentLengthWithChunkedCloses sends, on one connection, a PUT with
// both Content-Length and Transfer-Encoding (a request-smuggling shape, RFC
// 9112 §6.1) followed by a GET. net/http uses the chunked length and drops
// Content-Length, but keeps the connection: a proxy in front that used
// Content-Length would read the rest differently. gokv must close it.
func TestContentLengthWithChunkedCloses(t *testing.T) {
	ts := newTestServer(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	auth := "Authorization: Bearer " + ts.Token + "\r\n"
	fmt.Fprintf(conn, "PUT /b/smuggle HTTP/1.1\r\nHost: gokv\r\n%sContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", auth)
	fmt.Fprintf(conn, "GET /b/smuggle HTTP/1.1\r\nHost: gokv\r\n%s\r\n", auth)
	br := bufio.NewReader(conn)
	first, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read the PUT's response: %v", err)
	}
	first.Body.Close()
	if first.StatusCode/100 != 2 && first.StatusCode != http.StatusBadRequest {
		t.Errorf("PUT with Content-Length and Transfer-Encoding: %d, want 2xx or 400", first.StatusCode)
	}
	if !first.Close {
		t.Errorf("the response does not say Connection: close")
	}
	if second, err := http.ReadResponse(br, nil); err == nil {
		second.Body.Close()
		t.Errorf("the connection stayed open and served the next request: %d", second.StatusCode)
	}
}

func readResponse(t testing.TB, resp *http.Response) response {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}
