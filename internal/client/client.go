// Package client is a small Go client for the gokv HTTP API
// (api/openapi.yaml). `gokv check` uses it to prove a deployment works end
// to end, and gokvctl is a command line around it.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gokv-service/gokv/internal/auth"
)

// Client talks to one gokv server.
type Client struct {
	baseURL string
	token   string
	http    *http.Client
}

// New returns a Client for the server at baseURL (like
// http://gokv:8080) that authenticates with token.
func New(baseURL, token string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &Client{baseURL: strings.TrimRight(baseURL, "/"), token: token, http: httpClient}
}

// StatusError is an answer other than the one the call expects.
type StatusError struct {
	Method, Path string
	Status       int
	// Message is the server's {"error": ...} text, if it sent one.
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Status, http.StatusText(e.Status), e.Message)
}

// IsStatus reports whether err is a StatusError with the given status.
func IsStatus(err error, status int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == status
}

// Put stores value under bucket and key and reports whether the key was new.
func (c *Client) Put(ctx context.Context, bucket, key string, value []byte, contentType string) (created bool, err error) {
	r, err := c.PutWith(ctx, bucket, key, value, PutOptions{ContentType: contentType})
	return r.Created, err
}

// PutOptions are the optional parts of a write.
type PutOptions struct {
	// ContentType is stored with the value; the server stores
	// application/octet-stream when it is empty.
	ContentType string
	// TTL, when not 0, makes the key expire after it (1s to 10 years).
	TTL time.Duration
	// IfMatch, when set, is the ETag the key must have, or "*" for any:
	// otherwise the write fails with 412.
	IfMatch string
	// IfNoneMatch "*" writes only a new key: otherwise the write fails
	// with 412.
	IfNoneMatch string
}

// PutResult is what a write did.
type PutResult struct {
	Created bool
	// ETag is the key's new version as the server sent it, quoted.
	ETag string
	// ExpiresAt is zero when the key has no TTL.
	ExpiresAt time.Time
}

// PutWith stores value under bucket and key. A failed condition is a
// StatusError with status 412.
func (c *Client) PutWith(ctx context.Context, bucket, key string, value []byte, opts PutOptions) (PutResult, error) {
	p := path(bucket, key)
	if opts.TTL != 0 {
		p += "?" + url.Values{"ttl": {opts.TTL.String()}}.Encode()
	}
	header := http.Header{}
	setIf(header, "Content-Type", opts.ContentType)
	setIf(header, "If-Match", opts.IfMatch)
	setIf(header, "If-None-Match", opts.IfNoneMatch)
	resp, err := c.do(ctx, http.MethodPut, p, bytes.NewReader(value), header, true)
	if err != nil {
		return PutResult{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent {
		return PutResult{}, statusError(resp)
	}
	expires, err := expiresAt(resp)
	if err != nil {
		return PutResult{}, err
	}
	return PutResult{Created: resp.StatusCode == http.StatusCreated, ETag: resp.Header.Get("ETag"), ExpiresAt: expires}, nil
}

// Get returns the value stored under bucket and key and its content type.
func (c *Client) Get(ctx context.Context, bucket, key string) (value []byte, contentType string, err error) {
	e, err := c.GetEntry(ctx, bucket, key)
	return e.Value, e.ContentType, err
}

// Entry is a stored value with what the server says about it.
type Entry struct {
	Value       []byte
	ContentType string
	// ETag is the key's version as the server sent it, quoted.
	ETag string
	// ExpiresAt is zero when the key has no TTL.
	ExpiresAt time.Time
}

// GetEntry returns the entry under bucket and key.
func (c *Client) GetEntry(ctx context.Context, bucket, key string) (Entry, error) {
	resp, err := c.do(ctx, http.MethodGet, path(bucket, key), nil, nil, true)
	if err != nil {
		return Entry{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Entry{}, statusError(resp)
	}
	value, err := io.ReadAll(resp.Body)
	if err != nil {
		return Entry{}, fmt.Errorf("GET %s: read body: %w", path(bucket, key), err)
	}
	expires, err := expiresAt(resp)
	if err != nil {
		return Entry{}, err
	}
	return Entry{Value: value, ContentType: resp.Header.Get("Content-Type"), ETag: resp.Header.Get("ETag"), ExpiresAt: expires}, nil
}

// Delete removes bucket and key.
func (c *Client) Delete(ctx context.Context, bucket, key string) error {
	return c.DeleteWith(ctx, bucket, key, DeleteOptions{})
}

// DeleteOptions are the optional parts of a delete.
type DeleteOptions struct {
	// IfMatch, when set, is the ETag the key must have, or "*" for any:
	// otherwise the delete fails with 412.
	IfMatch string
}

// DeleteWith removes bucket and key. A missing key is a StatusError with
// status 404, a failed condition one with 412.
func (c *Client) DeleteWith(ctx context.Context, bucket, key string, opts DeleteOptions) error {
	header := http.Header{}
	setIf(header, "If-Match", opts.IfMatch)
	resp, err := c.do(ctx, http.MethodDelete, path(bucket, key), nil, header, true)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return statusError(resp)
	}
	return nil
}

// GetWithoutToken sends a GET with no credentials; a secured server
// answers 401.
func (c *Client) GetWithoutToken(ctx context.Context, bucket, key string) error {
	resp, err := c.do(ctx, http.MethodGet, path(bucket, key), nil, nil, false)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return statusError(resp)
}

// WaitReady polls /readyz every interval until it answers 200 or ctx ends.
func (c *Client) WaitReady(ctx context.Context, interval time.Duration) error {
	for {
		resp, err := c.do(ctx, http.MethodGet, "/readyz", nil, nil, false)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = statusError(resp)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last: %v)", c.baseURL, ctx.Err(), err)
		case <-time.After(interval):
		}
	}
}

// do sends a request for path p, which is escaped and may carry a query.
func (c *Client) do(ctx context.Context, method, p string, body io.Reader, header http.Header, withToken bool) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+p, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, p, err)
	}
	maps.Copy(req.Header, header)
	if withToken {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, p, err)
	}
	return resp, nil
}

func setIf(h http.Header, name, value string) {
	if value != "" {
		h.Set(name, value)
	}
}

// expiresAt returns the time of the response's Gokv-Expires-At header,
// zero when it has none.
func expiresAt(resp *http.Response) (time.Time, error) {
	v := resp.Header.Get("Gokv-Expires-At")
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %s: bad Gokv-Expires-At: %w", resp.Request.Method, resp.Request.URL.EscapedPath(), err)
	}
	return t, nil
}

// path escapes bucket and key into a request path. Escaping the key whole,
// slashes included, names exactly the same key as leaving them.
func path(bucket, key string) string {
	return "/" + url.PathEscape(bucket) + "/" + url.PathEscape(key)
}

func statusError(resp *http.Response) error {
	se, _ := readError(resp)
	return se
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error string `json:"error"`
	// Op is the failed op's index in a transaction's 409.
	Op *int `json:"op"`
}

// readError reads an error answer's body. A body that is not the JSON
// error shape (a proxy's page) is shown as the message, trimmed.
func readError(resp *http.Response) (*StatusError, errorBody) {
	var body errorBody
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if json.Unmarshal(b, &body) != nil {
		body = errorBody{Error: strings.TrimSpace(string(b))}
	}
	return &StatusError{Method: resp.Request.Method, Path: resp.Request.URL.EscapedPath(), Status: resp.StatusCode, Message: body.Error}, body
}

// TokenFromEnv returns the token a client tool should send: $GOKV_TOKEN
// as it is, or one minted from $JWT_SECRET (with $JWT_ISSUER and
// $JWT_AUDIENCE when set, as the server requires) for subject, valid for
// lifetime, and allowing scope (0: no scope claim, read and write).
// Tokens and secrets come from the environment, never from a command
// line where ps would show them.
func TokenFromEnv(getenv func(string) string, subject string, scope auth.Scope, lifetime time.Duration) (string, error) {
	if t := getenv("GOKV_TOKEN"); t != "" {
		return t, nil
	}
	secret := getenv("JWT_SECRET")
	if secret == "" {
		return "", errors.New("set JWT_SECRET (to mint a token) or GOKV_TOKEN")
	}
	token, err := auth.Mint([]byte(secret), auth.Claims{
		Subject:   subject,
		Issuer:    getenv("JWT_ISSUER"),
		Audience:  getenv("JWT_AUDIENCE"),
		ExpiresIn: lifetime,
		Scope:     scope,
	}, time.Now())
	if err != nil {
		return "", fmt.Errorf("JWT_SECRET: %w", err)
	}
	return token, nil
}
