package badgerstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokv-service/gokv/internal/kv"
)

// Damaged files must never be served as absence or as other bytes: every
// key either reads back exactly as written or fails with kv.ErrCorrupt.

const corruptKeys = 2000

func corruptValue(i, size int) []byte {
	return bytes.Repeat([]byte{byte('a' + i%26)}, size)
}

// populate writes corruptKeys keys of size-byte values into a new
// database in dir and closes it, so that everything is in .sst and .vlog
// files. It then opens and closes the database once more: Badger starts a
// new value-log file on every open and checks only the last one when it
// opens, so the values end up in a file that is read as it is.
func populate(t testing.TB, dir string, size int) {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range corruptKeys {
		mustPut(t, s, "b", fmt.Sprint("key-", i), Entry{ContentType: "text/plain", Value: corruptValue(i, size)})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// flipByte inverts one byte of file at offset.
func flipByte(t testing.TB, file string, offset int64) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, offset); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, offset); err != nil {
		t.Fatal(err)
	}
}

// valueOffset is where value first starts in file.
func valueOffset(t testing.TB, file string, value []byte) int64 {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, value)
	if i < 0 {
		t.Fatalf("value not found in %s", file)
	}
	return int64(i)
}

// readAll reads every key back and returns how many failed with
// kv.ErrCorrupt. Any other failure, a missing key or other bytes fail the test.
func readAll(t testing.TB, s *Store, size int) (corrupt int) {
	t.Helper()
	for i := range corruptKeys {
		e, err := s.get("b", fmt.Sprint("key-", i))
		switch {
		case errors.Is(err, kv.ErrCorrupt):
			corrupt++
		case err != nil:
			t.Fatalf("Get key-%d: err = %v, want the value or kv.ErrCorrupt", i, err)
		case !bytes.Equal(e.Value, corruptValue(i, size)) || e.ContentType != "text/plain":
			t.Fatalf("Get key-%d = %q %.20q..., want the stored bytes or kv.ErrCorrupt", i, e.ContentType, e.Value)
		}
	}
	return corrupt
}

// TestCorruptionIsAnError damages real database files. Damage found at
// start fails Open with kv.ErrCorrupt naming the file; damage found on a
// read fails that read.
func TestCorruptionIsAnError(t *testing.T) {
	tests := []struct {
		name   string
		size   int    // value size: above 1 KiB values live in the value log
		ext    string // the file to damage
		damage func(t testing.TB, file string)
		named  bool // found at start: Open must fail, naming the file
	}{
		{"one byte of a value-log entry", 2000, ".vlog", func(t testing.TB, file string) {
			flipByte(t, file, valueOffset(t, file, corruptValue(12, 2000))+1000)
		}, false},
		{"4 KiB of a value log", 2000, ".vlog", func(t testing.TB, file string) {
			patch(t, file, 1<<20, bytes.Repeat([]byte{0x5a}, 4<<10))
		}, false},
		{"a truncated value log", 2000, ".vlog", func(t testing.TB, file string) {
			if err := os.Truncate(file, 1<<20); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"a deleted value log", 2000, ".vlog", func(t testing.TB, file string) {
			if err := os.Remove(file); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"4 KiB of a table", 100, ".sst", func(t testing.TB, file string) {
			patch(t, file, 16<<10, bytes.Repeat([]byte{0x5a}, 4<<10))
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			populate(t, dir, tt.size)
			file := biggestLog(t, dir, tt.ext)
			tt.damage(t, file)
			s, err := Open(dir, Options{})
			if err != nil {
				if !errors.Is(err, kv.ErrCorrupt) {
					t.Fatalf("Open: err = %v, want kv.ErrCorrupt or success", err)
				}
				if tt.named && !strings.Contains(err.Error(), filepath.Base(file)) {
					t.Errorf("Open: err = %v, want it to name %s", err, filepath.Base(file))
				}
				return
			}
			defer s.Close()
			if tt.named {
				t.Fatalf("Open succeeded with %s damaged; want kv.ErrCorrupt naming it", filepath.Base(file))
			}
			if n := readAll(t, s, tt.size); n == 0 {
				t.Errorf("no key failed with kv.ErrCorrupt after damaging %s", filepath.Base(file))
			}
		})
	}
}
