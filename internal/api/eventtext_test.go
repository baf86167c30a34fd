package api

import (
	"strings"
	"testing"

	"github.com/gokv-service/gokv/internal/kv"
)

// TestEventTextsAreSharedAndBounded: watchers of the same change get the
// same bytes, formatted as the stream needs them, and the cache keeps at
// most its bounds.
func TestEventTextsAreSharedAndBounded(t *testing.T) {
	c := newEventTexts()
	ev := kv.Event{Type: kv.EventPut, Bucket: "b", Key: "k", Version: 7, ContentType: "text/plain", Value: []byte("v")}
	first := c.text(ev, false)
	if want := "event: put\nid: 7\ndata: {\"key\":\"k\",\"etag\":\"\\\"7\\\"\",\"size\":1,\"content_type\":\"text/plain\"}\n\n"; string(first) != want {
		t.Fatalf("text = %q, want %q", first, want)
	}
	if again := c.text(ev, false); &again[0] != &first[0] {
		t.Error("a second watcher of the change got a new copy of its text")
	}
	if withValue := c.text(ev, true); !strings.Contains(string(withValue), `"value":"dg=="`) {
		t.Errorf("text with values = %q", withValue)
	}
	for v := range uint64(2 * maxEventTexts) {
		c.text(kv.Event{Type: kv.EventDelete, Key: "k", Version: 100 + v}, false)
	}
	if len(c.texts) > maxEventTexts || len(c.order) != len(c.texts) {
		t.Errorf("%d texts kept (%d in order), want at most %d", len(c.texts), len(c.order), maxEventTexts)
	}
	big := kv.Event{Type: kv.EventPut, Key: "k", Version: 1 << 40, Value: make([]byte, maxEventTextBytes/32)}
	for range 64 {
		big.Version++
		c.text(big, true)
	}
	if c.bytes > maxEventTextBytes {
		t.Errorf("%d bytes of texts kept, want at most %d", c.bytes, maxEventTextBytes)
	}
}
