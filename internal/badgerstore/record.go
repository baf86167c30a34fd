package badgerstore

import (
	"encoding/binary"
	"fmt"

	"github.com/gokv-service/gokv/internal/kv"
)

// The first byte of every stored record is its format's version, so that
// the format can change without guessing what old records mean.
const (
	// recordV1: content type and value. Written by gokv before API v1;
	// still read, with a version derived from Badger's (see versionOf).
	recordV1 = 1
	// recordV2: the entry's version, content type and value.
	recordV2 = 2
)

// encodeRecord lays out a value as: format byte, uvarint version, uvarint
// length of the content type, the content type, then the value bytes
// untouched.
func encodeRecord(version uint64, contentType string, value []byte) []byte {
	rec := make([]byte, 0, 1+binary.MaxVarintLen64+binary.MaxVarintLen16+len(contentType)+len(value))
	rec = append(rec, recordV2)
	rec = binary.AppendUvarint(rec, version)
	rec = binary.AppendUvarint(rec, uint64(len(contentType)))
	rec = append(rec, contentType...)
	return append(rec, value...)
}

// record is a decoded record. Its value aliases the encoded bytes.
type record struct {
	version     uint64 // 0 in a recordV1
	contentType string
	value       []byte
}

// decodeRecord splits a record into its parts.
func decodeRecord(rec []byte) (record, error) {
	if len(rec) == 0 {
		return record{}, fmt.Errorf("%w: empty", errCorruptRecord)
	}
	var r record
	rest := rec[1:]
	switch rec[0] {
	case recordV1:
	case recordV2:
		v, n := binary.Uvarint(rest)
		if n <= 0 || v == 0 {
			return record{}, fmt.Errorf("%w: bad version", errCorruptRecord)
		}
		r.version = v
		rest = rest[n:]
	default:
		return record{}, fmt.Errorf("%w: unknown format %d", errCorruptRecord, rec[0])
	}
	n, size := binary.Uvarint(rest)
	if size <= 0 || n > kv.MaxContentTypeLen || uint64(len(rest)-size) < n {
		return record{}, fmt.Errorf("%w: bad content type length", errCorruptRecord)
	}
	rest = rest[size:]
	r.contentType = string(rest[:n])
	r.value = rest[n:]
	return r, nil
}
