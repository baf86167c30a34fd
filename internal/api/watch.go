package api

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gokv-service/gokv/internal/kv"
)

// Timing of a watch stream. A heartbeat keeps proxies and load balancers
// from closing a quiet stream as idle; every write must finish within
// watchWriteTimeout, so a client that stopped reading is cut instead of
// holding the connection.
const (
	heartbeatInterval = 15 * time.Second
	watchWriteTimeout = 30 * time.Second
)

// The texts of the stream that are not changes.
var (
	heartbeatText = []byte(": heartbeat\n\n")
	resetEvent    = []byte("event: reset\ndata: {}\n\n")
)

// eventData is the data line of a watch event.
type eventData struct {
	Key         string `json:"key"`
	ETag        string `json:"etag"`
	Size        *int   `json:"size,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Value       []byte `json:"value,omitempty"` // base64 in JSON
}

// watch streams a bucket's changes as Server-Sent Events (the HTML
// standard's text/event-stream): an event per change, its version as the
// event id, so a client resumes with Last-Event-ID (what EventSource
// sends) or ?since=. When the store's history does not reach back that
// far, or the client fell too far behind, it sends "reset": list again.
func (h *handlers) watch(c *gin.Context, bucket string) {
	if !acceptsEventStream(c.Request.Header.Values("Accept")) {
		h.fail(c, fmt.Errorf("%w: a watch answers only Accept: text/event-stream", errNotAcceptable))
		return
	}
	since, err := watchSince(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	values := c.Query("values") == "true"
	ctx, cancel := context.WithCancel(c.Request.Context())
	defer cancel()
	// The stream ends with the server's drain, not after it.
	stop := context.AfterFunc(h.stopping, cancel)
	defer stop()

	w, err := h.store.Watch(ctx, bucket, kv.WatchOptions{Prefix: c.Query("prefix"), Since: since})
	if err != nil && !errors.Is(err, kv.ErrHistoryGone) {
		h.fail(c, err)
		return
	}
	// The server's write timeout is for ordinary requests: a stream
	// lives on, with a deadline per write instead (stream.write).
	rc := http.NewResponseController(c.Writer)
	c.Header("Content-Type", "text/event-stream")
	c.Header("Cache-Control", "no-cache")
	// nginx buffers responses unless told not to.
	c.Header("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	s := &stream{c: c, rc: rc}
	if err != nil {
		s.reset()
		return
	}
	if !s.flush() {
		return
	}
	heartbeat := time.NewTicker(heartbeatInterval)
	defer heartbeat.Stop()
	for {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				if errors.Is(w.Err(), kv.ErrHistoryGone) {
					s.reset()
				}
				return
			}
			s.write(h.events.text(ev, values))
			// Send what else is waiting in the same write.
			for more := true; more; {
				select {
				case ev, ok = <-w.Events():
					if ok {
						s.write(h.events.text(ev, values))
					}
					more = ok
				default:
					more = false
				}
			}
		case <-heartbeat.C:
			s.write(heartbeatText)
		case <-ctx.Done():
			return
		}
		if !s.flush() {
			return
		}
	}
}

// stream writes Server-Sent Events; after a failed write it writes no more.
type stream struct {
	c      *gin.Context
	rc     *http.ResponseController
	failed bool
}

func (s *stream) write(text []byte) {
	if s.failed {
		return
	}
	if err := s.rc.SetWriteDeadline(time.Now().Add(watchWriteTimeout)); err != nil {
		s.failed = true
		return
	}
	if _, err := s.c.Writer.Write(text); err != nil {
		s.failed = true
	}
}

// flush sends what was written and reports whether the stream still works.
func (s *stream) flush() bool {
	if !s.failed && s.rc.Flush() != nil {
		s.failed = true
	}
	return !s.failed
}

// reset tells the client that changes were lost to it: list again, then
// watch from the listing's versions.
func (s *stream) reset() {
	s.write(resetEvent)
	s.flush()
}

// acceptsEventStream reports whether an Accept header names
// text/event-stream. Wildcards do not count: a client that did not ask for
// a stream, like curl with its default */*, would hang on one.
func acceptsEventStream(accept []string) bool {
	for _, v := range accept {
		for part := range strings.SplitSeq(v, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err == nil && mt == "text/event-stream" {
				return true
			}
		}
	}
	return false
}

// watchSince is the version a watch resumes after: Last-Event-ID, else
// ?since=, else 0 (changes from now on).
func watchSince(c *gin.Context) (uint64, error) {
	s := c.GetHeader("Last-Event-ID")
	if s == "" {
		s = c.Query("since")
	}
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || s[0] == '+' {
		return 0, fmt.Errorf("%w: since and Last-Event-ID must be an event id (a version)", errBadRequest)
	}
	return v, nil
}
