package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// TxnOp is one op of a transaction, as it goes on the wire.
type TxnOp struct {
	// Op is "put", "delete" or "check" (writes nothing; the transaction
	// depends on its condition).
	Op     string `json:"op"`
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	// Value is a put's value, sent as base64. An empty value is left out
	// of the JSON, which the server reads as an empty value.
	Value       []byte `json:"value,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	// TTL is a put's time to live as a Go duration, like "90s".
	TTL string `json:"ttl,omitempty"`
	// IfMatch is an ETag or "*"; IfNoneMatch is "*".
	IfMatch     string `json:"if_match,omitempty"`
	IfNoneMatch string `json:"if_none_match,omitempty"`
}

// TxnResult is what one op of a transaction did.
type TxnResult struct {
	// ETag is a put's new version; empty for delete and check.
	ETag string `json:"etag,omitempty"`
	// ExpiresAt is zero unless the op put a key with a TTL.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// TxnError is a transaction refused because one op's condition failed
// (409); nothing was written. It unwraps to the StatusError.
type TxnError struct {
	// Op is the index of the failed op.
	Op  int
	Err *StatusError
}

func (e *TxnError) Error() string { return fmt.Sprintf("op %d: %v", e.Op, e.Err) }
func (e *TxnError) Unwrap() error { return e.Err }

// Txn applies ops atomically, all or none, and returns one result per op.
// A failed condition is a *TxnError.
func (c *Client) Txn(ctx context.Context, ops []TxnOp) ([]TxnResult, error) {
	body, err := json.Marshal(struct {
		Ops []TxnOp `json:"ops"`
	}{ops})
	if err != nil {
		return nil, fmt.Errorf("encode transaction: %w", err)
	}
	header := http.Header{"Content-Type": {"application/json"}}
	resp, err := c.do(ctx, http.MethodPost, "/_txn", bytes.NewReader(body), header, true)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		se, eb := readError(resp)
		if resp.StatusCode == http.StatusConflict && eb.Op != nil {
			return nil, &TxnError{Op: *eb.Op, Err: se}
		}
		return nil, se
	}
	var answer struct {
		Results []TxnResult `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return nil, fmt.Errorf("POST /_txn: decode answer: %w", err)
	}
	if len(answer.Results) != len(ops) {
		return nil, fmt.Errorf("POST /_txn: %d results for %d ops", len(answer.Results), len(ops))
	}
	return answer.Results, nil
}
