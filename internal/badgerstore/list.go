package badgerstore

import (
	"bytes"
	"context"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/gokv-service/gokv/internal/kv"
)

// List returns one page of bucket's keys in byte order; see kv.Store. It
// reads from one snapshot and iterates keys without prefetching values;
// it reads each listed key's record for its version, size and content
// type, which for values over the value threshold (1 KiB) is a read of
// the value log (docs/performance.md has the cost).
func (s *Store) List(ctx context.Context, bucket string, opts kv.ListOptions) (kv.ListPage, error) {
	if err := kv.ValidateBucket(bucket); err != nil {
		return kv.ListPage{}, err
	}
	if opts.Limit < 1 || opts.Limit > kv.MaxListLimit {
		return kv.ListPage{}, fmt.Errorf("%w: limit must be 1 to %d", kv.ErrInvalid, kv.MaxListLimit)
	}
	base := bucketKey(bucket, "")
	var page kv.ListPage
	err := s.read("list", func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: bucketKey(bucket, opts.Prefix)})
		defer it.Close()
		for it.Seek(bucketKey(bucket, max(opts.Start, opts.Prefix))); it.Valid(); {
			if err := ctx.Err(); err != nil {
				return err
			}
			if len(page.Items)+len(page.Prefixes) == opts.Limit {
				page.Next = string(it.Item().Key()[len(base):])
				return nil
			}
			item := it.Item()
			key := string(item.Key()[len(base):])
			if p, ok := kv.RollUp(key, opts.Prefix, opts.Delimiter); ok {
				page.Prefixes = append(page.Prefixes, p)
				// Skip the rest of the rolled-up keys.
				it.Seek(append(bytes.Clone(base), kv.PrefixEnd(p)...))
				continue
			}
			listed, err := listItem(item, key)
			if err != nil {
				return err
			}
			page.Items = append(page.Items, listed)
			it.Next()
		}
		return nil
	})
	if err != nil {
		return kv.ListPage{}, err
	}
	return page, nil
}

func listItem(item *badger.Item, key string) (kv.Item, error) {
	var listed kv.Item
	err := item.Value(func(rec []byte) error {
		r, err := decodeItem(item, rec)
		if err != nil {
			return err
		}
		listed = kv.Item{
			Key:         key,
			Size:        int64(len(r.value)),
			ContentType: r.contentType,
			Version:     versionOf(item, r),
			ExpiresAt:   expiry(item),
		}
		return nil
	})
	return listed, err
}

// Buckets returns one page of the names of buckets that hold a key; see
// kv.Store. Names come in the order of their keys ("name:" sorts "a-b"
// before "a"). From each bucket's first key it seeks past the bucket
// ("name;"), so a page costs one seek per bucket, whatever the buckets
// hold. start is "" or a page's Next.
func (s *Store) Buckets(ctx context.Context, start string, limit int) (kv.BucketPage, error) {
	if limit < 1 || limit > kv.MaxListLimit {
		return kv.BucketPage{}, fmt.Errorf("%w: limit must be 1 to %d", kv.ErrInvalid, kv.MaxListLimit)
	}
	var page kv.BucketPage
	err := s.read("list buckets", func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Seek([]byte(start)); it.Valid(); {
			if err := ctx.Err(); err != nil {
				return err
			}
			key := it.Item().Key()
			name, _, ok := bytes.Cut(key, []byte{separator})
			if !ok || kv.ValidateBucket(string(name)) != nil {
				// Not a bucket's key (reclaim.go's flush marker).
				it.Next()
				continue
			}
			if len(page.Names) == limit {
				// Where this bucket's keys start: "a:" is after "a-b:".
				page.Next = string(name) + string(separator)
				return nil
			}
			page.Names = append(page.Names, string(name))
			it.Seek(append(bytes.Clone(name), afterSeparator))
		}
		return nil
	})
	if err != nil {
		return kv.BucketPage{}, err
	}
	return page, nil
}
