package badgerstore

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on names, in bytes. A bucket is short and plain so that it can
// never contain the ':' separator; a key is free-form UTF-8.
const (
	MaxBucketLen = 128
	MaxKeyLen    = 1024
)

// separator joins bucket and key into Badger's single key space. Buckets
// cannot contain it, so the first separator always ends the bucket and
// ("a", "b:c") and ("a:b", "c") can never name the same entry.
const separator = ':'

// ValidateBucket reports whether name is 1–128 characters of [A-Za-z0-9._-]
// and not "." or "..". The error wraps ErrInvalidBucket.
func ValidateBucket(name string) error {
	if name == "" || len(name) > MaxBucketLen {
		return fmt.Errorf("%w: must be 1 to %d characters long", ErrInvalidBucket, MaxBucketLen)
	}
	for i := 0; i < len(name); i++ {
		if !isBucketByte(name[i]) {
			return fmt.Errorf("%w: only A-Z, a-z, 0-9, '.', '_' and '-' are allowed", ErrInvalidBucket)
		}
	}
	if isDotSegment(name) {
		return fmt.Errorf("%w: must not be %q", ErrInvalidBucket, name)
	}
	return nil
}

func isBucketByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}

// ValidateKey reports whether key is valid UTF-8 of 1–1024 bytes with no
// "." or ".." segment between slashes. The error wraps ErrInvalidKey.
func ValidateKey(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return fmt.Errorf("%w: must be 1 to %d bytes long", ErrInvalidKey, MaxKeyLen)
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("%w: must be valid UTF-8", ErrInvalidKey)
	}
	for segment := range strings.SplitSeq(key, "/") {
		if isDotSegment(segment) {
			return fmt.Errorf("%w: must not have a %q segment", ErrInvalidKey, segment)
		}
	}
	return nil
}

// isDotSegment reports whether a path segment is "." or "..". Proxies,
// URL libraries and browsers resolve these (RFC 3986 §5.2.4), so a name
// holding one would be a different name, or none, on the way to gokv:
// refusing them keeps every hop agreeing on which entry a path names.
func isDotSegment(s string) bool {
	return s == "." || s == ".."
}

// encodeKey validates bucket and key and returns the Badger key "bucket:key".
func encodeKey(bucket, key string) ([]byte, error) {
	if err := ValidateBucket(bucket); err != nil {
		return nil, err
	}
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	k := make([]byte, 0, len(bucket)+1+len(key))
	k = append(k, bucket...)
	k = append(k, separator)
	return append(k, key...), nil
}
