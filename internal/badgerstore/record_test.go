package badgerstore

import (
	"bytes"
	"errors"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	tests := []struct {
		contentType string
		value       []byte
	}{
		{"", nil},
		{"text/plain", []byte("hello")},
		{"application/octet-stream", []byte{0, 1, 2}},
		{string(bytes.Repeat([]byte("t"), MaxContentTypeLen)), bytes.Repeat([]byte("v"), 4096)},
	}
	for _, tt := range tests {
		ct, v, err := decodeRecord(encodeRecord(tt.contentType, tt.value))
		if err != nil || ct != tt.contentType || !bytes.Equal(v, tt.value) {
			t.Errorf("round trip of %.20q, %d bytes = %.20q, %d bytes, %v", tt.contentType, len(tt.value), ct, len(v), err)
		}
	}
}

func TestDecodeCorruptRecord(t *testing.T) {
	for name, rec := range map[string][]byte{
		"empty":             {},
		"unknown version":   {2, 0},
		"missing length":    {recordVersion},
		"length past end":   {recordVersion, 10, 'a'},
		"length over limit": append([]byte{recordVersion, 0x80, 0x02}, bytes.Repeat([]byte("t"), 256)...),
	} {
		if _, _, err := decodeRecord(rec); !errors.Is(err, errCorruptRecord) {
			t.Errorf("%s: err = %v, want errCorruptRecord", name, err)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord("text/plain", []byte("v")))
	f.Add([]byte{recordVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, rec []byte) {
		ct, v, err := decodeRecord(rec)
		if err != nil {
			return
		}
		if len(ct) > MaxContentTypeLen {
			t.Fatalf("decode(%q) returned a %d-byte content type", rec, len(ct))
		}
		ct2, v2, err := decodeRecord(encodeRecord(ct, v))
		if err != nil || ct2 != ct || !bytes.Equal(v2, v) {
			t.Fatalf("decode(%q) = %q, %q, which does not survive a round trip: %q, %q, %v", rec, ct, v, ct2, v2, err)
		}
	})
}
