package api

import (
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// Challenges sent with 401 responses (RFC 6750 §3): a request without
// credentials learns only the scheme, one with a bad token also learns
// that the token was the problem, never why.
const (
	challengeMissing = `Bearer realm="gokv"`
	challengeInvalid = `Bearer realm="gokv", error="invalid_token"`
)

// authenticate lets a request through only with a valid bearer token.
func authenticate(v TokenVerifier, log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		// Two Authorization headers are ambiguous: a proxy in front may
		// check one and gokv the other. Refuse rather than pick.
		if n := len(c.Request.Header.Values("Authorization")); n > 1 {
			refuse(c, log, http.StatusBadRequest, "", "more than one Authorization header")
			return
		}
		token, ok := bearerToken(c.GetHeader("Authorization"))
		if !ok {
			refuse(c, log, http.StatusUnauthorized, challengeMissing, "missing bearer token")
			return
		}
		if err := v.Verify(token); err != nil {
			log.Debug("token refused", "reason", err.Error(), "client", c.ClientIP())
			refuse(c, log, http.StatusUnauthorized, challengeInvalid, "invalid token")
			return
		}
		c.Next()
	}
}

// refuse answers a request that failed authentication and closes its
// connection: a client without a valid token would otherwise hold one of
// the MAX_CONNS connections, idle, for the whole idle timeout.
func refuse(c *gin.Context, log *slog.Logger, status int, challenge, msg string) {
	log.Debug("request rejected", "reason", msg, "method", c.Request.Method, "client", c.ClientIP())
	if challenge != "" {
		c.Header("WWW-Authenticate", challenge)
	}
	c.Header("Connection", "close")
	abort(c, status, msg)
}

// bearerToken extracts the token from an Authorization header value. The
// scheme is case-insensitive (RFC 7235 §2.1).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// Headers on every response. A stored value is served with the media type
// it was stored with, text/html included: nosniff stops browsers from
// guessing a more dangerous type, and the policy makes a page opened from
// gokv an inert, sandboxed document that can load and run nothing.
const (
	noSniff       = "nosniff"
	contentPolicy = "default-src 'none'; sandbox"
)

// hardenResponses sets the headers above, and closes the connection after
// a request with a chunked body. RFC 9112 §6.1: a request with both
// Transfer-Encoding and Content-Length may be smuggling a second request,
// and the connection must be closed after responding. net/http follows
// Transfer-Encoding but drops Content-Length before the handler runs and
// keeps the connection open, so the two cannot be told apart here: every
// chunked request closes its connection. Clients that know the length of
// a value, as nearly all do, keep their connections.
func hardenResponses(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", noSniff)
	h.Set("Content-Security-Policy", contentPolicy)
	if len(c.Request.TransferEncoding) > 0 {
		h.Set("Connection", "close")
	}
	c.Next()
}

// logRequests logs every request at debug level; server faults are
// logged at error level where they happen, with their cause. It never
// logs headers, so tokens stay out of the log.
func logRequests(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !log.Enabled(c.Request.Context(), slog.LevelDebug) {
			c.Next()
			return
		}
		start := time.Now()
		c.Next()
		log.Debug("request",
			"method", c.Request.Method,
			"path", c.Request.URL.EscapedPath(),
			"status", c.Writer.Status(),
			"bytes", c.Writer.Size(),
			"duration", time.Since(start),
			"client", c.ClientIP())
	}
}

// recoverPanics turns a panic in a handler into a logged 500 with a JSON
// body, instead of Gin's stack trace on stderr. Panics inside the storage
// engine never get here: the store recovers them itself and fences itself
// (storage's fence.go), because going on after them is not safe.
func recoverPanics(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("handler panicked", "panic", p, "stack", string(debug.Stack()))
				abort(c, http.StatusInternalServerError, "internal error")
			}
		}()
		c.Next()
	}
}
