package badgerstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4/options"

	"github.com/gokv-service/gokv/internal/kv"
)

// The storage hot paths on their own, without HTTP: a GET is one
// read-only transaction, a PUT a queued write in a group commit.

func BenchmarkStoreGet(b *testing.B) {
	for _, size := range []int{100, 4 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			benchGets(b, openTestStore(b, b.TempDir()), size)
		})
	}
}

// BenchmarkStoreGetVerify is what checking checksums on reads costs
// (corrupt.go): table blocks read from disk and every value in the value
// log (values above 1 KiB) are checked when on.
func BenchmarkStoreGetVerify(b *testing.B) {
	for _, verify := range []bool{false, true} {
		for _, size := range []int{100, 4 << 10} {
			b.Run(fmt.Sprintf("verify=%v/%dB", verify, size), func(b *testing.B) {
				dir := b.TempDir()
				bopts := badgerOptions(dir, Options{})
				if !verify {
					bopts = bopts.WithChecksumVerificationMode(options.NoVerification).WithVerifyValueChecksum(false)
				}
				s, err := open(dir, Options{}, bopts)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				benchGets(b, s, size)
			})
		}
	}
}

// benchGets stores 10k values of size in s and measures parallel Gets of
// them.
func benchGets(b *testing.B, s *Store, size int) {
	const keys = 10000
	for i := range keys {
		mustPut(b, s, "bench", fmt.Sprint("key-", i), Entry{ContentType: "application/octet-stream", Value: bytes.Repeat([]byte("v"), size)})
	}
	var n atomic.Int64
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.get("bench", fmt.Sprint("key-", n.Add(1)%keys)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkStorePut(b *testing.B) {
	for _, sync := range []bool{false, true} {
		for _, size := range []int{100, 4 << 10} {
			b.Run(fmt.Sprintf("sync=%v/%dB", sync, size), func(b *testing.B) {
				s, err := Open(b.TempDir(), Options{SyncWrites: sync})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				value := bytes.Repeat([]byte("v"), size)
				var n atomic.Int64
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.SetParallelism(16) // concurrent clients, as behind the HTTP server
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := s.Put("bench", fmt.Sprint("key-", n.Add(1)%10000), Entry{Value: value}); err != nil {
							b.Fatal(err)
						}
					}
				})
			})
		}
	}
}

// BenchmarkStoreRestore is Store.Restore alone, without HTTP or the
// backup format: 100k records of 100 B into an empty store, with and
// without SyncWrites (each of the restore's transactions waits for its
// own fsync with it).
func BenchmarkStoreRestore(b *testing.B) {
	const records = 100_000
	value := bytes.Repeat([]byte("v"), 100)
	for _, sync := range []bool{false, true} {
		b.Run(fmt.Sprintf("sync=%v", sync), func(b *testing.B) {
			b.StopTimer()
			var took time.Duration
			for range b.N {
				s, err := Open(b.TempDir(), Options{SyncWrites: sync})
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				next := func() (kv.Record, error) {
					if n == records {
						return kv.Record{}, io.EOF
					}
					n++
					return kv.Record{Bucket: "bench", Key: fmt.Sprintf("key/%012d", n), ContentType: "application/octet-stream", Value: value}, nil
				}
				b.StartTimer()
				start := time.Now()
				if _, err := s.Restore(context.Background(), false, next); err != nil {
					b.Fatal(err)
				}
				took += time.Since(start)
				b.StopTimer()
				s.Close()
			}
			b.ReportMetric(float64(records*b.N)/took.Seconds(), "keys/s")
		})
	}
}
