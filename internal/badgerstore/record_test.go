package badgerstore

import (
	"context"

	"bytes"
	"errors"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/gokv-service/gokv/internal/kv"
)

func TestRecordRoundTrip(t *testing.T) {
	tests := []struct {
		version     uint64
		contentType string
		value       []byte
	}{
		{1, "", nil},
		{42, "text/plain", []byte("hello")},
		{1 << 63, "application/octet-stream", []byte{0, 1, 2}},
		{7, string(bytes.Repeat([]byte("t"), kv.MaxContentTypeLen)), bytes.Repeat([]byte("v"), 4096)},
	}
	for _, tt := range tests {
		r, err := decodeRecord(encodeRecord(tt.version, tt.contentType, tt.value))
		if err != nil || r.version != tt.version || r.contentType != tt.contentType || !bytes.Equal(r.value, tt.value) {
			t.Errorf("round trip of %d, %.20q, %d bytes = %+.20v, %v", tt.version, tt.contentType, len(tt.value), r, err)
		}
	}
}

// TestDecodeRecordV1 reads a record as gokv wrote them before versions:
// an upgrade must not lose them.
func TestDecodeRecordV1(t *testing.T) {
	r, err := decodeRecord([]byte("\x01\x0atext/plainhello"))
	if err != nil || r.version != 0 || r.contentType != "text/plain" || string(r.value) != "hello" {
		t.Fatalf("decode v1 = %+v, %v", r, err)
	}
}

func TestDecodeCorruptRecord(t *testing.T) {
	for name, rec := range map[string][]byte{
		"empty":             {},
		"unknown format":    {3, 0},
		"missing length":    {recordV1},
		"missing version":   {recordV2},
		"zero version":      {recordV2, 0, 0},
		"length past end":   {recordV2, 1, 10, 'a'},
		"length over limit": append([]byte{recordV1, 0x80, 0x02}, bytes.Repeat([]byte("t"), 256)...),
	} {
		if _, err := decodeRecord(rec); !errors.Is(err, errCorruptRecord) {
			t.Errorf("%s: err = %v, want errCorruptRecord", name, err)
		}
	}
}

// FuzzDecodeRecord checks that no input panics and that whatever decodes
// encodes back to the same parts.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(9, "text/plain", []byte("v")))
	f.Add([]byte{recordV1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, rec []byte) {
		r, err := decodeRecord(rec)
		if err != nil {
			return
		}
		version := max(r.version, 1)
		r2, err := decodeRecord(encodeRecord(version, r.contentType, r.value))
		if err != nil || r2.version != version || r2.contentType != r.contentType || !bytes.Equal(r2.value, r.value) {
			t.Fatalf("re-encoding %+v gave %+v, %v", r, r2, err)
		}
	})
}

// TestRecordsFromBeforeVersions: entries written before records carried a
// version (format 1) read back with a version of their own, which a
// conditional write can name, and every later write's version is greater.
func TestRecordsFromBeforeVersions(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	old := []byte("\x01\x0atext/plainhello")
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("b:old"), old) }); err != nil {
		t.Fatal(err)
	}
	s.snaps.refresh()
	e, err := s.get("b", "old")
	if err != nil || string(e.Value) != "hello" || e.ContentType != "text/plain" || e.Version == 0 {
		t.Fatalf("format-1 entry reads as %+v, %v", e, err)
	}
	page, err := s.List(context.Background(), "b", kv.ListOptions{Limit: 10})
	if err != nil || len(page.Items) != 1 || page.Items[0].Version != e.Version {
		t.Fatalf("format-1 entry lists as %+v, %v; want version %d", page.Items, err, e.Version)
	}
	res, err := s.Apply(context.Background(), []kv.Op{{Kind: kv.OpPut, Bucket: "b", Key: "old", Value: []byte("new"), Cond: kv.Condition{IfMatch: e.Version}}})
	if err != nil {
		t.Fatalf("conditional write naming the format-1 version: %v", err)
	}
	if res[0].Version <= e.Version {
		t.Fatalf("new version %d not above the format-1 entry's %d", res[0].Version, e.Version)
	}
}
