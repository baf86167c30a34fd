package badgerstore

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/kv"
)

// The storage side of API v1: listing pages of a large bucket, the full
// walk of it, and a transaction of kv.MaxOps puts against as many single
// puts. docs/performance.md ("API v1") has the figures.

// listKeysEnv sets how many keys the listing benchmarks' bucket holds;
// the documented figures are for the default, 1M. Loading them takes
// about half a minute, once per test binary.
const listKeysEnv = "GOKV_BENCH_LIST_KEYS"

// listPageSize is the page the listing benchmarks ask for: the largest
// the API serves.
const listPageSize = kv.MaxListLimit

// bigBucket is a store with a bucket "big" of n keys of 100 B (in the LSM
// tree, not the value log), shared by the listing benchmarks of one test
// binary and removed by TestMain.
var bigBucket struct {
	once  sync.Once
	dir   string
	store *Store
	n     int
	err   error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bigBucket.store != nil {
		bigBucket.store.Close()
	}
	if bigBucket.dir != "" {
		os.RemoveAll(bigBucket.dir)
	}
	os.Exit(code)
}

// bigKey is the name of key i of the big bucket: zero-padded, so byte
// order is index order and a key's index says where a cursor stands.
func bigKey(i int) string {
	return fmt.Sprintf("key-%07d", i)
}

// bigStore returns the store with the big bucket, loading it on first use
// with Applies of kv.MaxOps puts.
func bigStore(b *testing.B) (*Store, int) {
	b.Helper()
	bigBucket.once.Do(func() {
		bigBucket.n = 1_000_000
		if v := os.Getenv(listKeysEnv); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < listPageSize {
				bigBucket.err = fmt.Errorf("%s=%q: want a number of keys of at least %d", listKeysEnv, v, listPageSize)
				return
			}
			bigBucket.n = n
		}
		bigBucket.dir, bigBucket.err = os.MkdirTemp("", "gokv-bench-list-")
		if bigBucket.err != nil {
			return
		}
		bigBucket.store, bigBucket.err = Open(bigBucket.dir, Options{})
		if bigBucket.err != nil {
			return
		}
		value := make([]byte, 100)
		ops := make([]kv.Op, 0, kv.MaxOps)
		for i := range bigBucket.n {
			ops = append(ops, kv.Op{Kind: kv.OpPut, Bucket: "big", Key: bigKey(i), Value: value, ContentType: "application/octet-stream"})
			if len(ops) == kv.MaxOps || i == bigBucket.n-1 {
				if _, err := bigBucket.store.Apply(context.Background(), ops); err != nil {
					bigBucket.err = fmt.Errorf("load key %d: %w", i, err)
					return
				}
				ops = ops[:0]
			}
		}
	})
	if bigBucket.err != nil {
		b.Fatal(bigBucket.err)
	}
	return bigBucket.store, bigBucket.n
}

// BenchmarkListPage lists one page of 1,000 keys with the cursor at the
// start, the middle and the end of the big bucket: a page costs a seek
// and 1,000 steps wherever it starts, so the three should be alike.
func BenchmarkListPage(b *testing.B) {
	s, n := bigStore(b)
	for _, at := range []struct {
		name  string
		index int
	}{
		{"start", 0},
		{"middle", n / 2},
		{"end", n - listPageSize},
	} {
		b.Run(at.name, func(b *testing.B) {
			opts := kv.ListOptions{Start: bigKey(at.index), Limit: listPageSize}
			b.ReportAllocs()
			for b.Loop() {
				page, err := s.List(context.Background(), "big", opts)
				if err != nil {
					b.Fatal(err)
				}
				if len(page.Items) != listPageSize || page.Items[0].Key != opts.Start {
					b.Fatalf("page from %s: %d items from %q", opts.Start, len(page.Items), page.Items[0].Key)
				}
			}
			b.ReportMetric(float64(listPageSize*b.N)/b.Elapsed().Seconds(), "keys/s")
		})
	}
}

// BenchmarkListWalk lists the whole big bucket by pages of 1,000, each
// page starting at the last one's cursor, as a client walks it. Besides
// the mean it reports the mean page of the first and of the last tenth
// of the walk: a page deep in the bucket must cost what one near the
// start does. Unlike BenchmarkListPage's, a walk's pages read blocks the
// block cache does not hold yet.
func BenchmarkListWalk(b *testing.B) {
	s, n := bigStore(b)
	pages := (n + listPageSize - 1) / listPageSize
	tenth := max(pages/10, 1)
	var first, last time.Duration
	b.ReportAllocs()
	for b.Loop() {
		keys := 0
		opts := kv.ListOptions{Limit: listPageSize}
		for p := 0; ; p++ {
			t0 := time.Now()
			page, err := s.List(context.Background(), "big", opts)
			if err != nil {
				b.Fatal(err)
			}
			switch took := time.Since(t0); {
			case p < tenth:
				first += took
			case p >= pages-tenth:
				last += took
			}
			keys += len(page.Items)
			if page.Next == "" {
				break
			}
			opts.Start = page.Next
		}
		if keys != n {
			b.Fatalf("walk listed %d keys, want %d", keys, n)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "keys/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*pages), "ns/page")
	b.ReportMetric(float64(first.Nanoseconds())/float64(b.N*tenth), "first-tenth-ns/page")
	b.ReportMetric(float64(last.Nanoseconds())/float64(b.N*tenth), "last-tenth-ns/page")
}

// txnKeys is how many distinct keys the transaction benchmarks write.
const txnKeys = 100_000

// BenchmarkApply128 writes kv.MaxOps puts of 100 B as one Apply: one
// commit (and, with SyncWrites, one fsync) for all of them.
func BenchmarkApply128(b *testing.B) {
	for _, durable := range []bool{false, true} {
		b.Run(fmt.Sprintf("sync=%v", durable), func(b *testing.B) {
			s, value := txnStore(b, durable)
			ops := make([]kv.Op, kv.MaxOps)
			next := 0
			b.ReportAllocs()
			for b.Loop() {
				for i := range ops {
					ops[i] = kv.Op{Kind: kv.OpPut, Bucket: "bench", Key: "key-" + strconv.Itoa(next%txnKeys), Value: value}
					next++
				}
				if _, err := s.Apply(context.Background(), ops); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(kv.MaxOps*b.N)/b.Elapsed().Seconds(), "puts/s")
		})
	}
}

// BenchmarkPut128Singles writes the same kv.MaxOps puts as
// BenchmarkApply128, each as its own Apply from its own goroutine, as
// that many clients sending single PUTs at once do: group commit
// (commit.go) batches them, but each is still its own op in the queue.
func BenchmarkPut128Singles(b *testing.B) {
	for _, durable := range []bool{false, true} {
		b.Run(fmt.Sprintf("sync=%v", durable), func(b *testing.B) {
			s, value := txnStore(b, durable)
			next := 0
			b.ReportAllocs()
			for b.Loop() {
				var wg sync.WaitGroup
				errs := make([]error, kv.MaxOps)
				for i := range kv.MaxOps {
					key := "key-" + strconv.Itoa(next%txnKeys)
					next++
					wg.Go(func() {
						_, errs[i] = s.Apply(context.Background(), []kv.Op{{Kind: kv.OpPut, Bucket: "bench", Key: key, Value: value}})
					})
				}
				wg.Wait()
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(kv.MaxOps*b.N)/b.Elapsed().Seconds(), "puts/s")
		})
	}
}

func txnStore(b *testing.B, durable bool) (*Store, []byte) {
	b.Helper()
	s, err := Open(b.TempDir(), Options{SyncWrites: durable})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s, make([]byte, 100)
}
