package etcdstore

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gokv-service/gokv/internal/kv"
)

// listChunk is how many keys, with their values, one range of a listing
// asks for: a listing needs each item's size, content type and expiry,
// which live in the value's envelope, so it reads values, and this
// bounds the memory of one range to listChunk values.
const listChunk = 100

// bucketChunk is how many keys, without values, one range of Buckets
// asks for before it jumps past the last bucket it saw.
const bucketChunk = 64

// Get returns the entry under bucket and key; see kv.Store. The read is
// linearizable: it sees every write acknowledged before it started, on
// any gokv replica. reserve is called once the value has arrived (etcd
// sends it whole), before it is handed on.
func (s *Store) Get(ctx context.Context, bucket, key string, reserve func(size int64) error) (kv.Entry, error) {
	if err := kv.ValidateBucket(bucket); err != nil {
		return kv.Entry{}, err
	}
	if err := kv.ValidateKey(key); err != nil {
		return kv.Entry{}, err
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.cli.Get(rctx, s.keys.key(bucket, key))
	if err != nil {
		return kv.Entry{}, s.mapError(ctx, "get", err)
	}
	if len(resp.Kvs) == 0 {
		return kv.Entry{}, kv.ErrNotFound
	}
	e, err := decodeEntry(resp.Kvs[0].Value)
	if err != nil {
		return kv.Entry{}, fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	if e.absent(time.Now()) {
		return kv.Entry{}, kv.ErrNotFound
	}
	if reserve != nil {
		if err := reserve(int64(len(e.value))); err != nil {
			return kv.Entry{}, err
		}
	}
	return kv.Entry{
		Value:       e.value,
		ContentType: e.contentType,
		Version:     versionOf(resp.Kvs[0].ModRevision, e.slot),
		ExpiresAt:   e.expiresAt,
	}, nil
}

// List returns one page of bucket's keys in byte order; see kv.Store.
// Its ranges all read at the revision of the first, so a page is one
// moment's.
func (s *Store) List(ctx context.Context, bucket string, opts kv.ListOptions) (kv.ListPage, error) {
	if err := kv.ValidateBucket(bucket); err != nil {
		return kv.ListPage{}, err
	}
	if opts.Limit < 1 || opts.Limit > kv.MaxListLimit {
		return kv.ListPage{}, fmt.Errorf("%w: limit must be 1 to %d", kv.ErrInvalid, kv.MaxListLimit)
	}
	base := s.keys.bucketPrefix(bucket)
	end := kv.PrefixEnd(base + opts.Prefix)
	from := base + max(opts.Start, opts.Prefix)
	var page kv.ListPage
	var rev int64
	now := time.Now()
	for {
		rctx, cancel := s.request(ctx)
		resp, err := s.cli.Get(rctx, from, clientv3.WithRange(end), clientv3.WithRev(rev),
			clientv3.WithLimit(int64(min(opts.Limit+1, listChunk))))
		cancel()
		if err != nil {
			return kv.ListPage{}, s.mapError(ctx, "list", err)
		}
		rev = resp.Header.Revision
		skipTo := ""
		for _, item := range resp.Kvs {
			key := string(item.Key[len(base):])
			if key < skipTo {
				continue
			}
			e, err := decodeEntry(item.Value)
			if err != nil {
				return kv.ListPage{}, fmt.Errorf("list %s: key %q: %w", bucket, key, err)
			}
			if e.absent(now) {
				continue
			}
			if len(page.Items)+len(page.Prefixes) == opts.Limit {
				page.Next = key
				return page, nil
			}
			if p, ok := kv.RollUp(key, opts.Prefix, opts.Delimiter); ok {
				page.Prefixes = append(page.Prefixes, p)
				skipTo = kv.PrefixEnd(p)
				continue
			}
			page.Items = append(page.Items, kv.Item{
				Key:         key,
				Size:        int64(len(e.value)),
				ContentType: e.contentType,
				Version:     versionOf(item.ModRevision, e.slot),
				ExpiresAt:   e.expiresAt,
			})
		}
		if !resp.More {
			return page, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		if skipTo != "" && base+skipTo > from {
			from = base + skipTo
		}
	}
}

// Buckets returns one page of the names of buckets that hold a key; see
// kv.Store. Names come in the order of their keys ("name/": "a-b" before
// "a"). It reads keys without values, a chunk at a time, and jumps past
// the last bucket of each chunk, so a page costs about one range per
// bucket at worst, whatever the buckets hold. A bucket whose entries all
// expired, or were deleted by transactions of several writes, is listed
// until their leases end (lease.go; seconds for the tombstones of
// deletes). start is "" or a page's Next.
func (s *Store) Buckets(ctx context.Context, start string, limit int) (kv.BucketPage, error) {
	if limit < 1 || limit > kv.MaxListLimit {
		return kv.BucketPage{}, fmt.Errorf("%w: limit must be 1 to %d", kv.ErrInvalid, kv.MaxListLimit)
	}
	from := s.keys.data + start
	end := s.keys.dataEnd()
	var page kv.BucketPage
	var rev int64
	for {
		rctx, cancel := s.request(ctx)
		resp, err := s.cli.Get(rctx, from, clientv3.WithRange(end), clientv3.WithRev(rev),
			clientv3.WithKeysOnly(), clientv3.WithLimit(bucketChunk))
		cancel()
		if err != nil {
			return kv.BucketPage{}, s.mapError(ctx, "list buckets", err)
		}
		rev = resp.Header.Revision
		last := ""
		for _, item := range resp.Kvs {
			name, _, ok := s.keys.split(item.Key)
			if !ok || name == last {
				continue
			}
			if len(page.Names) == limit {
				page.Next = name + "/"
				return page, nil
			}
			page.Names = append(page.Names, name)
			last = name
		}
		if !resp.More || last == "" {
			return page, nil
		}
		// Past every key of the last bucket seen: "name0" follows "name/".
		from = s.keys.data + last + "0"
	}
}
