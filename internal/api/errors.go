package api

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/gokv-service/gokv/internal/badgerstore"
	"github.com/gokv-service/gokv/internal/budget"
)

// Errors that arise in this package rather than in storage.
var (
	errValueTooLarge = errors.New("value too large")
	errBadBody       = errors.New("could not read request body")
)

// retryAfterBusy is the Retry-After, in seconds, of a request refused for
// want of room in the budget of bytes in flight: requests hold it for
// about as long as a large value takes to move.
const retryAfterBusy = "1"

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error string `json:"error"`
}

// fail answers a request with the status and message err maps to. Server
// faults are logged with their detail, which clients never see.
func (h *handlers) fail(c *gin.Context, err error) {
	status, msg := statusOf(err)
	switch {
	case errors.Is(err, budget.ErrBusy):
		// Overload answered as designed, not a fault.
		c.Header("Retry-After", retryAfterBusy)
		h.log.Warn("request refused: too many bytes in flight", "method", c.Request.Method,
			"path", c.Request.URL.EscapedPath(), "err", err)
	case status >= http.StatusInternalServerError:
		h.log.Error("request failed", "method", c.Request.Method, "path", c.Request.URL.EscapedPath(),
			"status", status, "err", err)
	}
	abort(c, status, msg)
}

// statusOf is the single mapping from gokv's errors to HTTP. Messages of
// client errors are safe to show: they describe the request, not the
// server.
func statusOf(err error) (status int, msg string) {
	switch {
	case errors.Is(err, badgerstore.ErrInvalidBucket),
		errors.Is(err, badgerstore.ErrInvalidKey),
		errors.Is(err, badgerstore.ErrInvalidContentType):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, errBadBody):
		return http.StatusBadRequest, errBadBody.Error()
	case errors.Is(err, errValueTooLarge):
		return http.StatusRequestEntityTooLarge, err.Error()
	case errors.Is(err, badgerstore.ErrNotFound):
		return http.StatusNotFound, "not found"
	case errors.Is(err, badgerstore.ErrNoSpace):
		return http.StatusInsufficientStorage, "insufficient storage"
	case errors.Is(err, budget.ErrBusy):
		return http.StatusServiceUnavailable, "server busy: too many bytes in flight, retry later"
	case errors.Is(err, badgerstore.ErrClosed):
		return http.StatusServiceUnavailable, "shutting down"
	case errors.Is(err, badgerstore.ErrCorrupt):
		// Retrying will not help; the log names the damaged file.
		return http.StatusInternalServerError, "stored data is corrupt"
	case errors.Is(err, badgerstore.ErrFailed):
		// Liveness fails too, so the pod is restarted: worth a retry.
		return http.StatusServiceUnavailable, "storage unavailable"
	default:
		return http.StatusInternalServerError, "internal error"
	}
}

// abort ends the request with a JSON error body.
func abort(c *gin.Context, status int, msg string) {
	c.AbortWithStatusJSON(status, errorBody{Error: msg})
}
