package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gokv-service/gokv/internal/budget"
	"github.com/gokv-service/gokv/internal/kv"
	"github.com/gokv-service/gokv/internal/metrics"
)

// defaultContentType is stored when a write names none.
const defaultContentType = "application/octet-stream"

// inflightWait is how long a request waits for room in the budget of
// bytes in flight before it gets 503: long enough to ride out a burst,
// short enough that the client, told Retry-After, can do better.
const inflightWait = time.Second

type handlers struct {
	store    kv.Store
	maxValue int64
	inflight *budget.Budget
	log      *slog.Logger
	stopping context.Context // done when the server shuts down
	events   *eventTexts     // watch events, formatted once
	metrics  *metrics.Metrics
	gate     *gate
	spoolDir string // where a restore spools its body; "" refuses restores
	// spoolMinFree is the free space a restore's spool leaves on its
	// filesystem.
	spoolMinFree int64
}

// expiresHeader carries when an entry with a TTL expires.
const expiresHeader = "Gokv-Expires-At"

func (h *handlers) get(c *gin.Context) {
	bucket, key, err := target(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	if key == "" {
		h.list(c, bucket)
		return
	}
	if err := kv.ValidateKey(key); err != nil {
		h.fail(c, err)
		return
	}
	var reserved int64
	defer func() { h.inflight.Release(reserved) }()
	e, err := h.store.Get(c.Request.Context(), bucket, key, func(size int64) error {
		if err := h.reserve(c, size); err != nil {
			return err
		}
		reserved = size
		return nil
	})
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Header("ETag", etag(e.Version))
	setExpires(c, e.ExpiresAt)
	if notModified(c.Request.Header, e.Version) {
		c.Status(http.StatusNotModified)
		return
	}
	// Set explicitly so that HEAD reports the size of the body GET sends.
	c.Header("Content-Length", strconv.Itoa(len(e.Value)))
	c.Data(http.StatusOK, e.ContentType, e.Value)
}

// setExpires answers when an entry expires, if it does.
func setExpires(c *gin.Context, at time.Time) {
	if !at.IsZero() {
		c.Header(expiresHeader, at.UTC().Format(time.RFC3339))
	}
}

func (h *handlers) put(c *gin.Context) {
	bucket, key, err := target(c)
	if err == nil {
		err = kv.ValidateKey(key)
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	contentType, err := requestContentType(c.Request)
	if err != nil {
		h.fail(c, err)
		return
	}
	cond, err := writeCondition(c.Request.Header)
	if err != nil {
		h.fail(c, err)
		return
	}
	ttl, err := parseTTL(c.Query("ttl"))
	if err != nil {
		h.fail(c, err)
		return
	}
	value, reserved, err := h.readBody(c)
	// The value is held, and copied, until the store has written it.
	defer h.inflight.Release(reserved)
	if err != nil {
		h.fail(c, err)
		return
	}
	res, err := h.store.Apply(c.Request.Context(), []kv.Op{{
		Kind: kv.OpPut, Bucket: bucket, Key: key,
		Value: value, ContentType: contentType, TTL: ttl, Cond: cond,
	}})
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Header("ETag", etag(res[0].Version))
	setExpires(c, res[0].ExpiresAt)
	if res[0].Created {
		c.Header("Location", c.Request.URL.EscapedPath())
		c.Status(http.StatusCreated)
		return
	}
	c.Status(http.StatusNoContent)
}

// parseTTL reads the ttl query parameter: a Go duration from kv.MinTTL
// to kv.MaxTTL, or nothing for an entry that never expires.
func parseTTL(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	ttl, err := time.ParseDuration(s)
	if err != nil || ttl < kv.MinTTL || ttl > kv.MaxTTL {
		return 0, fmt.Errorf("%w: ttl must be a duration from 1s to 87600h (10 years), like 90s or 24h", kv.ErrInvalid)
	}
	return ttl, nil
}

func (h *handlers) delete(c *gin.Context) {
	bucket, key, err := target(c)
	if err == nil {
		err = kv.ValidateKey(key)
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	cond, err := writeCondition(c.Request.Header)
	if err != nil {
		h.fail(c, err)
		return
	}
	if cond.MustNotExist {
		h.fail(c, fmt.Errorf("%w: If-None-Match does not apply to DELETE", errBadPrecondition))
		return
	}
	if _, err := h.store.Apply(c.Request.Context(), []kv.Op{{Kind: kv.OpDelete, Bucket: bucket, Key: key, Cond: cond}}); err != nil {
		h.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// target returns the bucket and key a data request names; the key is ""
// for the bucket itself ("/bucket/"). The router left both escaped; each
// is unescaped once, as a path (so '+' is a plus sign), and the key is
// everything after the bucket's slash.
func target(c *gin.Context) (bucket, key string, err error) {
	bucket, err = url.PathUnescape(c.Param("bucket"))
	if err != nil {
		return "", "", fmt.Errorf("%w: bad escape sequence", kv.ErrInvalidBucket)
	}
	if err := kv.ValidateBucket(bucket); err != nil {
		return "", "", err
	}
	key, err = url.PathUnescape(strings.TrimPrefix(c.Param("key"), "/"))
	if err != nil {
		return "", "", fmt.Errorf("%w: bad escape sequence", kv.ErrInvalidKey)
	}
	return bucket, key, nil
}

// requestContentType returns the media type to store with a value.
func requestContentType(r *http.Request) (string, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return defaultContentType, nil
	}
	if err := validMediaType(ct); err != nil {
		return "", err
	}
	return ct, nil
}

// validMediaType checks a media type gokv is asked to store.
func validMediaType(ct string) error {
	if err := kv.ValidateContentType(ct); err != nil {
		return err
	}
	if _, _, err := mime.ParseMediaType(ct); err != nil {
		return fmt.Errorf("%w: %q is not a media type", kv.ErrInvalidContentType, ct)
	}
	return nil
}

// readBody reads the whole request body, refusing more than maxValue
// bytes before storing anything. It first reserves the body's size in the
// budget of bytes in flight (maxValue when the size is unknown, refunding
// what the body did not use); the caller releases reserved.
func (h *handlers) readBody(c *gin.Context) (value []byte, reserved int64, err error) {
	r := c.Request
	if r.ContentLength > h.maxValue {
		return nil, 0, h.tooLarge()
	}
	want := r.ContentLength
	if want < 0 {
		want = h.maxValue
	}
	if err := h.reserve(c, want); err != nil {
		return nil, 0, err
	}
	body := http.MaxBytesReader(c.Writer, r.Body, h.maxValue)
	if r.ContentLength >= 0 {
		// The length is known and net/http holds the body to it: read
		// into a buffer of exactly that size.
		value = make([]byte, r.ContentLength)
		_, err = io.ReadFull(body, value)
	} else {
		value, err = io.ReadAll(body)
		// Keep what the grown buffer occupies, not only what it holds.
		held := min(int64(cap(value)), want)
		h.inflight.Release(want - held)
		want = held
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, want, h.tooLarge()
	case err != nil:
		return nil, want, fmt.Errorf("%w: %w", errBadBody, err)
	}
	return value, want, nil
}

// reserve reserves n bytes in the budget of bytes in flight, waiting at
// most inflightWait, and less if the client goes away.
func (h *handlers) reserve(c *gin.Context, n int64) error {
	ctx, cancel := context.WithTimeout(c.Request.Context(), inflightWait)
	defer cancel()
	return h.inflight.Acquire(ctx, n)
}

func (h *handlers) tooLarge() error {
	return fmt.Errorf("%w: the limit is %d bytes", errValueTooLarge, h.maxValue)
}
