package badgerstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gokv-service/gokv/internal/kv"
)

// These tests damage real Badger files the way crashes, lost files and bad
// disks do, and check that Open never loses data without being told to.

// crashCopy opens a database, runs write on it and copies its files while
// it is still open, which is what a kill -9 at that moment leaves behind
// (Badger writes its logs through shared memory maps, so the copy reads
// what the kernel holds). It returns the copy's directory.
func crashCopy(t testing.TB, write func(s *Store)) string {
	t.Helper()
	live := t.TempDir()
	s := openTestStore(t, live)
	write(s)
	crashed := t.TempDir()
	entries, err := os.ReadDir(live)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() && e.Name() != lockName {
			copySparse(t, filepath.Join(live, e.Name()), filepath.Join(crashed, e.Name()))
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return crashed
}

// copySparse copies a file, skipping runs of zeros so that Badger's
// preallocated files stay sparse.
func copySparse(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const chunk = 64 << 10
	zero := make([]byte, chunk)
	for off := 0; off < len(data); off += chunk {
		b := data[off:min(off+chunk, len(data))]
		if bytes.Equal(b, zero[:len(b)]) {
			continue
		}
		if _, err := f.WriteAt(b, int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(int64(len(data))); err != nil {
		t.Fatal(err)
	}
}

// closedDB writes n keys to a database and closes it, which flushes them
// into .sst tables. It returns the directory.
func closedDB(t testing.TB, n int) string {
	t.Helper()
	dir := t.TempDir()
	s := openTestStore(t, dir)
	putKeys(t, s, n, 10)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func putKeys(t testing.TB, s *Store, n, size int) {
	t.Helper()
	for i := range n {
		mustPut(t, s, "b", key(i), Entry{ContentType: "text/plain", Value: value(i, size)})
	}
}

func key(i int) string { return fmt.Sprintf("k%05d", i) }

func value(i, size int) []byte {
	v := bytes.Repeat([]byte{byte('a' + i%26)}, size)
	copy(v, fmt.Sprint(i))
	return v
}

// filesWith lists the names in dir ending in ext.
func filesWith(t testing.TB, dir, ext string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	sort.Strings(m)
	return m
}

// dataEnd is the offset just after the last non-zero byte of a file.
func dataEnd(t testing.TB, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return len(bytes.TrimRight(data, "\x00"))
}

// biggestLog is the file of dir ending in ext (.mem, .vlog, .sst) that
// holds the most data.
func biggestLog(t testing.TB, dir, ext string) string {
	t.Helper()
	best, bestEnd := "", 0
	for _, name := range filesWith(t, dir, ext) {
		if end := dataEnd(t, filepath.Join(dir, name)); end > bestEnd {
			best, bestEnd = filepath.Join(dir, name), end
		}
	}
	if best == "" {
		t.Fatalf("no %s file with data in %s", ext, dir)
	}
	return best
}

// patch writes b at offset off of the file at path.
func patch(t testing.TB, path string, off int, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, int64(off)); err != nil {
		t.Fatal(err)
	}
}

func truncate(t testing.TB, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesLostManifest(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, manifest string)
	}{
		{"missing", func(t *testing.T, m string) {
			if err := os.Remove(m); err != nil {
				t.Fatal(err)
			}
		}},
		{"empty", func(t *testing.T, m string) { truncate(t, m, 0) }},
		{"only its header", func(t *testing.T, m string) { truncate(t, m, 8) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := closedDB(t, 100)
			tables := filesWith(t, dir, tableExt)
			if len(tables) == 0 {
				t.Fatal("closing the database wrote no .sst file")
			}
			tt.damage(t, filepath.Join(dir, manifestName))

			s, err := Open(dir, Options{})
			if err == nil {
				_, getErr := s.get("b", key(0))
				s.Close()
				t.Fatalf("Open succeeded (Get of a stored key: %v); .sst files left: %v", getErr, filesWith(t, dir, tableExt))
			}
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "gokv repair") || strings.Contains(err.Error(), "\n") {
				t.Errorf("Open: %v; want one line wrapping ErrDamaged that names gokv repair", err)
			}
			if got := filesWith(t, dir, tableExt); !slicesEqual(got, tables) {
				t.Errorf(".sst files after Open: %v, want %v", got, tables)
			}
		})
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

func TestOpenRefusesLogDamagedBeforeItsEnd(t *testing.T) {
	const n = 500
	flipMiddle := func(t *testing.T, log string) { patch(t, log, dataEnd(t, log)/2, []byte{0xff, 0x00, 0xff}) }
	// longHeader makes the header of the entry of key 250 claim a value
	// of about 2 MiB, covering every entry after it.
	longHeader := func(t *testing.T, log string) {
		data, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		k := bytes.Index(data, []byte("b:"+key(n/2)))
		if k < 0 {
			t.Fatalf("key %d not found in %s", n/2, log)
		}
		// header: meta, userMeta, klen, vlen, expiresAt (uvarints), key
		patch(t, log, k-2, []byte{0xff, 0xff, 0x7f})
	}
	tests := []struct {
		name      string
		ext       string
		valueSize int // above 1 KiB, values go to the .vlog
		damage    func(t *testing.T, log string)
	}{
		{"memtable WAL", memExt, 10, flipMiddle},
		{"value log", vlogExt, 2 << 10, flipMiddle},
		{"memtable WAL, header claiming a long entry", memExt, 10, longHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := crashCopy(t, func(s *Store) { putKeys(t, s, n, tt.valueSize) })
			log := biggestLog(t, dir, tt.ext)
			tt.damage(t, log)
			before, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}

			s, err := Open(dir, Options{})
			if err == nil {
				missing := 0
				for i := range n {
					if _, err := s.get("b", key(i)); err != nil {
						missing++
					}
				}
				s.Close()
				t.Fatalf("Open succeeded; %d of %d acknowledged keys are gone", missing, n)
			}
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), filepath.Base(log)) {
				t.Errorf("Open: %v; want ErrDamaged naming %s", err, filepath.Base(log))
			}
			if after, _ := os.ReadFile(log); !bytes.Equal(after, before) {
				t.Errorf("Open changed %s", filepath.Base(log))
			}
		})
	}
}

// TestOpenTruncatesTornTail checks the other side: the entry a crash cut
// short at the end of a log costs that write only.
func TestOpenTruncatesTornTail(t *testing.T) {
	for _, ext := range []string{memExt, vlogExt} {
		t.Run(ext, func(t *testing.T) {
			const n = 200
			size := 10
			if ext == vlogExt {
				size = 2 << 10
			}
			dir := crashCopy(t, func(s *Store) { putKeys(t, s, n, size) })
			log := biggestLog(t, dir, ext)
			end := dataEnd(t, log)
			patch(t, log, end-5, make([]byte, 5))

			s := openTestStore(t, dir)
			for i := range n - 1 {
				if e, err := s.get("b", key(i)); err != nil || !bytes.Equal(e.Value, value(i, size)) {
					t.Fatalf("key %d after a torn tail: %v", i, err)
				}
			}
			// The torn write was never acknowledged: it may be gone or
			// unreadable, never other bytes.
			if e, err := s.get("b", key(n-1)); err == nil && !bytes.Equal(e.Value, value(n-1, size)) {
				t.Fatalf("the torn write reads back as other bytes")
			} else if err != nil && !errors.Is(err, kv.ErrNotFound) && !errors.Is(err, kv.ErrCorrupt) {
				t.Fatalf("the torn write: %v, want kv.ErrNotFound or kv.ErrCorrupt", err)
			}
		})
	}
}

// TestOpenAfterCrashedFirstStart builds what a kill -9 during the first
// start leaves behind and checks that the next start succeeds at once.
func TestOpenAfterCrashedFirstStart(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{"empty value log", func(t *testing.T, dir string) {
			truncate(t, filepath.Join(dir, "000001.vlog"), 0)
		}},
		{"empty memtable WAL", func(t *testing.T, dir string) {
			truncate(t, filepath.Join(dir, "00001.mem"), 0)
		}},
		{"value log of zeros", func(t *testing.T, dir string) {
			truncate(t, filepath.Join(dir, "000001.vlog"), 0)
			truncate(t, filepath.Join(dir, "000001.vlog"), 128<<20)
		}},
		{"memtable WAL of zeros", func(t *testing.T, dir string) {
			truncate(t, filepath.Join(dir, "00001.mem"), 0)
			truncate(t, filepath.Join(dir, "00001.mem"), 8<<20)
		}},
		{"empty DISCARD", func(t *testing.T, dir string) {
			truncate(t, filepath.Join(dir, "DISCARD"), 0)
		}},
		{"value log shorter than its header", func(t *testing.T, dir string) {
			truncate(t, filepath.Join(dir, "000001.vlog"), 7)
		}},
		{"empty MANIFEST", func(t *testing.T, dir string) {
			truncate(t, filepath.Join(dir, manifestName), 0)
		}},
		{"MANIFEST with only its header", func(t *testing.T, dir string) {
			truncate(t, filepath.Join(dir, manifestName), 8)
		}},
		{"no MANIFEST", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, manifestName)); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := crashCopy(t, func(*Store) {})
			tt.damage(t, dir)
			s, err := Open(dir, Options{})
			if err != nil {
				t.Fatalf("first Open after the crash: %v", err)
			}
			mustPut(t, s, "b", "k", Entry{Value: []byte("v")})
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openTestStore(t, dir)
			if e, err := s.get("b", "k"); err != nil || string(e.Value) != "v" {
				t.Errorf("Get after reopening: %q, %v", e.Value, err)
			}
		})
	}
}

func TestRepair(t *testing.T) {
	t.Run("lost MANIFEST", func(t *testing.T) {
		dir := closedDB(t, 50)
		tables := filesWith(t, dir, tableExt)
		if err := os.Remove(filepath.Join(dir, manifestName)); err != nil {
			t.Fatal(err)
		}

		var out bytes.Buffer
		err := Repair(dir, RepairOptions{AcceptWALLoss: true}, &out)
		if !errors.Is(err, ErrDamaged) || !strings.Contains(out.String(), "--accept-data-loss") {
			t.Fatalf("Repair without --accept-data-loss: %v\n%s", err, out.String())
		}
		if got := filesWith(t, dir, tableExt); !slicesEqual(got, tables) {
			t.Fatalf(".sst files after a refused repair: %v, want %v", got, tables)
		}

		out.Reset()
		if err := Repair(dir, RepairOptions{AcceptDataLoss: true}, &out); err != nil {
			t.Fatalf("Repair --accept-data-loss: %v\n%s", err, out.String())
		}
		kept, err := filepath.Glob(filepath.Join(dir, QuarantineDir, "*", "*"+tableExt))
		if err != nil || len(kept) != len(tables) {
			t.Errorf("quarantine holds %v, want the %d tables %v\n%s", kept, len(tables), tables, out.String())
		}
		s := openTestStore(t, dir)
		if _, err := s.get("b", key(0)); !errors.Is(err, kv.ErrNotFound) {
			t.Errorf("Get after the repair: %v, want kv.ErrNotFound (a fresh database)", err)
		}
	})
	t.Run("damaged WAL", func(t *testing.T) {
		const n = 500
		dir := crashCopy(t, func(s *Store) { putKeys(t, s, n, 10) })
		log := biggestLog(t, dir, memExt)
		patch(t, log, dataEnd(t, log)/2, []byte{0xff, 0x00, 0xff})
		damaged, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}

		var out bytes.Buffer
		if err := Repair(dir, RepairOptions{AcceptDataLoss: true}, &out); !errors.Is(err, ErrDamaged) {
			t.Fatalf("Repair without --accept-wal-loss: %v\n%s", err, out.String())
		}
		out.Reset()
		if err := Repair(dir, RepairOptions{AcceptWALLoss: true}, &out); err != nil {
			t.Fatalf("Repair --accept-wal-loss: %v\n%s", err, out.String())
		}
		kept, err := filepath.Glob(filepath.Join(dir, QuarantineDir, "*", filepath.Base(log)))
		if err != nil || len(kept) != 1 {
			t.Fatalf("quarantine holds %v, want %s\n%s", kept, filepath.Base(log), out.String())
		}
		if whole, _ := os.ReadFile(kept[0]); !bytes.Equal(whole, damaged) {
			t.Error("the quarantined log differs from the damaged one")
		}
		s := openTestStore(t, dir)
		got := 0
		for i := range n {
			if _, err := s.get("b", key(i)); err == nil {
				got++
			} else if !errors.Is(err, kv.ErrNotFound) {
				t.Fatalf("Get %d: %v", i, err)
			}
		}
		if got == 0 || got == n {
			t.Errorf("%d of %d keys after cutting the log in the middle, want some but not all", got, n)
		}
	})
	t.Run("healthy", func(t *testing.T) {
		dir := closedDB(t, 5)
		var out bytes.Buffer
		if err := Repair(dir, RepairOptions{}, &out); err != nil || !strings.Contains(out.String(), "no damage") {
			t.Errorf("Repair of a healthy database: %v\n%s", err, out.String())
		}
	})
}

// TestOpenMovesUnlistedTablesAside: a table the MANIFEST does not list is
// what a crash during a flush or compaction leaves; Badger would delete
// it, gokv moves it aside and opens.
func TestOpenMovesUnlistedTablesAside(t *testing.T) {
	dir := closedDB(t, 20)
	tables := filesWith(t, dir, tableExt)
	if len(tables) == 0 {
		t.Fatal("closing the database wrote no .sst file")
	}
	copySparse(t, filepath.Join(dir, tables[0]), filepath.Join(dir, "000099.sst"))

	s := openTestStore(t, dir)
	if e, err := s.get("b", key(3)); err != nil || !bytes.Equal(e.Value, value(3, 10)) {
		t.Errorf("Get: %q, %v", e.Value, err)
	}
	kept, err := filepath.Glob(filepath.Join(dir, QuarantineDir, "*", "000099.sst"))
	if err != nil || len(kept) != 1 {
		t.Errorf("000099.sst is not in quarantine: %v, %v; directory holds %v", kept, err, filesWith(t, dir, tableExt))
	}
}

// TestOpenWithoutManifestKeepsLogData: the MANIFEST only lists tables, so
// without any the logs replay into a new one and nothing is lost.
func TestOpenWithoutManifestKeepsLogData(t *testing.T) {
	const n = 50
	dir := crashCopy(t, func(s *Store) { putKeys(t, s, n, 2<<10) })
	if tables := filesWith(t, dir, tableExt); len(tables) != 0 {
		t.Fatalf("the crashed database already has tables %v", tables)
	}
	if err := os.Remove(filepath.Join(dir, manifestName)); err != nil {
		t.Fatal(err)
	}
	s := openTestStore(t, dir)
	for i := range n {
		if e, err := s.get("b", key(i)); err != nil || !bytes.Equal(e.Value, value(i, 2<<10)) {
			t.Fatalf("key %d: %v", i, err)
		}
	}
}

// TestScanLogTornAnywhere cuts a log short at many points, as a crash in
// the middle of writing an entry does, and checks that none of them reads
// as damage and that Badger's truncation point is never after the cut.
func TestScanLogTornAnywhere(t *testing.T) {
	for _, tt := range []struct {
		ext  string
		size int
	}{{memExt, 10}, {vlogExt, 2 << 10}} {
		t.Run(tt.ext, func(t *testing.T) {
			dir := crashCopy(t, func(s *Store) { putKeys(t, s, 100, tt.size) })
			log := biggestLog(t, dir, tt.ext)
			data, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			end := dataEnd(t, log)
			cut := filepath.Join(t.TempDir(), filepath.Base(log))
			for c := logHeaderSize; c < end; c += 1 + (end-logHeaderSize)/400 {
				if err := os.WriteFile(cut, data[:c], 0o644); err != nil {
					t.Fatal(err)
				}
				truncate(t, cut, int64(len(data)))
				s, err := scanLog(cut)
				if err != nil || s.Damaged || s.ValidEnd > int64(c) {
					t.Fatalf("cut at %d of %d: %+v, %v; want a torn tail ending at most at the cut", c, end, s, err)
				}
			}
		})
	}
}

// TestScanLogDamageAnywhere flips one byte at many points before the last
// write of a log and checks that each reads as damage, never as a torn
// tail that Badger may cut.
func TestScanLogDamageAnywhere(t *testing.T) {
	for _, tt := range []struct {
		ext  string
		size int
	}{{memExt, 10}, {vlogExt, 2 << 10}} {
		t.Run(tt.ext, func(t *testing.T) {
			const n = 100
			dir := crashCopy(t, func(s *Store) { putKeys(t, s, n, tt.size) })
			log := biggestLog(t, dir, tt.ext)
			data, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			size := int64(len(data))
			data = data[:dataEnd(t, log)]
			// Badger's largest entry header is 22 bytes.
			last := bytes.Index(data, []byte("b:"+key(n-1))) - 22
			if last < logHeaderSize {
				t.Fatalf("last key not found in %s", log)
			}
			damagedLog := filepath.Join(t.TempDir(), filepath.Base(log))
			for i, p := 0, logHeaderSize; p < last; i, p = i+1, p+1+(last-logHeaderSize)/300 {
				flipped := bytes.Clone(data)
				flipped[p] ^= []byte{0x01, 0x80, 0xff}[i%3]
				if err := os.WriteFile(damagedLog, flipped, 0o644); err != nil {
					t.Fatal(err)
				}
				truncate(t, damagedLog, size)
				if s, err := scanLog(damagedLog); err != nil || !s.Damaged {
					t.Fatalf("byte %d of %d flipped: %+v, %v; want damage", p, last, s, err)
				}
			}
		})
	}
}
