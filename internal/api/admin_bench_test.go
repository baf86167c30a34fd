package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/backup"
	"github.com/gokv-service/gokv/internal/kv"
)

// benchBackupKeys is the size of the database BenchmarkBackupRestore backs
// up: $GOKV_BENCH_BACKUP_KEYS, else 100k (docs/performance.md has 1M).
func benchBackupKeys(b *testing.B) int {
	if v := os.Getenv("GOKV_BENCH_BACKUP_KEYS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("GOKV_BENCH_BACKUP_KEYS=%q is not a count", v)
		}
		return n
	}
	return 100_000
}

// BenchmarkBackupRestore measures GET /_admin/backup into a file and
// POST /_admin/restore of that file into an empty server, through the
// whole stack, with keys of about 20 bytes and values of 100: MiB/s of
// backup stream and keys/s. Run it once per size (-benchtime 1x).
func BenchmarkBackupRestore(b *testing.B) {
	keys := benchBackupKeys(b)
	src := newTestServer(b)
	value := make([]byte, 100)
	var ops []kv.Op
	for i := range keys {
		ops = append(ops, kv.Op{Kind: kv.OpPut, Bucket: fmt.Sprint("bench", i%8), Key: fmt.Sprintf("key/%012d", i),
			Value: value, ContentType: "application/octet-stream"})
		if len(ops) == kv.MaxOps || i == keys-1 {
			if _, err := src.Store.Apply(context.Background(), ops); err != nil {
				b.Fatal(err)
			}
			ops = ops[:0]
		}
	}
	file := filepath.Join(b.TempDir(), "bench.backup")
	var size int64
	b.Run("Backup", func(b *testing.B) {
		for b.Loop() {
			start := time.Now()
			size = getBackupInto(b, src, file)
			report(b, size, keys, time.Since(start))
		}
	})
	b.Run("Restore", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			dst := newTestServer(b)
			f, err := os.Open(file)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			start := time.Now()
			r := dst.request(b, http.MethodPost, "/_admin/restore", f,
				map[string]string{"Content-Type": backup.ContentType, "Authorization": "Bearer " + dst.AdminToken})
			elapsed := time.Since(start)
			f.Close()
			r.wantStatus(b, http.StatusOK, "restore")
			report(b, size, keys, elapsed)
		}
	})
}

func getBackupInto(b *testing.B, ts *testServer, file string) int64 {
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/_admin/backup", nil)
	req.Header.Set("Authorization", "Bearer "+ts.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	n, err := io.Copy(f, resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("backup: %d, %v", resp.StatusCode, err)
	}
	return n
}

func report(b *testing.B, bytes int64, keys int, d time.Duration) {
	b.ReportMetric(float64(bytes)/(1<<20)/d.Seconds(), "MiB/s")
	b.ReportMetric(float64(keys)/d.Seconds(), "keys/s")
	b.ReportMetric(float64(bytes)/(1<<20), "MiB")
}
