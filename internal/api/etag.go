package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gokv-service/gokv/internal/kv"
)

// errBadPrecondition: an If-Match or If-None-Match header gokv cannot read.
var errBadPrecondition = errors.New("invalid precondition header")

// etag is the strong entity tag of an entry's version (RFC 9110 §8.8.3).
// Versions are unique per write of a key, so equal tags mean the same
// write.
func etag(version uint64) string {
	return `"` + strconv.FormatUint(version, 10) + `"`
}

// parseETag reads one strong entity tag made by etag. A weak tag never
// matches for a write (strong comparison, RFC 9110 §13.1.1), so it is
// reported as not ok, as is anything else.
func parseETag(s string) (version uint64, ok bool) {
	s = strings.TrimSpace(s)
	if len(s) < 3 || s[0] != '"' || s[len(s)-1] != '"' {
		return 0, false
	}
	v, err := strconv.ParseUint(s[1:len(s)-1], 10, 64)
	if err != nil || v == 0 {
		return 0, false
	}
	return v, true
}

// writeCondition turns a write's If-Match and If-None-Match into the
// condition the store checks atomically with the write. If-Match takes
// "*" or one entity tag; a tag gokv never made can match nothing, so it
// makes a condition that fails. If-None-Match on a write takes only "*".
func writeCondition(h http.Header) (kv.Condition, error) {
	var c kv.Condition
	if v := h.Values("If-Match"); len(v) > 0 {
		m, err := matchValue(v, "If-Match")
		if err != nil {
			return c, err
		}
		c.MustExist = m.any
		c.IfMatch = m.version
		if !m.any && m.version == 0 {
			c.IfMatch = neverVersion
		}
	}
	if v := h.Values("If-None-Match"); len(v) > 0 {
		m, err := matchValue(v, "If-None-Match")
		if err != nil {
			return c, err
		}
		if !m.any {
			return c, fmt.Errorf("%w: If-None-Match on a write takes only *", errBadPrecondition)
		}
		c.MustNotExist = true
	}
	return c, nil
}

// neverVersion is a version no write gets (versions are a Badger
// timestamp shifted left, never all ones), for a condition on a tag that
// cannot match.
const neverVersion = ^uint64(0)

// match is a parsed If-Match or If-None-Match value.
type match struct {
	any     bool   // "*"
	version uint64 // 0 when the tag is not one of gokv's
}

// matchValue reads a header that must hold "*" or one entity tag.
func matchValue(values []string, name string) (match, error) {
	if len(values) > 1 || strings.Contains(values[0], ",") {
		return match{}, fmt.Errorf("%w: %s takes * or one entity tag", errBadPrecondition, name)
	}
	v := strings.TrimSpace(values[0])
	if v == "*" {
		return match{any: true}, nil
	}
	if !strings.HasSuffix(v, `"`) || !(strings.HasPrefix(v, `"`) || strings.HasPrefix(v, `W/"`)) || len(v) < 2 {
		return match{}, fmt.Errorf("%w: %s must be * or a quoted entity tag", errBadPrecondition, name)
	}
	version, _ := parseETag(v)
	return match{version: version}, nil
}

// notModified reports whether a GET or HEAD's If-None-Match matches the
// entry's version (weak comparison, RFC 9110 §13.1.2: W/"5" matches "5").
func notModified(h http.Header, version uint64) bool {
	for _, v := range h.Values("If-None-Match") {
		for tag := range strings.SplitSeq(v, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" {
				return true
			}
			if got, ok := parseETag(strings.TrimPrefix(tag, "W/")); ok && got == version {
				return true
			}
		}
	}
	return false
}
