package badgerstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gokv-service/gokv/internal/kv"
)

// openTestStore opens a Store in a fresh directory and closes it when the
// test ends.
func openTestStore(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	closeAtEnd(t, s)
	return s
}

// closeAtEnd closes s when the test ends, unless the test closed it.
func closeAtEnd(t testing.TB, s *Store) {
	t.Cleanup(func() {
		if !errors.Is(s.Ready(), kv.ErrClosed) {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	})
}

func mustPut(t testing.TB, s *Store, bucket, key string, e Entry) bool {
	t.Helper()
	created, err := s.Put(bucket, key, e)
	if err != nil {
		t.Fatalf("Put(%q, %q): %v", bucket, key, err)
	}
	return created
}

func TestPutGetDelete(t *testing.T) {
	s := openTestStore(t, t.TempDir())

	if _, err := s.get("b", "k"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Get of a missing key: err = %v, want kv.ErrNotFound", err)
	}
	if created := mustPut(t, s, "b", "k", Entry{ContentType: "text/plain", Value: []byte("one")}); !created {
		t.Error("first Put: created = false, want true")
	}
	if created := mustPut(t, s, "b", "k", Entry{ContentType: "application/json", Value: []byte(`"two"`)}); created {
		t.Error("second Put: created = true, want false")
	}
	got, err := s.get("b", "k")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.ContentType != "application/json" || string(got.Value) != `"two"` {
		t.Errorf("Get = %q %q, want application/json \"two\"", got.ContentType, got.Value)
	}
	if err := s.Delete("b", "k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.get("b", "k"); !errors.Is(err, kv.ErrNotFound) {
		t.Errorf("Get after Delete: err = %v, want kv.ErrNotFound", err)
	}
	if err := s.Delete("b", "k"); !errors.Is(err, kv.ErrNotFound) {
		t.Errorf("second Delete: err = %v, want kv.ErrNotFound", err)
	}
}

func TestValuesAreStoredExactly(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	values := map[string][]byte{
		"empty":      {},
		"binary":     {0, 1, 2, 0xff, 0xfe, 0},
		"below-vlog": bytes.Repeat([]byte("a"), 1000),
		"in-vlog":    bytes.Repeat([]byte{0xAB}, 64<<10),
		"one-mib":    bytes.Repeat([]byte("z"), 1<<20),
	}
	for name, v := range values {
		mustPut(t, s, "b", name, Entry{ContentType: "application/octet-stream", Value: v})
	}
	for name, want := range values {
		got, err := s.get("b", name)
		if err != nil {
			t.Fatalf("Get(%s): %v", name, err)
		}
		if !bytes.Equal(got.Value, want) {
			t.Errorf("Get(%s): %d bytes differ from the %d stored", name, len(got.Value), len(want))
		}
	}
}

func TestBucketsDoNotAlias(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	mustPut(t, s, "a", "b:c", Entry{Value: []byte("bucket a")})
	if _, err := s.Put("a:b", "c", Entry{Value: []byte("bucket a:b")}); !errors.Is(err, kv.ErrInvalidBucket) {
		t.Fatalf(`Put("a:b", "c"): err = %v, want kv.ErrInvalidBucket`, err)
	}
	mustPut(t, s, "a.b", "c", Entry{Value: []byte("bucket a.b")})
	got, err := s.get("a", "b:c")
	if err != nil || string(got.Value) != "bucket a" {
		t.Errorf(`Get("a", "b:c") = %q, %v; want "bucket a"`, got.Value, err)
	}
	if _, err := s.get("a", "b"); !errors.Is(err, kv.ErrNotFound) {
		t.Errorf(`Get("a", "b") = %v, want kv.ErrNotFound: a key must not match a prefix`, err)
	}
}

func TestInvalidNamesAreRejected(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	tests := []struct {
		name        string
		bucket, key string
		contentType string
		want        error
	}{
		{"empty bucket", "", "k", "", kv.ErrInvalidBucket},
		{"bucket with colon", "a:b", "k", "", kv.ErrInvalidBucket},
		{"bucket with slash", "a/b", "k", "", kv.ErrInvalidBucket},
		{"long bucket", string(bytes.Repeat([]byte("b"), kv.MaxBucketLen+1)), "k", "", kv.ErrInvalidBucket},
		{"empty key", "b", "", "", kv.ErrInvalidKey},
		{"long key", "b", string(bytes.Repeat([]byte("k"), kv.MaxKeyLen+1)), "", kv.ErrInvalidKey},
		{"key not utf-8", "b", "\xff\xfe", "", kv.ErrInvalidKey},
		{"long content type", "b", "k", string(bytes.Repeat([]byte("t"), kv.MaxContentTypeLen+1)), kv.ErrInvalidContentType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Put(tt.bucket, tt.key, Entry{ContentType: tt.contentType}); !errors.Is(err, tt.want) {
				t.Errorf("Put: err = %v, want %v", err, tt.want)
			}
			if tt.want == kv.ErrInvalidContentType {
				return
			}
			if _, err := s.get(tt.bucket, tt.key); !errors.Is(err, tt.want) {
				t.Errorf("Get: err = %v, want %v", err, tt.want)
			}
			if err := s.Delete(tt.bucket, tt.key); !errors.Is(err, tt.want) {
				t.Errorf("Delete: err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDataSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		mustPut(t, s, "b", fmt.Sprint(i), Entry{ContentType: "text/plain", Value: []byte(fmt.Sprint("v", i))})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, dir)
	for i := range 100 {
		got, err := s.get("b", fmt.Sprint(i))
		if err != nil || string(got.Value) != fmt.Sprint("v", i) || got.ContentType != "text/plain" {
			t.Fatalf("after reopen, key %d = %q %q, %v", i, got.ContentType, got.Value, err)
		}
	}
}

func TestOpenLockedDirectory(t *testing.T) {
	dir := t.TempDir()
	first := openTestStore(t, dir)
	mustPut(t, first, "b", "k", Entry{Value: []byte("kept")})
	before := listDir(t, dir)

	_, err := Open(dir, Options{})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: err = %v, want ErrLocked", err)
	}
	if after := listDir(t, dir); after != before {
		t.Errorf("second Open changed the directory:\nbefore %s\nafter  %s", before, after)
	}
	if got, err := first.get("b", "k"); err != nil || string(got.Value) != "kept" {
		t.Errorf("first store after failed second Open: %q, %v", got.Value, err)
	}
}

func listDir(t testing.TB, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%d:%s ", e.Name(), info.Size(), info.ModTime())
	}
	return b.String()
}

func TestOpenUnusableDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(file, Options{}); err == nil {
		t.Fatal("Open of a regular file succeeded")
	}
}

func TestClosedStore(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	mustPut(t, s, "b", "k", Entry{Value: []byte("v")})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(); !errors.Is(err, kv.ErrClosed) {
		t.Errorf("Ready after Close = %v, want kv.ErrClosed", err)
	}
	if _, err := s.get("b", "k"); !errors.Is(err, kv.ErrClosed) {
		t.Errorf("Get after Close: err = %v, want kv.ErrClosed", err)
	}
	if _, err := s.Put("b", "k", Entry{}); !errors.Is(err, kv.ErrClosed) {
		t.Errorf("Put after Close: err = %v, want kv.ErrClosed", err)
	}
}

// TestConcurrentCreatesCountOnce checks that of many writers racing to
// create the same key, exactly one is told it created it.
func TestConcurrentCreatesCountOnce(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	const writers = 16
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
	)
	for i := range writers {
		wg.Go(func() {
			c, err := s.Put("b", "race", Entry{Value: []byte(fmt.Sprint(i))})
			if err != nil {
				t.Errorf("Put: %v", err)
				return
			}
			if c {
				mu.Lock()
				created++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if created != 1 {
		t.Errorf("%d writers were told they created the key, want 1", created)
	}
}
