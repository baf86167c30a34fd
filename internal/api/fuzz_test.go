package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/apitest"
	"github.com/gokv-service/gokv/internal/kv"
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
	f.Add("GET", "/_admin/backup", uint8(1), "", []byte(nil))
	f.Add("POST", "/_admin/restore", uint8(0), "", []byte("GOKVBAK\n\x00\x01E"))
	f.Add("POST", "/_admin/restore?mode=replace", uint8(1), "", []byte("GOKVBAK\n\x00\x01R\x01b"))
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
		case 1: // a token that may do everything, so that every handler is reached
			req.Header.Set("Authorization", "Bearer "+ts.AdminToken)
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

// FuzzConditionalWrite sends writes with fuzzed If-Match, If-None-Match
// and ttl: nothing answers 5xx, and a write refused for any reason leaves
// the key as it was.
func FuzzConditionalWrite(f *testing.F) {
	ts := apitest.Start(f)
	etag := `"` + strconv.FormatUint(ts.MustPut(f, "c", "k", []byte("v")).Version, 10) + `"`
	f.Add("PUT", etag, "", "90s")
	f.Add("POST", "*", "", "")
	f.Add("PUT", "", "*", "1h")
	f.Add("DELETE", `W/"1"`, "", "")
	f.Add("PUT", `"1", "2"`, `"3"`, "1ms")
	f.Add("DELETE", "", "*", "10y")
	f.Fuzz(func(t *testing.T, method, ifMatch, ifNoneMatch, ttl string) {
		before, beforeErr := ts.Store.Get(context.Background(), "c", "k", nil)
		req, err := http.NewRequest(method, "http://gokv/c/k?ttl="+url.QueryEscape(ttl), strings.NewReader("new"))
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+ts.Token)
		for name, v := range map[string]string{"If-Match": ifMatch, "If-None-Match": ifNoneMatch} {
			if v != "" {
				req.Header.Set(name, v)
			}
		}
		w := httptest.NewRecorder()
		ts.Handler.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s If-Match %q If-None-Match %q ttl %q: %d %s", method, ifMatch, ifNoneMatch, ttl, w.Code, w.Body)
		}
		if w.Code/100 == 2 {
			// Put the key back for the next input.
			ts.MustPut(t, "c", "k", []byte("v"))
			return
		}
		after, afterErr := ts.Store.Get(context.Background(), "c", "k", nil)
		if !errors.Is(afterErr, beforeErr) || after.Version != before.Version {
			t.Fatalf("%s If-Match %q If-None-Match %q ttl %q answered %d but changed the key: %+v -> %+v",
				method, ifMatch, ifNoneMatch, ttl, w.Code, before, after)
		}
	})
}

// FuzzList sends listings with fuzzed query strings: nothing answers 5xx,
// and every 200 is a page of the documented shape.
func FuzzList(f *testing.F) {
	ts := apitest.Start(f)
	for _, key := range []string{"a/b", "a/c", "b", "é/x"} {
		ts.MustPut(f, "l", key, []byte("v"))
	}
	f.Add("limit=1&cursor=bC9h")
	f.Add("prefix=a/&delimiter=/")
	f.Add("cursor=!!&limit=-1")
	f.Add("limit=1000&delimiter=%00")
	f.Fuzz(func(t *testing.T, query string) {
		req, err := http.NewRequest(http.MethodGet, "http://gokv/l/?"+query, nil)
		if err != nil || req.URL.Query().Get("watch") != "" {
			return
		}
		req.Header.Set("Authorization", "Bearer "+ts.Token)
		w := httptest.NewRecorder()
		ts.Handler.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("?%s: %d %s", query, w.Code, w.Body)
		}
		if w.Code != http.StatusOK {
			return
		}
		var page struct {
			Items *[]struct {
				Key string `json:"key"`
			} `json:"items"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil || page.Items == nil {
			t.Fatalf("?%s: 200 with %s", query, w.Body)
		}
	})
}

// FuzzTxn posts fuzzed transaction bodies: nothing answers 5xx, and a
// refused transaction writes nothing.
func FuzzTxn(f *testing.F) {
	ts := apitest.Start(f)
	ts.MustPut(f, "t", "k", []byte("v"))
	f.Add([]byte(`{"ops":[{"op":"put","bucket":"t","key":"a","value":"QQ=="},{"op":"check","bucket":"t","key":"k","if_match":"*"}]}`))
	f.Add([]byte(`{"ops":[{"op":"delete","bucket":"t","key":"k","if_match":"\"1\""}]}`))
	f.Add([]byte(`{"ops":[{"op":"put","bucket":"t","key":"b","ttl":"2s","if_none_match":"*","content_type":"text/plain"}]}`))
	f.Add([]byte(`{"ops":[{"op":"put","bucket":"_t","key":"a"}]}`))
	f.Add([]byte(`{"ops":null}`))
	// Keys that may expire while one input runs are left out of the
	// comparison.
	lasting := func(t *testing.T, since time.Time) []kv.Item {
		page, err := ts.Store.List(context.Background(), "t", kv.ListOptions{Limit: kv.MaxListLimit})
		if err != nil {
			t.Fatal(err)
		}
		return slices.DeleteFunc(page.Items, func(it kv.Item) bool {
			return !it.ExpiresAt.IsZero() && it.ExpiresAt.Before(since.Add(time.Minute))
		})
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		start := time.Now()
		before := lasting(t, start)
		req := httptest.NewRequest(http.MethodPost, "http://gokv/_txn", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+ts.Token)
		w := httptest.NewRecorder()
		ts.Handler.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%q: %d %s", body, w.Code, w.Body)
		}
		if w.Code == http.StatusOK {
			return
		}
		after := lasting(t, start)
		if !slices.EqualFunc(before, after, func(a, b kv.Item) bool { return a.Key == b.Key && a.Version == b.Version }) {
			t.Fatalf("%q answered %d but changed bucket t: %+v -> %+v", body, w.Code, before, after)
		}
	})
}
