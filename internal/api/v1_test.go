package api_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConditionalRequests: ETags on reads and writes, If-Match and
// If-None-Match on writes (412 and nothing changes), If-None-Match on
// reads (304).
func TestConditionalRequests(t *testing.T) {
	ts := newTestServer(t)
	r := ts.put(t, "/b/k", "one", "text/plain")
	r.wantStatus(t, http.StatusCreated, "PUT")
	first := r.header.Get("ETag")
	if !strings.HasPrefix(first, `"`) || !strings.HasSuffix(first, `"`) || len(first) < 3 {
		t.Fatalf("PUT ETag = %q, want a strong entity tag", first)
	}
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		if got := ts.request(t, method, "/b/k", nil, nil).header.Get("ETag"); got != first {
			t.Errorf("%s ETag = %q, want the PUT's %q", method, got, first)
		}
	}
	r = ts.put(t, "/b/k", "two", "text/plain")
	second := r.header.Get("ETag")
	if second == first || second == "" {
		t.Fatalf("second PUT ETag = %q, first %q: want a new one", second, first)
	}

	cond := func(method, value string, headers map[string]string) response {
		headers["Content-Type"] = "text/plain"
		return ts.request(t, method, "/b/k", strings.NewReader(value), headers)
	}
	tests := []struct {
		name    string
		method  string
		headers map[string]string
		want    int
	}{
		{"PUT If-Match stale", http.MethodPut, map[string]string{"If-Match": first}, http.StatusPreconditionFailed},
		{"PUT If-Match weak", http.MethodPut, map[string]string{"If-Match": "W/" + second}, http.StatusPreconditionFailed},
		{"PUT If-Match unknown tag", http.MethodPut, map[string]string{"If-Match": `"xyz"`}, http.StatusPreconditionFailed},
		{"PUT If-None-Match * on an existing key", http.MethodPut, map[string]string{"If-None-Match": "*"}, http.StatusPreconditionFailed},
		{"DELETE If-Match stale", http.MethodDelete, map[string]string{"If-Match": first}, http.StatusPreconditionFailed},
		{"PUT If-Match list", http.MethodPut, map[string]string{"If-Match": first + ", " + second}, http.StatusBadRequest},
		{"PUT If-Match unquoted", http.MethodPut, map[string]string{"If-Match": "12"}, http.StatusBadRequest},
		{"PUT If-None-Match tag", http.MethodPut, map[string]string{"If-None-Match": second}, http.StatusBadRequest},
		{"DELETE If-None-Match", http.MethodDelete, map[string]string{"If-None-Match": "*"}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		r := cond(tt.method, "changed", tt.headers)
		r.wantStatus(t, tt.want, tt.name)
		r.errorMessage(t)
		if got := ts.request(t, http.MethodGet, "/b/k", nil, nil); string(got.body) != "two" || got.header.Get("ETag") != second {
			t.Fatalf("%s changed the key: %q %s", tt.name, got.body, got.header.Get("ETag"))
		}
	}

	// Reads: 304 when the tag matches, weakly.
	for _, inm := range []string{second, "W/" + second, `"1", ` + second, "*"} {
		r := ts.request(t, http.MethodGet, "/b/k", nil, map[string]string{"If-None-Match": inm})
		r.wantStatus(t, http.StatusNotModified, "GET If-None-Match "+inm)
		if len(r.body) != 0 || r.header.Get("ETag") != second {
			t.Errorf("304: body %q, ETag %q", r.body, r.header.Get("ETag"))
		}
	}
	ts.request(t, http.MethodGet, "/b/k", nil, map[string]string{"If-None-Match": first}).wantStatus(t, http.StatusOK, "GET with a stale If-None-Match")

	// Writes whose condition holds.
	r = cond(http.MethodPut, "three", map[string]string{"If-Match": second})
	r.wantStatus(t, http.StatusNoContent, "PUT If-Match current")
	third := r.header.Get("ETag")
	cond(http.MethodPost, "four", map[string]string{"If-Match": "*"}).wantStatus(t, http.StatusNoContent, "POST If-Match *")
	ts.request(t, http.MethodPut, "/b/new", strings.NewReader("n"), map[string]string{"If-Match": "*"}).wantStatus(t, http.StatusPreconditionFailed, "PUT If-Match * on a missing key")
	ts.request(t, http.MethodPut, "/b/new", strings.NewReader("n"), map[string]string{"If-None-Match": "*"}).wantStatus(t, http.StatusCreated, "PUT If-None-Match * on a missing key")
	ts.request(t, http.MethodDelete, "/b/k", nil, map[string]string{"If-Match": third}).wantStatus(t, http.StatusPreconditionFailed, "DELETE with the tag of an overwritten write")
	cur := ts.request(t, http.MethodGet, "/b/k", nil, nil).header.Get("ETag")
	ts.request(t, http.MethodDelete, "/b/k", nil, map[string]string{"If-Match": cur}).wantStatus(t, http.StatusNoContent, "DELETE If-Match current")
	ts.request(t, http.MethodDelete, "/b/k", nil, map[string]string{"If-Match": cur}).wantStatus(t, http.StatusPreconditionFailed, "DELETE If-Match on a missing key")
}

// TestCompareAndSwapOverHTTP: concurrent read–modify–write increments
// with If-Match, retried on 412, lose nothing.
func TestCompareAndSwapOverHTTP(t *testing.T) {
	ts := newTestServer(t)
	ts.put(t, "/c/counter", "0", "text/plain").wantStatus(t, http.StatusCreated, "PUT")
	const workers, increments = 8, 20
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range increments {
				for {
					r := ts.request(t, http.MethodGet, "/c/counter", nil, nil)
					n, err := strconv.Atoi(string(r.body))
					if r.status != http.StatusOK || err != nil {
						t.Errorf("GET counter: %d %q", r.status, r.body)
						return
					}
					w := ts.request(t, http.MethodPut, "/c/counter", strings.NewReader(strconv.Itoa(n+1)),
						map[string]string{"If-Match": r.header.Get("ETag")})
					if w.status == http.StatusNoContent {
						break
					}
					if w.status != http.StatusPreconditionFailed {
						t.Errorf("PUT counter: %d %q", w.status, w.body)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if r := ts.request(t, http.MethodGet, "/c/counter", nil, nil); string(r.body) != strconv.Itoa(workers*increments) {
		t.Fatalf("counter = %q, want %d", r.body, workers*increments)
	}
}

func TestTTLOverHTTP(t *testing.T) {
	ts := newTestServer(t)
	for _, ttl := range []string{"0s", "500ms", "-1s", "87601h", "abc", "1d"} {
		r := ts.put(t, "/t/k?ttl="+url.QueryEscape(ttl), "v", "text/plain")
		r.wantStatus(t, http.StatusBadRequest, "ttl="+ttl)
		r.errorMessage(t)
	}
	ts.request(t, http.MethodGet, "/t/k", nil, nil).wantStatus(t, http.StatusNotFound, "GET after refused writes")

	start := time.Now()
	r := ts.put(t, "/t/k?ttl=1s", "v", "text/plain")
	r.wantStatus(t, http.StatusCreated, "PUT ttl=1s")
	at, err := time.Parse(time.RFC3339, r.header.Get("Gokv-Expires-At"))
	if err != nil || at.Before(start.Add(time.Second).Truncate(time.Second)) || at.After(start.Add(3*time.Second)) {
		t.Fatalf("Gokv-Expires-At %q (%v), written at %s", r.header.Get("Gokv-Expires-At"), err, start)
	}
	if got := ts.request(t, http.MethodGet, "/t/k", nil, nil).header.Get("Gokv-Expires-At"); got != r.header.Get("Gokv-Expires-At") {
		t.Errorf("GET Gokv-Expires-At %q, PUT said %q", got, r.header.Get("Gokv-Expires-At"))
	}
	ts.put(t, "/t/forever", "v", "text/plain")
	if got := ts.request(t, http.MethodHead, "/t/forever", nil, nil).header.Get("Gokv-Expires-At"); got != "" {
		t.Errorf("a key without ttl: Gokv-Expires-At %q", got)
	}
	var page struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(ts.request(t, http.MethodGet, "/t/", nil, nil).body, &page); err != nil || len(page.Items) != 2 || page.Items[1]["expires_at"] == nil || page.Items[0]["expires_at"] != nil {
		t.Fatalf("listing before expiry: %+v, %v", page.Items, err)
	}
	time.Sleep(time.Until(at) + 100*time.Millisecond)
	ts.request(t, http.MethodGet, "/t/k", nil, nil).wantStatus(t, http.StatusNotFound, "GET after expiry")
	ts.request(t, http.MethodDelete, "/t/k", nil, nil).wantStatus(t, http.StatusNotFound, "DELETE after expiry")
	if err := json.Unmarshal(ts.request(t, http.MethodGet, "/t/", nil, nil).body, &page); err != nil || len(page.Items) != 1 {
		t.Fatalf("listing after expiry: %+v, %v", page.Items, err)
	}
}

type listPage struct {
	Items []struct {
		Key         string  `json:"key"`
		Size        int64   `json:"size"`
		ContentType string  `json:"content_type"`
		ETag        string  `json:"etag"`
		ExpiresAt   *string `json:"expires_at"`
	} `json:"items"`
	Prefixes   []string `json:"prefixes"`
	NextCursor string   `json:"next_cursor"`
}

func (ts *testServer) list(t *testing.T, path string) listPage {
	t.Helper()
	r := ts.request(t, http.MethodGet, path, nil, nil)
	r.wantStatus(t, http.StatusOK, "GET "+path)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("GET %s: Content-Type %q", path, ct)
	}
	var page listPage
	if err := json.Unmarshal(r.body, &page); err != nil {
		t.Fatalf("GET %s: %q: %v", path, r.body, err)
	}
	return page
}

func TestListingOverHTTP(t *testing.T) {
	ts := newTestServer(t)
	if r := ts.request(t, http.MethodGet, "/empty/", nil, nil); r.status != http.StatusOK || string(r.body) != `{"items":[]}` {
		t.Fatalf("empty bucket: %d %s", r.status, r.body)
	}
	keys := []string{"a b", "app/db/url", "app/db/user", "app/name", "z+", "ü"}
	for _, k := range keys {
		ts.put(t, "/l/"+url.PathEscape(k), "value of "+k, "text/plain").wantStatus(t, http.StatusCreated, "PUT "+k)
	}
	page := ts.list(t, "/l/")
	var got []string
	for _, it := range page.Items {
		got = append(got, it.Key)
	}
	if !slices.Equal(got, keys) || page.NextCursor != "" || page.Prefixes != nil {
		t.Fatalf("list = %q, next %q, prefixes %q; want %q", got, page.NextCursor, page.Prefixes, keys)
	}
	head := ts.request(t, http.MethodGet, "/l/app/name", nil, nil)
	if it := page.Items[3]; it.Size != int64(len("value of app/name")) || it.ContentType != "text/plain" || it.ETag != head.header.Get("ETag") || it.ExpiresAt != nil {
		t.Errorf("item %+v does not describe the key (ETag %s)", it, head.header.Get("ETag"))
	}

	page = ts.list(t, "/l/?prefix=app/&delimiter=/")
	if len(page.Items) != 1 || page.Items[0].Key != "app/name" || !slices.Equal(page.Prefixes, []string{"app/db/"}) {
		t.Errorf("prefix and delimiter: %+v", page)
	}

	// Paging by cursor visits every key once.
	var paged []string
	path := "/l/?limit=4"
	for range 10 {
		page := ts.list(t, path)
		for _, it := range page.Items {
			paged = append(paged, it.Key)
		}
		if page.NextCursor == "" {
			break
		}
		path = "/l/?limit=4&cursor=" + url.QueryEscape(page.NextCursor)
	}
	if !slices.Equal(paged, keys) {
		t.Errorf("paged = %q, want %q", paged, keys)
	}

	for _, query := range []string{"limit=0", "limit=1001", "limit=abc", "limit=+5", "cursor=!!!", "cursor=" + strings.Repeat("A", 2000), "delimiter=" + strings.Repeat("/", 17)} {
		r := ts.request(t, http.MethodGet, "/l/?"+query, nil, nil)
		r.wantStatus(t, http.StatusBadRequest, query)
		r.errorMessage(t)
	}
	ts.request(t, http.MethodGet, "/_b/", nil, nil).wantStatus(t, http.StatusBadRequest, "listing a reserved name")
	ts.request(t, http.MethodGet, "/l/", nil, map[string]string{"Authorization": ""}).wantStatus(t, http.StatusUnauthorized, "listing without a token")
}

func TestReservedNames(t *testing.T) {
	ts := newTestServer(t)
	for _, path := range []string{"/_x/k", "/_/k", "/_buckets/k", "/_txn/k"} {
		r := ts.put(t, path, "v", "text/plain")
		r.wantStatus(t, http.StatusBadRequest, "PUT "+path)
		if msg := r.errorMessage(t); !strings.Contains(msg, "reserved") {
			t.Errorf("PUT %s: error %q does not say the name is reserved", path, msg)
		}
	}
	ts.request(t, http.MethodGet, "/_txn", nil, nil).wantStatus(t, http.StatusMethodNotAllowed, "GET /_txn")
	ts.request(t, http.MethodGet, "/healthz", nil, map[string]string{"Authorization": ""}).wantStatus(t, http.StatusOK, "/healthz")
}

func TestBucketsOverHTTP(t *testing.T) {
	ts := newTestServer(t)
	if r := ts.request(t, http.MethodGet, "/_buckets", nil, nil); r.status != http.StatusOK || string(r.body) != `{"buckets":[]}` {
		t.Fatalf("no buckets: %d %s", r.status, r.body)
	}
	names := []string{"a", "a-b", "b", "c"}
	for _, b := range names {
		ts.put(t, "/"+b+"/k1", "v", "").wantStatus(t, http.StatusCreated, "PUT")
		ts.put(t, "/"+b+"/k2", "v", "").wantStatus(t, http.StatusCreated, "PUT")
	}
	var got []string
	path := "/_buckets?limit=1"
	for range 10 {
		var page struct {
			Buckets    []string `json:"buckets"`
			NextCursor string   `json:"next_cursor"`
		}
		r := ts.request(t, http.MethodGet, path, nil, nil)
		r.wantStatus(t, http.StatusOK, path)
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		got = append(got, page.Buckets...)
		if page.NextCursor == "" {
			break
		}
		path = "/_buckets?limit=1&cursor=" + url.QueryEscape(page.NextCursor)
	}
	if !slices.Equal(slices.Sorted(slices.Values(got)), names) {
		t.Errorf("paged buckets = %q, want %q once each", got, names)
	}
	ts.request(t, http.MethodGet, "/_buckets?limit=0", nil, nil).wantStatus(t, http.StatusBadRequest, "limit=0")
	ts.request(t, http.MethodGet, "/_buckets", nil, map[string]string{"Authorization": ""}).wantStatus(t, http.StatusUnauthorized, "without a token")
}

func (ts *testServer) txn(t *testing.T, body string) response {
	t.Helper()
	return ts.request(t, http.MethodPost, "/_txn", strings.NewReader(body), map[string]string{"Content-Type": "application/json"})
}

func TestTransactionsOverHTTP(t *testing.T) {
	ts := newTestServer(t)
	b64 := base64.StdEncoding.EncodeToString
	r := ts.txn(t, fmt.Sprintf(`{"ops":[
		{"op":"put","bucket":"x","key":"a","value":%q,"content_type":"text/plain"},
		{"op":"put","bucket":"y","key":"b","value":%q,"ttl":"1h","if_none_match":"*"},
		{"op":"check","bucket":"x","key":"a","if_match":"*"}]}`, b64([]byte("A")), b64([]byte("B"))))
	r.wantStatus(t, http.StatusOK, "txn")
	var res struct {
		Results []struct {
			ETag      string  `json:"etag"`
			ExpiresAt *string `json:"expires_at"`
		} `json:"results"`
	}
	if err := json.Unmarshal(r.body, &res); err != nil || len(res.Results) != 3 || res.Results[0].ETag == "" || res.Results[1].ExpiresAt == nil || res.Results[2].ETag != "" {
		t.Fatalf("txn results %s: %v", r.body, err)
	}
	a := ts.request(t, http.MethodGet, "/x/a", nil, nil)
	if string(a.body) != "A" || a.header.Get("Content-Type") != "text/plain" || a.header.Get("ETag") != res.Results[0].ETag {
		t.Errorf("x/a = %q %q %q", a.body, a.header.Get("Content-Type"), a.header.Get("ETag"))
	}
	if b := ts.request(t, http.MethodGet, "/y/b", nil, nil); string(b.body) != "B" || b.header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("y/b = %q %q", b.body, b.header.Get("Content-Type"))
	}

	// A failed condition: 409 naming the op, nothing written.
	// (y/b's tag is not x/a's.)
	r = ts.txn(t, fmt.Sprintf(`{"ops":[{"op":"put","bucket":"x","key":"c","value":%q},{"op":"delete","bucket":"x","key":"a","if_match":%q}]}`, b64([]byte("C")), res.Results[1].ETag))
	r.wantStatus(t, http.StatusConflict, "txn with a failed condition")
	var conflict struct {
		Error string `json:"error"`
		Op    *int   `json:"op"`
	}
	if err := json.Unmarshal(r.body, &conflict); err != nil || conflict.Op == nil || *conflict.Op != 1 || conflict.Error == "" {
		t.Errorf("409 body %s, want op 1", r.body)
	}
	ts.request(t, http.MethodGet, "/x/c", nil, nil).wantStatus(t, http.StatusNotFound, "x/c after the failed txn")
	ts.request(t, http.MethodGet, "/x/a", nil, nil).wantStatus(t, http.StatusOK, "x/a after the failed txn")
	r = ts.txn(t, `{"ops":[{"op":"delete","bucket":"x","key":"never"}]}`)
	r.wantStatus(t, http.StatusConflict, "txn deleting a missing key")

	tooMany := `{"ops":[` + strings.Repeat(`{"op":"check","bucket":"x","key":"a"},`, 128) + `{"op":"check","bucket":"x","key":"a"}]}`
	tests := []struct {
		name, body string
		want       int
	}{
		{"too many ops", tooMany, http.StatusRequestEntityTooLarge},
		{"value too large", fmt.Sprintf(`{"ops":[{"op":"put","bucket":"x","key":"big","value":%q}]}`, b64(make([]byte, testMaxValue+1))), http.StatusRequestEntityTooLarge},
		{"not JSON", `{"ops":[`, http.StatusBadRequest},
		{"unknown field", `{"ops":[{"op":"put","bucket":"x","key":"k","valu":"QQ=="}]}`, http.StatusBadRequest},
		{"trailing data", `{"ops":[{"op":"check","bucket":"x","key":"a"}]} {}`, http.StatusBadRequest},
		{"no ops", `{"ops":[]}`, http.StatusBadRequest},
		{"bad base64", `{"ops":[{"op":"put","bucket":"x","key":"k","value":"!!"}]}`, http.StatusBadRequest},
		{"unknown op", `{"ops":[{"op":"get","bucket":"x","key":"k"}]}`, http.StatusBadRequest},
		{"reserved bucket", `{"ops":[{"op":"put","bucket":"_x","key":"k"}]}`, http.StatusBadRequest},
		{"bad ttl", `{"ops":[{"op":"put","bucket":"x","key":"k","ttl":"1ms"}]}`, http.StatusBadRequest},
		{"value on a delete", `{"ops":[{"op":"delete","bucket":"x","key":"a","value":"QQ=="}]}`, http.StatusBadRequest},
		{"if_none_match tag", `{"ops":[{"op":"put","bucket":"x","key":"k","if_none_match":"\"1\""}]}`, http.StatusBadRequest},
		{"bad content type", `{"ops":[{"op":"put","bucket":"x","key":"k","content_type":"a b"}]}`, http.StatusBadRequest},
	}
	for _, tt := range tests {
		r := ts.txn(t, tt.body)
		r.wantStatus(t, tt.want, tt.name)
		r.errorMessage(t)
	}
	if page := ts.list(t, "/x/"); len(page.Items) != 1 {
		t.Errorf("refused transactions wrote: %+v", page.Items)
	}
}
