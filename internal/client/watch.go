package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ErrWatchReset ends a watch whose changes the server can no longer all
// deliver: its history does not reach back to Since, or the watcher fell
// behind. The caller must list the bucket again and watch from there.
var ErrWatchReset = errors.New("watch reset by the server: list the bucket again, then watch from there")

// WatchOptions choose what a watch follows.
type WatchOptions struct {
	// Prefix limits the watch to keys that start with it.
	Prefix string
	// Since, when not 0, replays the changes after this version first.
	Since uint64
	// Values asks for the values of put events.
	Values bool
}

// Event is one committed change of a key. Its JSON is the server's event
// data plus the event's type and id.
type Event struct {
	// Type is "put" or "delete".
	Type string `json:"event"`
	// ID is the version the change committed; WatchOptions.Since resumes
	// after it.
	ID   uint64 `json:"id"`
	Key  string `json:"key"`
	ETag string `json:"etag"`
	// Size and ContentType are a put's; Value too, with Values.
	Size        int64  `json:"size,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Value       []byte `json:"value,omitempty"`
}

// maxEventLine bounds one line of the event stream. The largest value the
// server takes (16 MiB) is about 22 MiB in base64.
const maxEventLine = 32 << 20

// Watch follows the changes to bucket's keys, calling fn with each in
// version order, until ctx is done (it returns ctx's error), fn returns an
// error (it returns that), the server resets the watch (ErrWatchReset) or
// the stream ends.
func (c *Client) Watch(ctx context.Context, bucket string, opts WatchOptions, fn func(Event) error) error {
	q := url.Values{"watch": {"true"}}
	setQuery(q, "prefix", opts.Prefix)
	if opts.Values {
		q.Set("values", "true")
	}
	if opts.Since != 0 {
		q.Set("since", strconv.FormatUint(opts.Since, 10))
	}
	p := withQuery(bucketPath(bucket), q)
	resp, err := c.do(ctx, http.MethodGet, p, nil, http.Header{"Accept": {"text/event-stream"}}, true)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return statusError(resp)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return fmt.Errorf("GET %s: answered %q, not an event stream", p, resp.Header.Get("Content-Type"))
	}
	err = readEvents(resp.Body, fn)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("GET %s: %w", p, err)
	}
	return nil
}

// readEvents parses a server-sent event stream (the WHATWG HTML
// standard's format) and calls fn with each put and delete event. It
// returns nil only if fn never failed and the stream ended cleanly, which
// gokv's never does while it runs, so callers treat that as the server
// going away.
func readEvents(r io.Reader, fn func(Event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventLine)
	var typ, id string
	var data bytes.Buffer
	for sc.Scan() {
		line := sc.Text()
		if line != "" {
			if strings.HasPrefix(line, ":") {
				continue // a comment: the heartbeat
			}
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				typ = value
			case "id":
				id = value
			case "data":
				if data.Len() > 0 {
					data.WriteByte('\n')
				}
				data.WriteString(value)
			}
			continue
		}
		// A blank line ends the event.
		switch typ {
		case "reset":
			return ErrWatchReset
		case "put", "delete":
			e, err := parseEvent(typ, id, data.Bytes())
			if err != nil {
				return err
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		// Other types are newer than this client: skip them.
		typ = ""
		data.Reset()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read event stream: %w", err)
	}
	return nil
}

func parseEvent(typ, id string, data []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(data, &e); err != nil {
		return Event{}, fmt.Errorf("%s event %s: bad data: %w", typ, id, err)
	}
	version, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return Event{}, fmt.Errorf("%s event: bad id %q", typ, id)
	}
	e.Type, e.ID = typ, version
	return e, nil
}
