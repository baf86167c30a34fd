package kv

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on names, in bytes. A bucket is short and plain so that a backend
// can join it to a key with a separator it can never contain; a key is
// free-form UTF-8.
const (
	MaxBucketLen = 128
	MaxKeyLen    = 1024
)

// MaxContentTypeLen bounds the media type stored beside a value.
const MaxContentTypeLen = 255

// ValidateBucket reports whether name is 1–128 characters of [A-Za-z0-9._-],
// does not start with '_' and is not "." or "..". The error wraps
// ErrInvalidBucket.
func ValidateBucket(name string) error {
	if name == "" || len(name) > MaxBucketLen {
		return fmt.Errorf("%w: must be 1 to %d characters long", ErrInvalidBucket, MaxBucketLen)
	}
	for i := 0; i < len(name); i++ {
		if !IsBucketByte(name[i]) {
			return fmt.Errorf("%w: only A-Z, a-z, 0-9, '.', '_' and '-' are allowed", ErrInvalidBucket)
		}
	}
	// The first path segment names gokv's own endpoints when it starts
	// with '_' (/_txn, /_buckets), so no bucket can shadow one.
	if name[0] == '_' {
		return fmt.Errorf("%w: names starting with '_' are reserved", ErrInvalidBucket)
	}
	if isDotSegment(name) {
		return fmt.Errorf("%w: must not be %q", ErrInvalidBucket, name)
	}
	return nil
}

// IsBucketByte reports whether c may appear in a bucket name.
func IsBucketByte(c byte) bool {
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

// ValidateContentType bounds the length of a stored media type.
func ValidateContentType(ct string) error {
	if len(ct) > MaxContentTypeLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidContentType, MaxContentTypeLen)
	}
	return nil
}
