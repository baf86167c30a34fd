package badgerstore

import "github.com/gokv-service/gokv/internal/kv"

// separator joins bucket and key into Badger's single key space. Buckets
// cannot contain it, so the first separator always ends the bucket and
// ("a", "b:c") and ("a:b", "c") can never name the same entry.
const separator = ':'

// afterSeparator is the byte after separator: "bucket;" sorts after every
// "bucket:key", which lets a bucket listing jump from one bucket to the
// next without reading the keys in between.
const afterSeparator = separator + 1

// encodeKey validates bucket and key and returns the Badger key "bucket:key".
func encodeKey(bucket, key string) ([]byte, error) {
	if err := kv.ValidateBucket(bucket); err != nil {
		return nil, err
	}
	if err := kv.ValidateKey(key); err != nil {
		return nil, err
	}
	return bucketKey(bucket, key), nil
}

// bucketKey is "bucket:key" for names already validated, or the start of a
// bucket's keys with key "".
func bucketKey(bucket, key string) []byte {
	k := make([]byte, 0, len(bucket)+1+len(key))
	k = append(k, bucket...)
	k = append(k, separator)
	return append(k, key...)
}
