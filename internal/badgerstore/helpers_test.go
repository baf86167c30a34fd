package badgerstore

import (
	"context"

	"github.com/gokv-service/gokv/internal/kv"
)

// Entry is the shorthand of this package's tests for what a plain PUT
// stores.
type Entry struct {
	ContentType string
	Value       []byte
}

// Put stores e as a PUT without conditions does, reporting whether the key
// was new.
func (s *Store) Put(bucket, key string, e Entry) (created bool, err error) {
	res, err := s.Apply(context.Background(), []kv.Op{{Kind: kv.OpPut, Bucket: bucket, Key: key, ContentType: e.ContentType, Value: e.Value}})
	if err != nil {
		return false, err
	}
	return res[0].Created, nil
}

// Delete removes a key as a DELETE without conditions does.
func (s *Store) Delete(bucket, key string) error {
	_, err := s.Apply(context.Background(), []kv.Op{{Kind: kv.OpDelete, Bucket: bucket, Key: key}})
	return err
}

// get reads a key's entry without a memory reservation.
func (s *Store) get(bucket, key string) (kv.Entry, error) {
	return s.Get(context.Background(), bucket, key, nil)
}
