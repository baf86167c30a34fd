package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	apispec "github.com/gokv-service/gokv/api"
)

// specPaths maps a route of the router to the paths of the spec it serves:
// Gin's catch-all key also matches the empty key, which is the bucket's
// listing and watch ("/{bucket}/"), for reads only.
func specPaths(method, route string) []string {
	route = strings.NewReplacer(":bucket", "{bucket}", "*key", "{key}").Replace(route)
	if route == "/{bucket}/{key}" && (method == http.MethodGet || method == http.MethodHead) {
		return []string{route, "/{bucket}/"}
	}
	return []string{route}
}

// TestRouterMatchesSpec fails when the router serves an operation the
// spec does not document, or the spec documents one the router does not
// serve.
func TestRouterMatchesSpec(t *testing.T) {
	ts := newTestServer(t)
	var served []apispec.Operation
	for _, r := range ts.Handler.(*gin.Engine).Routes() {
		for _, path := range specPaths(r.Method, r.Path) {
			served = append(served, apispec.Operation{Method: r.Method, Path: path})
		}
	}
	documented, err := apispec.Operations()
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range served {
		if !slices.Contains(documented, op) {
			t.Errorf("the router serves %s %s, which api/openapi.yaml does not document", op.Method, op.Path)
		}
	}
	for _, op := range documented {
		if !slices.Contains(served, op) {
			t.Errorf("api/openapi.yaml documents %s %s, which the router does not serve", op.Method, op.Path)
		}
	}
}

// TestSpecIsServed: GET /_openapi.yaml answers the spec without a token.
func TestSpecIsServed(t *testing.T) {
	ts := newTestServer(t)
	resp := ts.request(t, http.MethodGet, "/_openapi.yaml", nil, map[string]string{"Authorization": ""})
	if resp.status != http.StatusOK || resp.header.Get("Content-Type") != "application/yaml" || string(resp.body) != string(apispec.Spec) {
		t.Fatalf("GET /_openapi.yaml: %d %q, %d bytes", resp.status, resp.header.Get("Content-Type"), len(resp.body))
	}
}
