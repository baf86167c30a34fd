package badgerstore

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidateBucket(t *testing.T) {
	tests := []struct {
		bucket string
		valid  bool
	}{
		{"a", true},
		{"My-bucket_1.2", true},
		{strings.Repeat("b", MaxBucketLen), true},
		{"", false},
		{strings.Repeat("b", MaxBucketLen+1), false},
		{"a:b", false},
		{"a/b", false},
		{"a b", false},
		{"ä", false},
		{"a%2Fb", false},
		// Dot segments: a proxy would resolve /../k before gokv saw it.
		{".", false},
		{"..", false},
		{"...", true},
		{".a", true},
	}
	for _, tt := range tests {
		err := ValidateBucket(tt.bucket)
		if (err == nil) != tt.valid {
			t.Errorf("ValidateBucket(%q) = %v, want valid=%v", tt.bucket, err, tt.valid)
		}
		if err != nil && !errors.Is(err, ErrInvalidBucket) {
			t.Errorf("ValidateBucket(%q) = %v, does not wrap ErrInvalidBucket", tt.bucket, err)
		}
	}
}

func TestValidateKey(t *testing.T) {
	tests := []struct {
		key   string
		valid bool
	}{
		{"k", true},
		{"app/db/url", true},
		{"a:b:c", true},
		{"with space+plus", true},
		{"ünïcødé ✓", true},
		{strings.Repeat("k", MaxKeyLen), true},
		{strings.Repeat("é", MaxKeyLen/2), true},
		{"", false},
		{strings.Repeat("k", MaxKeyLen+1), false},
		{strings.Repeat("é", MaxKeyLen/2+1), false},
		{"\xff", false},
		// Dot segments: proxies and clients resolve them (RFC 3986 §5.2.4),
		// so they would name a different key there than here.
		{".hidden", true},
		{"a..b", true},
		{"...", true},
		{"a/.../b", true},
		{"a/.b/c.", true},
		{".", false},
		{"..", false},
		{"./a", false},
		{"../a", false},
		{"a/.", false},
		{"a/..", false},
		{"a/./b", false},
		{"a/../b", false},
		{"a//../b", false},
	}
	for _, tt := range tests {
		err := ValidateKey(tt.key)
		if (err == nil) != tt.valid {
			t.Errorf("ValidateKey(%.20q) = %v, want valid=%v", tt.key, err, tt.valid)
		}
		if err != nil && !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ValidateKey(%.20q) = %v, does not wrap ErrInvalidKey", tt.key, err)
		}
	}
}

// FuzzEncodeKey checks that encoding accepts exactly the valid names and
// that the encoding is reversible, so no two (bucket, key) pairs can share
// a Badger key.
func FuzzEncodeKey(f *testing.F) {
	f.Add("a", "b:c")
	f.Add("a:b", "c")
	f.Add("cfg", "app/db/url")
	f.Add("", "k")
	f.Add("b", "\xff")
	f.Fuzz(func(t *testing.T, bucket, key string) {
		k, err := encodeKey(bucket, key)
		isDot := func(s string) bool { return s == "." || s == ".." }
		validBucket := bucket != "" && len(bucket) <= MaxBucketLen && !strings.ContainsFunc(bucket, func(r rune) bool {
			return !(r < utf8.RuneSelf && isBucketByte(byte(r)))
		}) && !isDot(bucket)
		validKey := key != "" && len(key) <= MaxKeyLen && utf8.ValidString(key) && !slices.ContainsFunc(strings.Split(key, "/"), isDot)
		if (err == nil) != (validBucket && validKey) {
			t.Fatalf("encodeKey(%q, %q) err = %v; valid bucket %v, valid key %v", bucket, key, err, validBucket, validKey)
		}
		if err != nil {
			return
		}
		gotBucket, gotKey, ok := bytes.Cut(k, []byte{separator})
		if !ok || string(gotBucket) != bucket || string(gotKey) != key {
			t.Fatalf("encodeKey(%q, %q) = %q, which splits into %q, %q", bucket, key, k, gotBucket, gotKey)
		}
	})
}
