// Package check proves that a running gokv works end to end: it refuses a
// request without a token, and with one it writes, reads back, replaces
// (with If-Match), lists and deletes a fresh key. helm test runs it as `gokv check`.
package check

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"

	"github.com/gokv-service/gokv/internal/client"
)

const contentType = "text/plain; charset=utf-8"

// RoundTrip runs the check against c in bucket, printing a line per step
// to out. It returns the first step that did not behave.
func RoundTrip(ctx context.Context, c *client.Client, bucket string, out io.Writer) error {
	key := "check/" + randomHex(8)
	value := []byte("gokv-check " + randomHex(16))
	replacement := []byte("replaced " + randomHex(16))

	if err := c.GetWithoutToken(ctx, bucket, key); !client.IsStatus(err, http.StatusUnauthorized) {
		return fmt.Errorf("a request without a token was not refused with 401: %w", err)
	}
	fmt.Fprintln(out, "ok   request without a token refused with 401")

	created, err := c.Put(ctx, bucket, key, value, contentType)
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if !created {
		return fmt.Errorf("write of the new key %s/%s answered 204, want 201", bucket, key)
	}
	fmt.Fprintf(out, "ok   PUT %s/%s created\n", bucket, key)

	if err := expectValue(ctx, c, bucket, key, value); err != nil {
		return err
	}
	fmt.Fprintf(out, "ok   GET %s/%s returned the bytes and content type written\n", bucket, key)

	first, err := c.GetEntry(ctx, bucket, key)
	if err != nil {
		return fmt.Errorf("read the ETag: %w", err)
	}
	res, err := c.PutWith(ctx, bucket, key, replacement, client.PutOptions{ContentType: contentType, IfMatch: first.ETag})
	if err != nil {
		return fmt.Errorf("replace with If-Match: %w", err)
	}
	if res.Created {
		return fmt.Errorf("replacing %s/%s answered 201, want 204", bucket, key)
	}
	if err := expectValue(ctx, c, bucket, key, replacement); err != nil {
		return err
	}
	fmt.Fprintf(out, "ok   PUT %s/%s with If-Match replaced the value\n", bucket, key)

	_, err = c.PutWith(ctx, bucket, key, value, client.PutOptions{ContentType: contentType, IfMatch: first.ETag})
	if !client.IsStatus(err, http.StatusPreconditionFailed) {
		return fmt.Errorf("a write with a stale If-Match was not refused with 412: %w", err)
	}
	fmt.Fprintln(out, "ok   a write with a stale If-Match refused with 412")

	page, err := c.List(ctx, bucket, client.ListOptions{Prefix: key})
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	if len(page.Items) != 1 || page.Items[0].Key != key || page.Items[0].ETag != res.ETag {
		return fmt.Errorf("listing %s/ with prefix %s: got %+v, want the key with ETag %s", bucket, key, page.Items, res.ETag)
	}
	fmt.Fprintf(out, "ok   GET %s/?prefix=%s listed the key\n", bucket, key)

	if err := c.Delete(ctx, bucket, key); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if _, _, err := c.Get(ctx, bucket, key); !client.IsStatus(err, http.StatusNotFound) {
		return fmt.Errorf("GET after DELETE: want 404, got %v", err)
	}
	fmt.Fprintf(out, "ok   DELETE %s/%s removed the key\n", bucket, key)
	return nil
}

func expectValue(ctx context.Context, c *client.Client, bucket, key string, want []byte) error {
	got, ct, err := c.Get(ctx, bucket, key)
	if err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("read back %s/%s: got %q, wrote %q", bucket, key, got, want)
	}
	if ct != contentType {
		return fmt.Errorf("read back %s/%s: Content-Type %q, wrote %q", bucket, key, ct, contentType)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
