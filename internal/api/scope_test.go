package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/apitest"
	"github.com/gokv-service/gokv/internal/auth"
)

const challengeForbidden = `Bearer realm="gokv", error="insufficient_scope"`

// tryRequest sends one request and returns as soon as its headers are
// in, so that an allowed watch does not hold the test.
func tryRequest(t *testing.T, method, url, token, body string, headers map[string]string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	r := response{status: resp.StatusCode, header: resp.Header}
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		r.body, _ = io.ReadAll(resp.Body)
	}
	return r
}

// TestScopes sends every kind of request, to buckets inside and outside
// a token's buckets, with tokens of every combination of scopes: a
// request is refused with 403 exactly when the token lacks the scope it
// needs or the bucket it names, and the refusal says which.
func TestScopes(t *testing.T) {
	ts := newTestServer(t)
	buckets := []string{"cfg", "team-a", "team", "other"}
	// What the restricted tokens below cover, written out rather than
	// computed with the code under test.
	covered := map[string]bool{"cfg": true, "team-a": true}
	for _, b := range buckets {
		ts.MustPut(t, b, "k", []byte("v"))
	}
	txn := func(op, bucket string) string {
		return fmt.Sprintf(`{"ops":[{"op":%q,"bucket":%q,"key":"k"}]}`, op, bucket)
	}
	type route struct {
		name, method, path, body string
		headers                  map[string]string
		need                     auth.Scope
		bucket                   string // "" when the route names none
	}
	var routes []route
	for _, b := range buckets {
		routes = append(routes,
			route{"GET", http.MethodGet, "/" + b + "/k", "", nil, auth.ScopeRead, b},
			route{"HEAD", http.MethodHead, "/" + b + "/k", "", nil, auth.ScopeRead, b},
			route{"list", http.MethodGet, "/" + b + "/", "", nil, auth.ScopeRead, b},
			route{"HEAD list", http.MethodHead, "/" + b + "/", "", nil, auth.ScopeRead, b},
			route{"watch", http.MethodGet, "/" + b + "/?watch=true", "", map[string]string{"Accept": "text/event-stream"}, auth.ScopeRead, b},
			route{"PUT", http.MethodPut, "/" + b + "/k", "v", nil, auth.ScopeWrite, b},
			route{"POST", http.MethodPost, "/" + b + "/k", "v", nil, auth.ScopeWrite, b},
			route{"DELETE", http.MethodDelete, "/" + b + "/k", "", nil, auth.ScopeWrite, b},
			route{"txn put", http.MethodPost, "/_txn", `{"ops":[{"op":"put","bucket":"` + b + `","key":"k","value":"dg=="}]}`, nil, auth.ScopeWrite, b},
			// A check only reads, but a transaction is a write.
			route{"txn check", http.MethodPost, "/_txn", txn("check", b), nil, auth.ScopeWrite, b},
		)
	}
	routes = append(routes,
		route{"buckets", http.MethodGet, "/_buckets", "", nil, auth.ScopeRead, ""},
		route{"backup", http.MethodGet, "/_admin/backup", "", nil, auth.ScopeAdmin, ""},
		// Not a backup: 400 when allowed, which is not a 403.
		route{"restore", http.MethodPost, "/_admin/restore", "not a backup", nil, auth.ScopeAdmin, ""},
	)

	for scopes := auth.Scope(0); scopes <= auth.ScopeRead|auth.ScopeWrite|auth.ScopeAdmin; scopes++ {
		for _, restricted := range []bool{false, true} {
			claims := auth.Claims{ExpiresIn: time.Hour, Scope: scopes}
			held := scopes
			if scopes == 0 { // no scope claim
				held = auth.ScopeRead | auth.ScopeWrite
			}
			if restricted {
				claims.Buckets = []string{"cfg", "team-*"}
			}
			token := apitest.Mint(t, claims)
			t.Run(fmt.Sprintf("scope %q, restricted %v", scopes, restricted), func(t *testing.T) {
				for _, rt := range routes {
					what := fmt.Sprintf("%s %s (%s)", rt.method, rt.path, rt.name)
					r := tryRequest(t, rt.method, ts.URL+rt.path, token, rt.body, rt.headers)
					var want string
					switch {
					case held&rt.need == 0:
						want = "insufficient scope: this request needs " + rt.need.String()
					case restricted && rt.bucket != "" && !covered[rt.bucket]:
						want = "insufficient scope: bucket " + rt.bucket + " is not in the token's buckets"
					}
					if want == "" {
						if r.status == http.StatusForbidden || r.status == http.StatusUnauthorized {
							t.Errorf("%s: %d %s, want it allowed", what, r.status, r.body)
						}
						continue
					}
					if r.status != http.StatusForbidden {
						t.Errorf("%s: %d, want 403 (%s)", what, r.status, want)
						continue
					}
					if got := r.header.Get("WWW-Authenticate"); got != challengeForbidden {
						t.Errorf("%s: WWW-Authenticate %q, want %q", what, got, challengeForbidden)
					}
					if rt.method == http.MethodHead {
						continue
					}
					if msg := r.errorMessage(t); msg != want {
						t.Errorf("%s: error %q, want %q", what, msg, want)
					}
				}
			})
		}
	}
}

// TestTxnNeedsEveryBucket: one op outside the token's buckets refuses the
// whole transaction, and nothing of it is applied.
func TestTxnNeedsEveryBucket(t *testing.T) {
	ts := newTestServer(t)
	token := apitest.Mint(t, auth.Claims{ExpiresIn: time.Hour, Scope: auth.ScopeWrite, Buckets: []string{"cfg"}})
	body := `{"ops":[{"op":"put","bucket":"cfg","key":"k","value":"dg=="},{"op":"delete","bucket":"other","key":"k"}]}`
	r := tryRequest(t, http.MethodPost, ts.URL+"/_txn", token, body, nil)
	r.wantStatus(t, http.StatusForbidden, "a transaction reaching outside the token's buckets")
	if msg := r.errorMessage(t); msg != "insufficient scope: bucket other is not in the token's buckets" {
		t.Errorf("error %q", msg)
	}
	ts.request(t, http.MethodGet, "/cfg/k", nil, nil).wantStatus(t, http.StatusNotFound, "the refused transaction's put")
}

// TestBucketsListsCoveredOnly: GET /_buckets shows a restricted token the
// buckets it covers, every one of them, across pages of any size.
func TestBucketsListsCoveredOnly(t *testing.T) {
	ts := newTestServer(t)
	for _, b := range []string{"a", "cfg", "cfg2", "team", "team-", "team-a", "team-b", "teams", "z"} {
		ts.MustPut(t, b, "k", []byte("v"))
	}
	tests := []struct {
		patterns []string
		want     []string // in the store's order: "team-a:" sorts before "team:"
	}{
		{nil, []string{"a", "cfg", "cfg2", "team", "team-", "team-a", "team-b", "teams", "z"}},
		{[]string{"*"}, []string{"a", "cfg", "cfg2", "team", "team-", "team-a", "team-b", "teams", "z"}},
		{[]string{"cfg", "team-*"}, []string{"cfg", "team-", "team-a", "team-b"}},
		{[]string{"z"}, []string{"z"}},
		{[]string{"nothing-*"}, nil},
	}
	for _, tt := range tests {
		token := apitest.Mint(t, auth.Claims{ExpiresIn: time.Hour, Scope: auth.ScopeRead, Buckets: tt.patterns})
		for _, limit := range []int{1, 2, 3, 1000} {
			t.Run(fmt.Sprintf("%q limit %d", tt.patterns, limit), func(t *testing.T) {
				var got []string
				cursor := ""
				for pages := 0; ; pages++ {
					if pages > 20 {
						t.Fatal("more than 20 pages")
					}
					r := tryRequest(t, http.MethodGet, fmt.Sprintf("%s/_buckets?limit=%d&cursor=%s", ts.URL, limit, cursor), token, "", nil)
					r.wantStatus(t, http.StatusOK, "GET /_buckets")
					var page struct {
						Buckets    []string `json:"buckets"`
						NextCursor string   `json:"next_cursor"`
					}
					if err := json.Unmarshal(r.body, &page); err != nil {
						t.Fatal(err)
					}
					if len(page.Buckets) > limit {
						t.Fatalf("a page of %d names with limit %d", len(page.Buckets), limit)
					}
					got = append(got, page.Buckets...)
					if page.NextCursor == "" {
						break
					}
					cursor = page.NextCursor
				}
				slices.Sort(got)
				want := slices.Clone(tt.want)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("buckets %q, want %q", got, want)
				}
			})
		}
	}
}
