package api

import (
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/gokv-service/gokv/internal/auth"
	"github.com/gokv-service/gokv/internal/kv"
	"github.com/gokv-service/gokv/internal/metrics"
)

// scopeError is a request that a valid token does not allow. Its text
// names what the request needed, never what the token holds: that is
// for the token's holder to read from the token.
type scopeError struct{ missing string }

func (e *scopeError) Error() string { return "insufficient scope: " + e.missing }

// Unwrap makes every scopeError an auth.ErrForbidden, which statusOf
// answers with 403.
func (e *scopeError) Unwrap() error { return auth.ErrForbidden }

func needsScope(s auth.Scope) error {
	return &scopeError{missing: "this request needs " + s.String()}
}

func outsideBuckets(bucket string) error {
	return &scopeError{missing: "bucket " + bucket + " is not in the token's buckets"}
}

// authorize is the middleware of every authenticated route: it lets a
// request through only when its token's grant holds need and, on a route
// with a :bucket, covers that bucket. Routes that name buckets elsewhere
// check them themselves with the same errors: /_txn each op's bucket,
// /_buckets by leaving out what the grant does not cover.
func (h *handlers) authorize(need auth.Scope) gin.HandlerFunc {
	return func(c *gin.Context) {
		grant := grantOf(c)
		if !grant.Has(need) {
			h.fail(c, needsScope(need))
			return
		}
		// A bucket that does not unescape or is no valid name is left to
		// the handler, which answers 400 for it whatever the token.
		if b, err := url.PathUnescape(c.Param("bucket")); err == nil && kv.ValidateBucket(b) == nil && !grant.CoversBucket(b) {
			h.fail(c, outsideBuckets(b))
			return
		}
		c.Next()
	}
}

// refuseScope marks a 403 answer as RFC 6750 §3.1 asks, and counts it
// among the refused requests.
func refuseScope(c *gin.Context, m *metrics.Metrics) {
	c.Header("WWW-Authenticate", challengeForbidden)
	m.AuthRefused(metrics.ReasonForbidden)
}
