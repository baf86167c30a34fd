package metrics

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// Middleware counts, times and sizes every request, labelled by method,
// route template (c.FullPath, never the path: keys would make the series
// unbounded) and status code. Put it before the handlers that may abort,
// so that it sees the final status. A nil *Metrics returns a middleware
// that only passes the request on.
//
// Watch streams (responses of type text/event-stream) are counted and
// sized when they end, but left out of the duration histogram: they last
// minutes to days by design, and would drown the latency of ordinary
// requests on the same route. gokv_watchers counts the open ones.
func (m *Metrics) Middleware() gin.HandlerFunc {
	if m == nil {
		return func(c *gin.Context) { c.Next() }
	}
	return func(c *gin.Context) {
		start := time.Now()
		var body *countingReader
		if c.Request.ContentLength < 0 && c.Request.Body != nil && c.Request.Body != http.NoBody {
			// Chunked: the size is known only once read.
			body = &countingReader{r: c.Request.Body}
			c.Request.Body = body
		}
		c.Next()
		method := methodLabel(c.Request.Method)
		route := c.FullPath()
		if route == "" {
			route = unmatchedRoute
		}
		m.requests.WithLabelValues(method, route, codeLabel(c.Writer.Status())).Inc()
		if !strings.HasPrefix(c.Writer.Header().Get("Content-Type"), "text/event-stream") {
			m.duration.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
		}
		reqBytes := max(c.Request.ContentLength, 0)
		if body != nil {
			reqBytes = body.n
		}
		m.requestBytes.WithLabelValues(method, route).Observe(float64(reqBytes))
		m.responseBytes.WithLabelValues(method, route).Observe(float64(max(c.Writer.Size(), 0)))
	}
}

// methodLabel bounds the method label: net/http accepts any token as a
// method, and each would be a series of its own.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete,
		http.MethodOptions, http.MethodPatch:
		return method
	default:
		return "other"
	}
}

// codeLabel is strconv.Itoa without an allocation for the usual codes.
func codeLabel(code int) string {
	switch code {
	case http.StatusOK:
		return "200"
	case http.StatusCreated:
		return "201"
	case http.StatusNoContent:
		return "204"
	case http.StatusNotFound:
		return "404"
	default:
		return strconv.Itoa(code)
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.ReadCloser
	n int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n += int64(n)
	return n, err
}

func (r *countingReader) Close() error { return r.r.Close() }
