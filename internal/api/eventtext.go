package api

import (
	"encoding/json"
	"strconv"
	"sync"

	"github.com/gokv-service/gokv/internal/kv"
)

// eventTexts formats each change's Server-Sent Event once for all the
// watchers that send it. With a thousand watchers of a bucket, formatting
// the same JSON a thousand times was most of gokv's CPU and its garbage
// (docs/performance.md, "API v1"). It keeps the texts of the latest
// changes, up to maxEventTexts of them and maxEventTextBytes in all;
// a text that does not fit is formatted for each watcher, as before.
type eventTexts struct {
	mu    sync.Mutex
	texts map[eventTextKey][]byte
	order []eventTextKey // oldest first
	bytes int
}

type eventTextKey struct {
	version uint64
	values  bool
}

const (
	maxEventTexts     = 4096
	maxEventTextBytes = 4 << 20
)

func newEventTexts() *eventTexts {
	return &eventTexts{texts: make(map[eventTextKey][]byte)}
}

// text returns ev as an event of the stream, with the value when values.
// The bytes are shared: never modify them.
func (c *eventTexts) text(ev kv.Event, values bool) []byte {
	key := eventTextKey{ev.Version, values}
	c.mu.Lock()
	text, ok := c.texts[key]
	c.mu.Unlock()
	if ok {
		return text
	}
	text = formatEvent(ev, values)
	if len(text) > maxEventTextBytes/16 {
		return text
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.texts[key]; !ok {
		c.texts[key] = text
		c.order = append(c.order, key)
		c.bytes += len(text)
		for len(c.order) > maxEventTexts || c.bytes > maxEventTextBytes {
			c.bytes -= len(c.texts[c.order[0]])
			delete(c.texts, c.order[0])
			c.order = c.order[1:]
		}
	}
	return text
}

// formatEvent lays out one event: its type, its version as the id, and
// the data line.
func formatEvent(ev kv.Event, values bool) []byte {
	data := eventData{Key: ev.Key, ETag: etag(ev.Version)}
	kind := "delete"
	if ev.Type == kv.EventPut {
		kind = "put"
		size := len(ev.Value)
		data.Size = &size
		data.ContentType = ev.ContentType
		if values {
			data.Value = ev.Value
			if data.Value == nil {
				data.Value = []byte{}
			}
		}
	}
	b, err := json.Marshal(data)
	if err != nil {
		// A key is valid UTF-8 and the rest are numbers and bytes: no
		// error is possible.
		panic("format watch event: " + err.Error())
	}
	return []byte("event: " + kind + "\nid: " + strconv.FormatUint(ev.Version, 10) + "\ndata: " + string(b) + "\n\n")
}
