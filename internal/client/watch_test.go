package client

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestReadEvents(t *testing.T) {
	errStop := errors.New("stop")
	tests := []struct {
		name   string
		stream string
		stopAt int // fn fails on this event (1-based); 0 never
		want   []Event
		err    error
	}{
		{
			name: "put and delete",
			stream: "event: put\nid: 12\ndata: {\"key\":\"app/db/url\",\"etag\":\"\\\"12\\\"\",\"size\":2,\"content_type\":\"text/plain\"}\n\n" +
				"event: delete\nid: 13\ndata: {\"key\":\"app/db/url\",\"etag\":\"\\\"13\\\"\"}\n\n",
			want: []Event{
				{Type: "put", ID: 12, Key: "app/db/url", ETag: `"12"`, Size: 2, ContentType: "text/plain"},
				{Type: "delete", ID: 13, Key: "app/db/url", ETag: `"13"`},
			},
		},
		{
			name:   "value in base64, CRLF lines, no space after the colon",
			stream: "event:put\r\nid:7\r\ndata:{\"key\":\"k\",\"etag\":\"\\\"7\\\"\",\"size\":2,\"value\":\"aGk=\"}\r\n\r\n",
			want:   []Event{{Type: "put", ID: 7, Key: "k", ETag: `"7"`, Size: 2, Value: []byte("hi")}},
		},
		{
			name:   "heartbeats and unknown events are skipped",
			stream: ": heartbeat\n\nevent: compacted\ndata: {}\n\n: heartbeat\nevent: delete\nid: 9\ndata: {\"key\":\"k\",\"etag\":\"\\\"9\\\"\"}\n\n",
			want:   []Event{{Type: "delete", ID: 9, Key: "k", ETag: `"9"`}},
		},
		{
			name:   "data split over lines",
			stream: "event: delete\nid: 5\ndata: {\"key\":\"k\",\ndata: \"etag\":\"\\\"5\\\"\"}\n\n",
			want:   []Event{{Type: "delete", ID: 5, Key: "k", ETag: `"5"`}},
		},
		{
			name:   "reset ends the watch after the events before it",
			stream: "event: delete\nid: 5\ndata: {\"key\":\"k\",\"etag\":\"\\\"5\\\"\"}\n\nevent: reset\ndata: {}\n\nevent: delete\nid: 6\ndata: {\"key\":\"k\",\"etag\":\"\\\"6\\\"\"}\n\n",
			want:   []Event{{Type: "delete", ID: 5, Key: "k", ETag: `"5"`}},
			err:    ErrWatchReset,
		},
		{
			name:   "an event cut off by the end of the stream is dropped",
			stream: "event: delete\nid: 5\ndata: {\"key\":\"k\",\"etag\":\"\\\"5\\\"\"}\n",
		},
		{
			name:   "fn's error ends the watch",
			stream: "event: delete\nid: 1\ndata: {\"key\":\"a\",\"etag\":\"\\\"1\\\"\"}\n\nevent: delete\nid: 2\ndata: {\"key\":\"b\",\"etag\":\"\\\"2\\\"\"}\n\n",
			stopAt: 1,
			want:   []Event{{Type: "delete", ID: 1, Key: "a", ETag: `"1"`}},
			err:    errStop,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []Event
			err := readEvents(strings.NewReader(tt.stream), func(e Event) error {
				got = append(got, e)
				if len(got) == tt.stopAt {
					return errStop
				}
				return nil
			})
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Errorf("readEvents: %v, want %v", err, tt.err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events:\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestReadEventsRefusesBadEvents(t *testing.T) {
	for name, stream := range map[string]string{
		"data not JSON":   "event: put\nid: 1\ndata: {\n\n",
		"id missing":      "event: put\ndata: {\"key\":\"k\"}\n\n",
		"id not a number": "event: put\nid: x\ndata: {\"key\":\"k\"}\n\n",
		"line too long":   "event: put\nid: 1\ndata: " + strings.Repeat("a", maxEventLine+1) + "\n\n",
	} {
		t.Run(name, func(t *testing.T) {
			err := readEvents(strings.NewReader(stream), func(Event) error { return nil })
			if err == nil || errors.Is(err, ErrWatchReset) {
				t.Errorf("readEvents: %v, want an error", err)
			}
		})
	}
}

func TestReadError(t *testing.T) {
	op := func(i int) *int { return &i }
	tests := []struct {
		name, body string
		wantMsg    string
		wantOp     *int
	}{
		{"JSON error", `{"error":"not found"}`, "not found", nil},
		{"transaction conflict", `{"error":"condition failed","op":2}`, "condition failed", op(2)},
		{"op 0", `{"error":"condition failed","op":0}`, "condition failed", op(0)},
		{"not JSON, as from a proxy", "  <html>bad gateway</html>\n", "<html>bad gateway</html>", nil},
		{"empty", "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{
				StatusCode: http.StatusConflict,
				Body:       io.NopCloser(strings.NewReader(tt.body)),
				Request:    &http.Request{Method: http.MethodPost, URL: &url.URL{Path: "/_txn"}},
			}
			se, body := readError(resp)
			if se.Status != http.StatusConflict || se.Method != http.MethodPost || se.Path != "/_txn" || se.Message != tt.wantMsg {
				t.Errorf("StatusError = %+v, want 409 POST /_txn %q", se, tt.wantMsg)
			}
			if !reflect.DeepEqual(body.Op, tt.wantOp) {
				t.Errorf("op = %v, want %v", body.Op, tt.wantOp)
			}
		})
	}
}
