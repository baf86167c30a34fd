package kv

import (
	"errors"
	"strings"
	"testing"
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
		// Names starting with "_" are gokv's own (/_txn, /_buckets).
		{"_txn", false},
		{"_", false},
		{"a_", true},
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
