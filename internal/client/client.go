// Package client is a small Go client for the gokv HTTP API. `gokv check`
// uses it to prove a deployment works end to end.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	resp, err := c.do(ctx, http.MethodPut, path(bucket, key), bytes.NewReader(value), contentType, true)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusCreated:
		return true, nil
	case http.StatusNoContent:
		return false, nil
	}
	return false, statusError(resp)
}

// Get returns the value stored under bucket and key and its content type.
func (c *Client) Get(ctx context.Context, bucket, key string) (value []byte, contentType string, err error) {
	resp, err := c.do(ctx, http.MethodGet, path(bucket, key), nil, "", true)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", statusError(resp)
	}
	value, err = io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", fmt.Errorf("GET %s: read body: %w", path(bucket, key), err)
	}
	return value, resp.Header.Get("Content-Type"), nil
}

// Delete removes bucket and key.
func (c *Client) Delete(ctx context.Context, bucket, key string) error {
	resp, err := c.do(ctx, http.MethodDelete, path(bucket, key), nil, "", true)
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
	resp, err := c.do(ctx, http.MethodGet, path(bucket, key), nil, "", false)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return statusError(resp)
}

// WaitReady polls /readyz every interval until it answers 200 or ctx ends.
func (c *Client) WaitReady(ctx context.Context, interval time.Duration) error {
	for {
		resp, err := c.do(ctx, http.MethodGet, "/readyz", nil, "", false)
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

func (c *Client) do(ctx context.Context, method, p string, body io.Reader, contentType string, withToken bool) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+p, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, p, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if withToken {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, p, err)
	}
	return resp, nil
}

// path escapes bucket and key into a request path. Escaping the key whole,
// slashes included, names exactly the same key as leaving them.
func path(bucket, key string) string {
	return "/" + url.PathEscape(bucket) + "/" + url.PathEscape(key)
}

func statusError(resp *http.Response) error {
	var body struct {
		Error string `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if json.Unmarshal(b, &body) != nil {
		body.Error = strings.TrimSpace(string(b))
	}
	return &StatusError{Method: resp.Request.Method, Path: resp.Request.URL.EscapedPath(), Status: resp.StatusCode, Message: body.Error}
}

// TokenFromEnv returns the token a client tool should send: $GOKV_TOKEN
// as it is, or one minted from $JWT_SECRET (with $JWT_ISSUER and
// $JWT_AUDIENCE when set, as the server requires) for subject, valid for
// lifetime. Tokens and secrets come from the environment, never from a
// command line where ps would show them.
func TokenFromEnv(getenv func(string) string, subject string, lifetime time.Duration) (string, error) {
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
	}, time.Now())
	if err != nil {
		return "", fmt.Errorf("JWT_SECRET: %w", err)
	}
	return token, nil
}
