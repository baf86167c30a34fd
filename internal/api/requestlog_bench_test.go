package api

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

// BenchmarkRequestLog is what the request id and the request's log line
// cost: at info level as a JSON line (the chart's setting, to a discarded
// writer, so without the write itself), and at warn, which skips the line.
func BenchmarkRequestLog(b *testing.B) {
	gin.SetMode(gin.TestMode)
	body := make([]byte, 100)
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelWarn} {
		b.Run(level.String(), func(b *testing.B) {
			log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: level}))
			r := gin.New()
			r.Use(logRequests(log))
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
