package badgerstore

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gokv-service/gokv/internal/kv"
)

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
		validBucket := bucket != "" && len(bucket) <= kv.MaxBucketLen && !strings.ContainsFunc(bucket, func(r rune) bool {
			return !(r < utf8.RuneSelf && kv.IsBucketByte(byte(r)))
		}) && !isDot(bucket) && bucket[0] != '_'
		validKey := key != "" && len(key) <= kv.MaxKeyLen && utf8.ValidString(key) && !slices.ContainsFunc(strings.Split(key, "/"), isDot)
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
