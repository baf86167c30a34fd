package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/gokv-service/gokv/internal/metrics"
)

// BenchmarkMiddleware is what the instrumentation adds to a request: a
// route with a handler that writes 100 bytes, with metrics and without
// (a nil *Metrics, as METRICS_PORT=0 leaves it).
func BenchmarkMiddleware(b *testing.B) {
	gin.SetMode(gin.TestMode)
	body := make([]byte, 100)
	for _, tt := range []struct {
		name string
		m    *metrics.Metrics
	}{{"off", nil}, {"on", metrics.New()}} {
		b.Run(tt.name, func(b *testing.B) {
			r := gin.New()
			r.Use(tt.m.Middleware())
			r.GET("/:bucket/*key", func(c *gin.Context) { c.Data(http.StatusOK, "application/octet-stream", body) })
			req := httptest.NewRequest(http.MethodGet, "/b/k", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				w.Body.Reset()
				r.ServeHTTP(w, req)
			}
		})
	}
}
