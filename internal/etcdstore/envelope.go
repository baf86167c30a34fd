package etcdstore

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/gokv-service/gokv/internal/kv"
)

// The value of an etcd key is an envelope: a format byte, the exact
// expiry (Unix seconds, big-endian, 0 for never), the content type's
// length as a uvarint and the content type, then the value itself. The
// format byte lets a later gokv change the layout and still read this
// one; a reader meeting a format it does not know reports kv.ErrCorrupt
// rather than guessing.
const formatV1 = 1

// maxEnvelopeOverhead is the most bytes an envelope adds to a value.
const maxEnvelopeOverhead = 1 + 8 + binary.MaxVarintLen16 + kv.MaxContentTypeLen

// entry is a decoded envelope.
type entry struct {
	contentType string
	expiresAt   time.Time // zero: never
	value       []byte    // shares the envelope's bytes
}

func encodeEntry(contentType string, expiresAt time.Time, value []byte) []byte {
	b := make([]byte, 0, 1+8+binary.MaxVarintLen16+len(contentType)+len(value))
	b = append(b, formatV1)
	var at uint64
	if !expiresAt.IsZero() {
		at = uint64(expiresAt.Unix())
	}
	b = binary.BigEndian.AppendUint64(b, at)
	b = binary.AppendUvarint(b, uint64(len(contentType)))
	b = append(b, contentType...)
	return append(b, value...)
}

func decodeEntry(b []byte) (entry, error) {
	if len(b) < 9 || b[0] != formatV1 {
		return entry{}, fmt.Errorf("%w: etcd value is not a gokv envelope (format %v)", kv.ErrCorrupt, b[:min(len(b), 1)])
	}
	var e entry
	if at := binary.BigEndian.Uint64(b[1:9]); at != 0 {
		e.expiresAt = time.Unix(int64(at), 0)
	}
	n, w := binary.Uvarint(b[9:])
	if w <= 0 || n > kv.MaxContentTypeLen || uint64(len(b)-9-w) < n {
		return entry{}, fmt.Errorf("%w: etcd value has a bad content type length", kv.ErrCorrupt)
	}
	start := 9 + w
	e.contentType = string(b[start : start+int(n)])
	e.value = b[start+int(n):]
	return e, nil
}

// expired reports whether the entry no longer exists at now. An entry
// outlives its exact expiry in etcd until its lease ends (see lease.go),
// so every read checks this.
func (e entry) expired(now time.Time) bool {
	return !e.expiresAt.IsZero() && !now.Before(e.expiresAt)
}

// expiryOf is when a put at now with ttl expires: kept to the second,
// rounded up, so never early; zero for no ttl.
func expiryOf(now time.Time, ttl time.Duration) time.Time {
	if ttl == 0 {
		return time.Time{}
	}
	at := now.Add(ttl)
	if t := at.Truncate(time.Second); !t.Equal(at) {
		return t.Add(time.Second)
	}
	return at
}

// Versions. etcd gives every transaction one revision, and an Apply is
// one transaction; but kv promises that the ops of one Apply that write
// the same key get growing versions (a put, then a conditional put of the
// same key), while etcd writes each key once per transaction. So a
// version is the revision shifted left by 8 bits, and the low byte says
// which write of that revision it was: 0xff for the write a key is left
// with (the only one anybody can read back or watch), the op's index
// (below kv.MaxOps, 128) for a write that a later op of the same Apply
// overwrote. Every version a reader sees thus ends in 0xff, and If-Match
// on any other version can match nothing.
const (
	versionShift = 8
	finalSlot    = 0xff
)

// versionOf is the version of the state a key was left in at revision rev.
func versionOf(rev int64) uint64 { return uint64(rev)<<versionShift | finalSlot }

// opVersion is the version of op i of an Apply committed at rev, when a
// later op of the Apply wrote the same key.
func opVersion(rev int64, i int) uint64 { return uint64(rev)<<versionShift | uint64(i) }

// revisionOf is the etcd revision of version v, and whether v is the
// final write of its key in that revision.
func revisionOf(v uint64) (rev int64, final bool) {
	return int64(v >> versionShift), v&finalSlot == finalSlot
}
