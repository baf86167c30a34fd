package badgerstore

import (
	"encoding/binary"
	"fmt"
)

// MaxContentTypeLen bounds the media type stored beside a value.
const MaxContentTypeLen = 255

// recordVersion is the first byte of every stored record, so that the
// format can change later without guessing what old records mean.
const recordVersion = 1

// encodeRecord lays out a value as: version byte, uvarint length of the
// content type, the content type, then the value bytes untouched.
func encodeRecord(contentType string, value []byte) []byte {
	rec := make([]byte, 0, 1+binary.MaxVarintLen16+len(contentType)+len(value))
	rec = append(rec, recordVersion)
	rec = binary.AppendUvarint(rec, uint64(len(contentType)))
	rec = append(rec, contentType...)
	return append(rec, value...)
}

// decodeRecord splits a record into content type and value. The value
// aliases rec.
func decodeRecord(rec []byte) (contentType string, value []byte, err error) {
	if len(rec) == 0 || rec[0] != recordVersion {
		return "", nil, fmt.Errorf("%w: unknown version", errCorruptRecord)
	}
	n, size := binary.Uvarint(rec[1:])
	if size <= 0 || n > MaxContentTypeLen || uint64(len(rec)-1-size) < n {
		return "", nil, fmt.Errorf("%w: bad content type length", errCorruptRecord)
	}
	start := 1 + size
	end := start + int(n)
	return string(rec[start:end]), rec[end:], nil
}
