package api

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gokv-service/gokv/internal/auth"
	"github.com/gokv-service/gokv/internal/kv"
)

// maxDelimiterLen bounds the delimiter of a listing: a separator such as
// "/", not a string to search for.
const maxDelimiterLen = 16

// listBody is the JSON of one page of a bucket's listing.
type listBody struct {
	Items      []listItem `json:"items"`
	Prefixes   []string   `json:"prefixes,omitempty"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

type listItem struct {
	Key         string     `json:"key"`
	Size        int64      `json:"size"`
	ContentType string     `json:"content_type"`
	ETag        string     `json:"etag"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
}

// bucketsBody is the JSON of one page of bucket names.
type bucketsBody struct {
	Buckets    []string `json:"buckets"`
	NextCursor string   `json:"next_cursor,omitempty"`
}

// list answers GET and HEAD /{bucket}/: a page of the bucket's keys, or,
// for a GET with ?watch=true, a stream of its changes.
func (h *handlers) list(c *gin.Context, bucket string) {
	// A HEAD has no body to stream into.
	if c.Query("watch") == "true" && c.Request.Method == http.MethodGet {
		h.watch(c, bucket)
		return
	}
	opts, err := listOptions(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	page, err := h.store.List(c.Request.Context(), bucket, opts)
	if err != nil {
		h.fail(c, err)
		return
	}
	body := listBody{Items: make([]listItem, 0, len(page.Items)), Prefixes: page.Prefixes, NextCursor: encodeCursor(page.Next)}
	for _, it := range page.Items {
		item := listItem{Key: it.Key, Size: it.Size, ContentType: it.ContentType, ETag: etag(it.Version)}
		if !it.ExpiresAt.IsZero() {
			at := it.ExpiresAt.UTC()
			item.ExpiresAt = &at
		}
		body.Items = append(body.Items, item)
	}
	c.JSON(http.StatusOK, body)
}

func listOptions(c *gin.Context) (kv.ListOptions, error) {
	limit, err := listLimit(c)
	if err != nil {
		return kv.ListOptions{}, err
	}
	start, err := decodeCursor(c.Query("cursor"))
	if err != nil {
		return kv.ListOptions{}, err
	}
	prefix := c.Query("prefix")
	if len(prefix) > kv.MaxKeyLen {
		return kv.ListOptions{}, fmt.Errorf("%w: prefix longer than %d bytes", errBadRequest, kv.MaxKeyLen)
	}
	delimiter := c.Query("delimiter")
	if len(delimiter) > maxDelimiterLen {
		return kv.ListOptions{}, fmt.Errorf("%w: delimiter longer than %d bytes", errBadRequest, maxDelimiterLen)
	}
	return kv.ListOptions{Prefix: prefix, Start: start, Limit: limit, Delimiter: delimiter}, nil
}

// listLimit reads ?limit=, 1 to kv.MaxListLimit, kv.DefaultListLimit when
// absent.
func listLimit(c *gin.Context) (int, error) {
	s, ok := c.GetQuery("limit")
	if !ok {
		return kv.DefaultListLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > kv.MaxListLimit || s[0] == '+' {
		return 0, fmt.Errorf("%w: limit must be a number from 1 to %d", errBadRequest, kv.MaxListLimit)
	}
	return n, nil
}

// A cursor is where the next page starts, as the store said it, in
// unpadded base64url: opaque to clients and safe in a query string.
// Because the page starts there, not at a position remembered by the
// server, a cursor stays valid however the keys change meanwhile.
func encodeCursor(next string) string {
	if next == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(next))
}

// maxCursorLen bounds a decoded cursor: a bucket and key at most.
const maxCursorLen = kv.MaxBucketLen + 1 + kv.MaxKeyLen

func decodeCursor(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 || len(b) > maxCursorLen {
		return "", fmt.Errorf("%w: malformed cursor; use next_cursor from the previous page", errBadRequest)
	}
	return string(b), nil
}

// buckets answers GET /_buckets: a page of bucket names.
func (h *handlers) buckets(c *gin.Context) {
	limit, err := listLimit(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	start, err := decodeCursor(c.Query("cursor"))
	if err != nil {
		h.fail(c, err)
		return
	}
	page, err := h.coveredBuckets(c.Request.Context(), grantOf(c), start, limit)
	if err != nil {
		h.fail(c, err)
		return
	}
	names := page.Names
	if names == nil {
		names = []string{}
	}
	c.JSON(http.StatusOK, bucketsBody{Buckets: names, NextCursor: encodeCursor(page.Next)})
}

// bucketScanLimit bounds the bucket names one GET /_buckets reads for a
// token restricted to some buckets, so that a token covering few of very
// many buckets cannot make one request scan them all.
const bucketScanLimit = 10 * kv.MaxListLimit

// coveredBuckets is a page of the buckets grant covers, from start. The
// store lists every bucket and its cursors are its own, so the page is
// filled from successive store pages, each asked for what is still
// missing, so that every store page is used up and its Next stays a
// valid cursor. After bucketScanLimit names the page is answered as it
// is: it may then hold fewer than limit names, none even, with a
// cursor to go on from.
func (h *handlers) coveredBuckets(ctx context.Context, grant auth.Grant, start string, limit int) (kv.BucketPage, error) {
	if grant.Buckets == nil {
		return h.store.Buckets(ctx, start, limit)
	}
	var out kv.BucketPage
	out.Next = start
	for scanned := 0; len(out.Names) < limit && scanned < bucketScanLimit; {
		page, err := h.store.Buckets(ctx, out.Next, limit-len(out.Names))
		if err != nil {
			return kv.BucketPage{}, err
		}
		scanned += len(page.Names)
		for _, name := range page.Names {
			if grant.CoversBucket(name) {
				out.Names = append(out.Names, name)
			}
		}
		out.Next = page.Next
		if page.Next == "" || len(page.Names) == 0 {
			break
		}
	}
	return out, nil
}
