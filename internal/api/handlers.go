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

	"github.com/gokv-service/gokv/internal/badgerstore"
	"github.com/gokv-service/gokv/internal/budget"
)

// defaultContentType is stored when a write names none.
const defaultContentType = "application/octet-stream"

// inflightWait is how long a request waits for room in the budget of
// bytes in flight before it gets 503: long enough to ride out a burst,
// short enough that the client, told Retry-After, can do better.
const inflightWait = time.Second

type handlers struct {
	store    Store
	maxValue int64
	inflight *budget.Budget
	log      *slog.Logger
}

func (h *handlers) get(c *gin.Context) {
	bucket, key, err := target(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	var reserved int64
	defer func() { h.inflight.Release(reserved) }()
	e, err := h.store.GetReserving(bucket, key, func(size int64) error {
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
	// Set explicitly so that HEAD reports the size of the body GET sends.
	c.Header("Content-Length", strconv.Itoa(len(e.Value)))
	c.Data(http.StatusOK, e.ContentType, e.Value)
}

func (h *handlers) put(c *gin.Context) {
	bucket, key, err := target(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	contentType, err := requestContentType(c.Request)
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
	created, err := h.store.Put(bucket, key, badgerstore.Entry{ContentType: contentType, Value: value})
	if err != nil {
		h.fail(c, err)
		return
	}
	if created {
		c.Header("Location", c.Request.URL.EscapedPath())
		c.Status(http.StatusCreated)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h *handlers) delete(c *gin.Context) {
	bucket, key, err := target(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	if err := h.store.Delete(bucket, key); err != nil {
		h.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// target returns the bucket and key a data request names. The router left
// both escaped; each is unescaped once, as a path (so '+' is a plus sign),
// and the key is everything after the bucket's slash.
func target(c *gin.Context) (bucket, key string, err error) {
	bucket, err = url.PathUnescape(c.Param("bucket"))
	if err != nil {
		return "", "", fmt.Errorf("%w: bad escape sequence", badgerstore.ErrInvalidBucket)
	}
	if err := badgerstore.ValidateBucket(bucket); err != nil {
		return "", "", err
	}
	key, err = url.PathUnescape(strings.TrimPrefix(c.Param("key"), "/"))
	if err != nil {
		return "", "", fmt.Errorf("%w: bad escape sequence", badgerstore.ErrInvalidKey)
	}
	if err := badgerstore.ValidateKey(key); err != nil {
		return "", "", err
	}
	return bucket, key, nil
}

// requestContentType returns the media type to store with a value.
func requestContentType(r *http.Request) (string, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return defaultContentType, nil
	}
	if len(ct) > badgerstore.MaxContentTypeLen {
		return "", fmt.Errorf("%w: longer than %d bytes", badgerstore.ErrInvalidContentType, badgerstore.MaxContentTypeLen)
	}
	if _, _, err := mime.ParseMediaType(ct); err != nil {
		return "", fmt.Errorf("%w: %q is not a media type", badgerstore.ErrInvalidContentType, ct)
	}
	return ct, nil
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
