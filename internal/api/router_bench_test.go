package api_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gokv-service/gokv/internal/apitest"
)

// BenchmarkRouter serves requests in-process, without TCP: routing, the
// token check (a cache hit after the first request), path unescaping and
// the handler over the real store.
//
// Metrics on and off compare what the Prometheus instrumentation costs a
// request (the budget is 5% of GET throughput).
func BenchmarkRouter(b *testing.B) {
	for _, metrics := range []string{"metrics", "nometrics"} {
		b.Run(metrics, func(b *testing.B) {
			benchmarkRouter(b, apitest.StartWith(b, apitest.Config{NoMetrics: metrics == "nometrics"}))
		})
	}
}

func benchmarkRouter(b *testing.B, ts *apitest.Server) {
	value := bytes.Repeat([]byte("v"), 100)
	for i := range 1000 {
		ts.MustPut(b, "bench", fmt.Sprint("key-", i), value)
	}
	for _, method := range []string{http.MethodGet, http.MethodPut} {
		b.Run(method, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				req := httptest.NewRequest(method, fmt.Sprint("/bench/key-", i%1000), bytes.NewReader(value))
				req.Header.Set("Authorization", "Bearer "+ts.Token)
				w := httptest.NewRecorder()
				ts.Handler.ServeHTTP(w, req)
				if w.Code/100 != 2 {
					b.Fatalf("%s: %d %s", method, w.Code, w.Body)
				}
				i++
			}
		})
	}
}
