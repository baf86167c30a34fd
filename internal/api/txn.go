package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gokv-service/gokv/internal/kv"
)

// txnRequest is the body of POST /_txn.
type txnRequest struct {
	Ops []txnOp `json:"ops"`
}

type txnOp struct {
	Op          string `json:"op"`
	Bucket      string `json:"bucket"`
	Key         string `json:"key"`
	Value       []byte `json:"value"` // base64 in JSON
	ContentType string `json:"content_type"`
	TTL         string `json:"ttl"`
	IfMatch     string `json:"if_match"`
	IfNoneMatch string `json:"if_none_match"`
}

type txnResponse struct {
	Results []txnResult `json:"results"`
}

type txnResult struct {
	ETag      string     `json:"etag,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// maxTxnBody bounds the body of a transaction: kv.MaxTxnValueBytes of values in
// base64 plus room for the JSON around them.
var maxTxnBody = int64(base64.StdEncoding.EncodedLen(kv.MaxTxnValueBytes)) + 1<<20

// txn answers POST /_txn: every op or none. A body is held twice while it
// is decoded (the JSON and the values), so that is what it reserves of
// the budget of bytes in flight.
func (h *handlers) txn(c *gin.Context) {
	r := c.Request
	if r.ContentLength > maxTxnBody {
		h.fail(c, fmt.Errorf("%w: a transaction body is at most %d bytes", errValueTooLarge, maxTxnBody))
		return
	}
	want := r.ContentLength
	if want < 0 {
		want = maxTxnBody
	}
	if err := h.reserve(c, 2*want); err != nil {
		h.fail(c, err)
		return
	}
	defer h.inflight.Release(2 * want)
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, r.Body, maxTxnBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		h.fail(c, fmt.Errorf("%w: a transaction body is at most %d bytes", errValueTooLarge, maxTxnBody))
		return
	case err != nil:
		h.fail(c, fmt.Errorf("%w: %w", errBadBody, err))
		return
	}
	ops, err := h.parseTxn(body)
	if err != nil {
		h.failTxn(c, err)
		return
	}
	// The route asked for write; each op must be in the token's
	// buckets too, a check included: it reads what it compares.
	grant := grantOf(c)
	for _, op := range ops {
		if !grant.CoversBucket(op.Bucket) {
			h.fail(c, outsideBuckets(op.Bucket))
			return
		}
	}
	results, err := h.store.Apply(r.Context(), ops)
	if err != nil {
		h.failTxn(c, err)
		return
	}
	resp := txnResponse{Results: make([]txnResult, len(results))}
	for i, res := range results {
		if ops[i].Kind == kv.OpPut {
			resp.Results[i].ETag = etag(res.Version)
		}
		if !res.ExpiresAt.IsZero() {
			at := res.ExpiresAt.UTC()
			resp.Results[i].ExpiresAt = &at
		}
	}
	c.JSON(http.StatusOK, resp)
}

// parseTxn decodes and checks a transaction body. Errors of one op are
// *kv.OpError naming it.
func (h *handlers) parseTxn(body []byte) ([]kv.Op, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var req txnRequest
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("%w: transaction body is not valid JSON of the documented shape: %v", errBadRequest, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the transaction's JSON object", errBadRequest)
	}
	if len(req.Ops) == 0 {
		return nil, fmt.Errorf("%w: a transaction needs at least one op", errBadRequest)
	}
	if len(req.Ops) > kv.MaxOps {
		return nil, fmt.Errorf("%w: a transaction has at most %d ops, not %d", errValueTooLarge, kv.MaxOps, len(req.Ops))
	}
	ops := make([]kv.Op, len(req.Ops))
	values := 0
	for i, o := range req.Ops {
		op, err := h.txnOp(o)
		if err != nil {
			return nil, &kv.OpError{Index: i, Err: err}
		}
		ops[i] = op
		values += len(o.Value)
	}
	if values > kv.MaxTxnValueBytes {
		return nil, fmt.Errorf("%w: a transaction holds at most %d bytes of values", errValueTooLarge, kv.MaxTxnValueBytes)
	}
	return ops, nil
}

func (h *handlers) txnOp(o txnOp) (kv.Op, error) {
	op := kv.Op{Bucket: o.Bucket, Key: o.Key}
	if err := kv.ValidateBucket(o.Bucket); err != nil {
		return op, err
	}
	if err := kv.ValidateKey(o.Key); err != nil {
		return op, err
	}
	switch o.Op {
	case "put":
		op.Kind = kv.OpPut
	case "delete":
		op.Kind = kv.OpDelete
	case "check":
		op.Kind = kv.OpCheck
	default:
		return op, fmt.Errorf("%w: op must be put, delete or check, not %q", errBadRequest, o.Op)
	}
	if op.Kind != kv.OpPut && (o.Value != nil || o.ContentType != "" || o.TTL != "") {
		return op, fmt.Errorf("%w: only a put has a value, content_type or ttl", errBadRequest)
	}
	if op.Kind == kv.OpPut {
		if int64(len(o.Value)) > h.maxValue {
			return op, h.tooLarge()
		}
		op.Value = o.Value
		if op.Value == nil {
			op.Value = []byte{}
		}
		op.ContentType = o.ContentType
		if op.ContentType == "" {
			op.ContentType = defaultContentType
		}
		if err := validMediaType(op.ContentType); err != nil {
			return op, err
		}
		ttl, err := parseTTL(o.TTL)
		if err != nil {
			return op, err
		}
		op.TTL = ttl
	}
	header := http.Header{}
	if o.IfMatch != "" {
		header.Set("If-Match", o.IfMatch)
	}
	if o.IfNoneMatch != "" {
		if op.Kind != kv.OpPut {
			return op, fmt.Errorf("%w: if_none_match applies to a put only", errBadPrecondition)
		}
		header.Set("If-None-Match", o.IfNoneMatch)
	}
	cond, err := writeCondition(header)
	if err != nil {
		return op, err
	}
	op.Cond = cond
	return op, nil
}

// failTxn answers a failed transaction. A condition that did not hold,
// including a delete of a missing key, is a conflict with the state of
// the store (409), and the body names the op.
func (h *handlers) failTxn(c *gin.Context, err error) {
	var opErr *kv.OpError
	if !errors.As(err, &opErr) {
		h.fail(c, err)
		return
	}
	status, msg := statusOf(err)
	if errors.Is(err, kv.ErrConditionFailed) || errors.Is(err, kv.ErrNotFound) {
		status = http.StatusConflict
	}
	if status >= http.StatusInternalServerError {
		h.fail(c, err)
		return
	}
	c.AbortWithStatusJSON(status, errorBody{Error: msg, Op: &opErr.Index, RequestID: requestIDOf(c)})
}
