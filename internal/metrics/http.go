package metrics

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
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
		route := c.FullPath()
		if route == "" {
			route = unmatchedRoute
		}
		rs := m.route(methodLabel(c.Request.Method), route)
		rs.count(c.Writer.Status())
		if !strings.HasPrefix(c.Writer.Header().Get("Content-Type"), "text/event-stream") {
			rs.duration.Observe(time.Since(start).Seconds())
		}
		reqBytes := max(c.Request.ContentLength, 0)
		if body != nil {
			reqBytes = body.n
		}
		rs.requestBytes.Observe(float64(reqBytes))
		rs.responseBytes.Observe(float64(max(c.Writer.Size(), 0)))
	}
}

// routeSeries are the series of one method and route, looked up once:
// finding a vector's child hashes its label values every time, which
// four times a request is a measurable share of a cached GET.
type routeSeries struct {
	m                                     *Metrics
	method, route                         string
	duration, requestBytes, responseBytes prometheus.Observer
	// codes[code-100] is the request counter of a status code.
	codes [500]atomic.Pointer[prometheus.Counter]
}

type routeKey struct{ method, route string }

// route returns the series of method and route, made on first use. Both
// come from bounded sets (methodLabel, the router's templates).
func (m *Metrics) route(method, route string) *routeSeries {
	k := routeKey{method, route}
	m.routesMu.RLock()
	rs := m.routes[k]
	m.routesMu.RUnlock()
	if rs != nil {
		return rs
	}
	m.routesMu.Lock()
	defer m.routesMu.Unlock()
	if rs = m.routes[k]; rs == nil {
		rs = &routeSeries{
			m: m, method: method, route: route,
			duration:      m.duration.WithLabelValues(method, route),
			requestBytes:  m.requestBytes.WithLabelValues(method, route),
			responseBytes: m.responseBytes.WithLabelValues(method, route),
		}
		m.routes[k] = rs
	}
	return rs
}

// count counts a request answered with code.
func (rs *routeSeries) count(code int) {
	if code < 100 || code >= 600 {
		rs.m.requests.WithLabelValues(rs.method, rs.route, strconv.Itoa(code)).Inc()
		return
	}
	slot := &rs.codes[code-100]
	c := slot.Load()
	if c == nil {
		// Racing first uses store the same child: the vector returns
		// one counter per label values.
		counter := rs.m.requests.WithLabelValues(rs.method, rs.route, strconv.Itoa(code))
		c = &counter
		slot.Store(c)
	}
	(*c).Inc()
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
