package api_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
)

// The benchmarks go through the whole stack a client sees: a real TCP
// connection, net/http, Gin, token verification and Badger on disk.

var benchSizes = []int{100, 4 << 10}

func BenchmarkGet(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			ts := newTestServer(b)
			const keys = 1000
			value := bytes.Repeat([]byte("v"), size)
			for i := range keys {
				ts.request(b, http.MethodPut, fmt.Sprintf("/bench/key-%d", i), bytes.NewReader(value), nil).
					wantStatus(b, http.StatusCreated, "preload")
			}
			var n atomic.Int64
			b.SetBytes(int64(size))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				client := &http.Client{}
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/bench/key-%d", ts.URL, n.Add(1)%keys), nil)
					req.Header.Set("Authorization", "Bearer "+ts.Token)
					benchDo(b, client, req, http.StatusOK)
				}
			})
		})
	}
}

func BenchmarkPut(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			ts := newTestServer(b)
			value := bytes.Repeat([]byte("v"), size)
			var n atomic.Int64
			b.SetBytes(int64(size))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				client := &http.Client{}
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/bench/key-%d", ts.URL, n.Add(1)%10000), bytes.NewReader(value))
					req.Header.Set("Authorization", "Bearer "+ts.Token)
					benchDo(b, client, req, 0)
				}
			})
		})
	}
}

// benchDo sends req and drains the response; want 0 accepts any 2xx.
func benchDo(b *testing.B, client *http.Client, req *http.Request, want int) {
	resp, err := client.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if (want != 0 && resp.StatusCode != want) || resp.StatusCode/100 != 2 {
		b.Errorf("%s %s: status %d", req.Method, req.URL.Path, resp.StatusCode)
	}
}
