package api

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gokv-service/gokv/internal/auth"
	"github.com/gokv-service/gokv/internal/metrics"
)

// Challenges sent with 401 responses (RFC 6750 §3): a request without
// credentials learns only the scheme, one with a bad token also learns
// that the token was the problem, never why.
const (
	challengeMissing = `Bearer realm="gokv"`
	challengeInvalid = `Bearer realm="gokv", error="invalid_token"`
	// A token without the scope a request needs (RFC 6750 §3.1).
	challengeForbidden = `Bearer realm="gokv", error="insufficient_scope"`
)

// authenticate lets a request through only with a valid bearer token, and
// keeps the token's subject for the request's log line.
func authenticate(v TokenVerifier, log *slog.Logger, m *metrics.Metrics) gin.HandlerFunc {
	return func(c *gin.Context) {
		// Two Authorization headers are ambiguous: a proxy in front may
		// check one and gokv the other. Refuse rather than pick.
		if n := len(c.Request.Header.Values("Authorization")); n > 1 {
			m.AuthRefused(metrics.ReasonMalformed)
			refuse(c, log, http.StatusBadRequest, "", "more than one Authorization header")
			return
		}
		token, ok := bearerToken(c.GetHeader("Authorization"))
		if !ok {
			m.AuthRefused(metrics.ReasonMissing)
			refuse(c, log, http.StatusUnauthorized, challengeMissing, "missing bearer token")
			return
		}
		grant, err := v.Verify(token)
		if err != nil {
			reason := refusalReason(err)
			m.AuthRefused(reason)
			log.Debug("token refused", "reason", err.Error(), "client", c.ClientIP(), "request_id", requestIDOf(c))
			if reason == metrics.ReasonForbidden {
				// Only an issuer's valid token whose subject no policy
				// names (package oidc) is forbidden as a whole.
				refuse(c, log, http.StatusForbidden, challengeForbidden, "insufficient scope: no policy names the token's subject")
				return
			}
			refuse(c, log, http.StatusUnauthorized, challengeInvalid, "invalid token")
			return
		}
		c.Set(grantKey, grant)
		c.Next()
	}
}

// refusalReason classifies a Verify error for gokv_auth_refusals_total.
func refusalReason(err error) string {
	switch {
	case errors.Is(err, auth.ErrForbidden):
		return metrics.ReasonForbidden
	case errors.Is(err, auth.ErrMalformed):
		return metrics.ReasonMalformed
	case errors.Is(err, auth.ErrBadSignature):
		return metrics.ReasonBadSignature
	case errors.Is(err, auth.ErrExpired):
		return metrics.ReasonExpired
	case errors.Is(err, auth.ErrWrongAudience):
		return metrics.ReasonWrongAudience
	default:
		return metrics.ReasonInvalidClaims
	}
}

// refuse answers a request that failed authentication and closes its
// connection: a client without a valid token would otherwise hold one of
// the MAX_CONNS connections, idle, for the whole idle timeout.
func refuse(c *gin.Context, log *slog.Logger, status int, challenge, msg string) {
	log.Debug("request rejected", "reason", msg, "method", c.Request.Method, "client", c.ClientIP(),
		"request_id", requestIDOf(c))
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

// grantKey is where authenticate leaves what the token allows, for the
// handlers and for the request's log line.
const grantKey = "gokv.grant"

// grantOf is what the request's token allows; the zero Grant before
// authentication.
func grantOf(c *gin.Context) auth.Grant {
	g, _ := c.Get(grantKey)
	grant, _ := g.(auth.Grant)
	return grant
}

// requestIDHeader names a request across gokv's log, its error bodies and
// whatever sent it: a proxy or client that sets one finds it again in
// gokv's log. X-Request-ID in its canonical form, which header lookups
// then need not allocate to make.
const requestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds a request id taken from a client: it goes into
// every log line of the request.
const maxRequestIDLen = 64

// logRequests gives every request an id (the client's X-Request-ID when
// it is sane, else a new one), answers it in X-Request-ID, and logs one
// line per request at info level once it is answered. The line has the
// route template, not the path, and never headers or bodies: keys,
// values and tokens stay out of the log.
func logRequests(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		id := c.GetHeader(requestIDHeader)
		if !saneRequestID(id) {
			id = newRequestID()
		}
		c.Header(requestIDHeader, id)
		c.Next()
		ctx := c.Request.Context()
		if !log.Enabled(ctx, slog.LevelInfo) {
			return
		}
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		log.LogAttrs(ctx, slog.LevelInfo, "request",
			slog.String("method", c.Request.Method),
			slog.String("route", route),
			slog.Int("status", c.Writer.Status()),
			slog.Duration("duration", time.Since(start)),
			slog.Int("bytes", max(c.Writer.Size(), 0)),
			slog.String("client", c.ClientIP()),
			slog.String("request_id", id),
			slog.String("subject", grantOf(c).Subject))
	}
}

// saneRequestID reports whether id, from a client, is fit for logs and
// headers: 1 to maxRequestIDLen characters of A-Z a-z 0-9 . _ -.
func saneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := range len(id) {
		switch b := id[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '.', b == '_', b == '-':
		default:
			return false
		}
	}
	return true
}

// newRequestID returns 16 random hex digits. An id needs to be unique
// among the log lines someone searches, not unguessable, so the
// runtime's per-thread generator serves, without crypto/rand's cost.
func newRequestID() string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

// requestIDOf is the id logRequests gave the request. The response's
// header is where it is kept: setting a gin.Context key would allocate
// the context's map on every request.
func requestIDOf(c *gin.Context) string { return c.Writer.Header().Get(requestIDHeader) }

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
				log.Error("handler panicked", "panic", p, "stack", string(debug.Stack()), "request_id", requestIDOf(c))
				abort(c, http.StatusInternalServerError, "internal error")
			}
		}()
		c.Next()
	}
}
