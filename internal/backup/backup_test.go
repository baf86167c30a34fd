package backup_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/backup"
	"github.com/gokv-service/gokv/internal/kv"
)

var records = []kv.Record{
	{Bucket: "b", Key: "k", ContentType: "text/plain", Value: []byte("v")},
	{Bucket: "b", Key: "a/b c:d", ContentType: "application/x-thing", ExpiresAt: time.Unix(2000000000, 0), Value: []byte{0, 1, 2}},
	{Bucket: "other", Key: "empty", Value: []byte{}},
	{Bucket: "big", Key: "v", ContentType: "application/octet-stream", Value: bytes.Repeat([]byte("x"), 200<<10)},
}

// encode writes recs as a backup of version.
func encode(t testing.TB, version uint64, recs []kv.Record) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := backup.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(version); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decode reads every record of b and the version, or the first error.
func decode(b []byte) ([]kv.Record, uint64, error) {
	r, err := backup.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, 0, err
	}
	var recs []kv.Record
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return recs, r.Version(), nil
		}
		if err != nil {
			return recs, 0, err
		}
		recs = append(recs, rec)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name string
		recs []kv.Record
	}{
		{"empty", nil},
		{"records", records},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, version, err := decode(encode(t, 42, tt.recs))
			if err != nil {
				t.Fatal(err)
			}
			if version != 42 {
				t.Errorf("version = %d, want 42", version)
			}
			if len(got) != len(tt.recs) {
				t.Fatalf("read %d records, wrote %d", len(got), len(tt.recs))
			}
			for i := range got {
				if !reflect.DeepEqual(got[i], tt.recs[i]) {
					t.Errorf("record %d = %+v, want %+v", i, got[i], tt.recs[i])
				}
			}
		})
	}
}

// TestDamage: every way a stream can be damaged is refused with the error
// that names it, never read as a shorter backup.
func TestDamage(t *testing.T) {
	good := encode(t, 7, records)
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name  string
		input []byte
		want  error
	}{
		{"empty", nil, backup.ErrFormat},
		{"bad magic", flip(0), backup.ErrFormat},
		{"newer format", flip(len(backup.Magic) + 1), backup.ErrFormat},
		{"header only", good[:len(backup.Magic)+2], backup.ErrTruncated},
		{"cut in a record", good[:len(good)/2], backup.ErrTruncated},
		{"cut before the checksum", good[:len(good)-32], backup.ErrTruncated},
		{"cut in the checksum", good[:len(good)-1], backup.ErrTruncated},
		{"byte flipped in a value", flip(len(good) / 2), backup.ErrCorrupt},
		{"byte flipped in a key", flip(len(backup.Magic) + 5), backup.ErrCorrupt},
		{"byte flipped in the trailer", flip(len(good) - 40), backup.ErrCorrupt},
		{"byte flipped in the checksum", flip(len(good) - 1), backup.ErrCorrupt},
		{"data after the trailer", append(bytes.Clone(good), 0), backup.ErrCorrupt},
		{"unknown tag", append(bytes.Clone(good[:len(backup.Magic)+2]), 'X'), backup.ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := decode(tt.input)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestEveryCutIsRefused: a stream cut at any byte is refused.
func TestEveryCutIsRefused(t *testing.T) {
	good := encode(t, 7, records[:3])
	for n := range len(good) {
		if _, _, err := decode(good[:n]); err == nil {
			t.Fatalf("a stream cut to %d of %d bytes read without error", n, len(good))
		}
	}
}

// TestEveryFlipIsRefused: a stream with any one byte changed is refused.
func TestEveryFlipIsRefused(t *testing.T) {
	good := encode(t, 7, records[:3])
	for i := range good {
		b := bytes.Clone(good)
		b[i] ^= 0x80
		if _, _, err := decode(b); err == nil {
			t.Fatalf("a stream with byte %d of %d flipped read without error", i, len(good))
		}
	}
}

func TestErrorsSayWhy(t *testing.T) {
	_, _, err := decode([]byte("PK\x03\x04 a zip file"))
	if err == nil || !strings.Contains(err.Error(), "not a gokv backup") {
		t.Fatalf("err = %v, want one saying it is not a gokv backup", err)
	}
}

// FuzzReader: whatever the bytes, the reader never panics, and it accepts
// only streams whose records, written again, give the same bytes: nothing
// damaged reads as a backup.
func FuzzReader(f *testing.F) {
	f.Add(encode(f, 1, nil))
	f.Add(encode(f, 9, records[:3]))
	f.Add([]byte(backup.Magic + "\x00\x01R\x01b\x01k\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01v"))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, version, err := decode(b)
		if err != nil {
			return
		}
		if again := encode(t, version, recs); !bytes.Equal(again, b) {
			t.Fatalf("accepted %q, which encodes again as %q", b, again)
		}
	})
}
