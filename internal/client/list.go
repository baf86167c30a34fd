package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ListOptions choose a page of a bucket's keys. The zero value asks for
// the first page of every key, of the server's default size.
type ListOptions struct {
	// Prefix limits the listing to keys that start with it.
	Prefix string
	// Delimiter, when set, rolls up the keys that contain it after Prefix
	// into ListPage.Prefixes.
	Delimiter string
	// Limit is the most items plus prefixes in the page, 1 to 1000; 0
	// leaves it to the server (100).
	Limit int
	// Cursor is the NextCursor of the previous page.
	Cursor string
}

// ListPage is one page of a bucket's keys, as the server sends it.
type ListPage struct {
	Items    []Item   `json:"items"`
	Prefixes []string `json:"prefixes,omitempty"`
	// NextCursor is empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// Item describes one key of a listing.
type Item struct {
	Key         string `json:"key"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
	ETag        string `json:"etag"`
	// ExpiresAt is zero when the key has no TTL.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// List returns one page of bucket's keys in byte order. A bucket without
// keys has an empty page, not an error.
func (c *Client) List(ctx context.Context, bucket string, opts ListOptions) (ListPage, error) {
	q := url.Values{}
	setQuery(q, "prefix", opts.Prefix)
	setQuery(q, "delimiter", opts.Delimiter)
	setQuery(q, "cursor", opts.Cursor)
	if opts.Limit != 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	var page ListPage
	err := c.getJSON(ctx, withQuery(bucketPath(bucket), q), &page)
	return page, err
}

// BucketPage is one page of bucket names.
type BucketPage struct {
	Buckets []string `json:"buckets"`
	// NextCursor is empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// Buckets returns one page of the names of the buckets that hold a key,
// in byte order: at most limit names (0 leaves it to the server) from
// cursor, the NextCursor of the previous page ("" for the first).
func (c *Client) Buckets(ctx context.Context, limit int, cursor string) (BucketPage, error) {
	q := url.Values{}
	setQuery(q, "cursor", cursor)
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var page BucketPage
	err := c.getJSON(ctx, withQuery("/_buckets", q), &page)
	return page, err
}

// getJSON GETs p and decodes the JSON of a 200 answer into v.
func (c *Client) getJSON(ctx context.Context, p string, v any) error {
	resp, err := c.do(ctx, http.MethodGet, p, nil, nil, true)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return statusError(resp)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: decode answer: %w", p, err)
	}
	return nil
}

// bucketPath is the path of a bucket's listing and watch: the bucket with
// an empty key.
func bucketPath(bucket string) string {
	return "/" + url.PathEscape(bucket) + "/"
}

func withQuery(p string, q url.Values) string {
	if len(q) == 0 {
		return p
	}
	return p + "?" + q.Encode()
}

func setQuery(q url.Values, name, value string) {
	if value != "" {
		q.Set(name, value)
	}
}
