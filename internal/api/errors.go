package api

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/gokv-service/gokv/internal/auth"
	"github.com/gokv-service/gokv/internal/budget"
	"github.com/gokv-service/gokv/internal/kv"
)

// Errors that arise in this package rather than in storage.
var (
	errValueTooLarge = errors.New("value too large")
	errBadBody       = errors.New("could not read request body")
	errBadRequest    = errors.New("bad request")
	errNotAcceptable = errors.New("not acceptable")
)

// retryAfterBusy is the Retry-After, in seconds, of a request refused for
// want of room in the budget of bytes in flight: requests hold it for
// about as long as a large value takes to move.
const retryAfterBusy = "1"

// retryAfterUnavailable is the Retry-After, in seconds, of a request the
// store could not serve for now (an etcd election takes a second or two).
const retryAfterUnavailable = "2"

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error string `json:"error"`
	// Op is the index of the failed op of a transaction.
	Op *int `json:"op,omitempty"`
	// RequestID is the request's X-Request-ID, which its log lines carry.
	RequestID string `json:"request_id"`
}

// fail answers a request with the status and message err maps to. Server
// faults are logged with their detail, which clients never see.
func (h *handlers) fail(c *gin.Context, err error) {
	status, msg := statusOf(err)
	switch {
	case errors.Is(err, auth.ErrForbidden):
		refuseScope(c, h.metrics)
		h.log.Debug("request forbidden", "reason", err.Error(), "method", c.Request.Method,
			"subject", grantOf(c).Subject, "request_id", requestIDOf(c))
	case errors.Is(err, budget.ErrBusy):
		// Overload answered as designed, not a fault.
		c.Header("Retry-After", retryAfterBusy)
		h.log.Warn("request refused: too many bytes in flight", "method", c.Request.Method,
			"path", c.Request.URL.EscapedPath(), "err", err, "request_id", requestIDOf(c))
	case errors.Is(err, kv.ErrUnavailable):
		// Expected while a distributed store elects a leader: worth a
		// retry, and logged as a warning, not an error.
		c.Header("Retry-After", retryAfterUnavailable)
		h.log.Warn("request refused: storage unavailable", "method", c.Request.Method,
			"path", c.Request.URL.EscapedPath(), "err", err, "request_id", requestIDOf(c))
	case status >= http.StatusInternalServerError:
		h.log.Error("request failed", "method", c.Request.Method, "path", c.Request.URL.EscapedPath(),
			"status", status, "err", err, "request_id", requestIDOf(c))
	}
	abort(c, status, msg)
}

// statusOf is the single mapping from gokv's errors to HTTP. Messages of
// client errors are safe to show: they describe the request, not the
// server.
func statusOf(err error) (status int, msg string) {
	switch {
	case errors.Is(err, kv.ErrInvalidBucket),
		errors.Is(err, kv.ErrInvalidKey),
		errors.Is(err, kv.ErrInvalidContentType),
		errors.Is(err, kv.ErrInvalid),
		errors.Is(err, errBadPrecondition),
		errors.Is(err, errBadRequest):
		return http.StatusBadRequest, opMessage(err)
	case errors.Is(err, auth.ErrForbidden):
		return http.StatusForbidden, err.Error()
	case errors.Is(err, errBadBody):
		return http.StatusBadRequest, errBadBody.Error()
	case errors.Is(err, errValueTooLarge):
		return http.StatusRequestEntityTooLarge, err.Error()
	case errors.Is(err, kv.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, "request too large for the storage backend: split it into smaller transactions"
	case errors.Is(err, kv.ErrNotEmpty):
		return http.StatusConflict, "the database is not empty: restore with ?mode=replace to replace its contents"
	case errors.Is(err, errRestoring):
		return http.StatusServiceUnavailable, errRestoring.Error()
	case errors.Is(err, kv.ErrConditionFailed):
		return http.StatusPreconditionFailed, opMessage(err)
	case errors.Is(err, kv.ErrNotFound):
		return http.StatusNotFound, "not found"
	case errors.Is(err, errNotAcceptable):
		return http.StatusNotAcceptable, err.Error()
	case errors.Is(err, kv.ErrNoSpace):
		return http.StatusInsufficientStorage, "insufficient storage"
	case errors.Is(err, budget.ErrBusy):
		return http.StatusServiceUnavailable, "server busy: too many bytes in flight, retry later"
	case errors.Is(err, kv.ErrClosed):
		return http.StatusServiceUnavailable, "shutting down"
	case errors.Is(err, kv.ErrCorrupt):
		// Retrying will not help; the log names the damaged file.
		return http.StatusInternalServerError, "stored data is corrupt"
	case errors.Is(err, kv.ErrFailed), errors.Is(err, kv.ErrUnavailable):
		// Liveness fails too, or the backend comes back: worth a retry.
		return http.StatusServiceUnavailable, "storage unavailable"
	default:
		return http.StatusInternalServerError, "internal error"
	}
}

// opMessage is a client error's message without the op index an
// *kv.OpError adds: the index travels in its own field.
func opMessage(err error) string {
	var opErr *kv.OpError
	if errors.As(err, &opErr) {
		return opErr.Err.Error()
	}
	return err.Error()
}

// abort ends the request with a JSON error body.
func abort(c *gin.Context, status int, msg string) {
	c.AbortWithStatusJSON(status, errorBody{Error: msg, RequestID: requestIDOf(c)})
}
