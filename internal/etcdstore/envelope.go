package etcdstore

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/gokv-service/gokv/internal/kv"
)

// The value of an etcd key is an envelope: a format byte; the entry's
// slot (see Versions below); a flags byte (tombstone); the exact expiry
// (Unix seconds, big-endian, 0 for never); the content type's length as a
// uvarint and the content type; then the value itself. The format byte
// lets a later gokv change the layout and still read this one; a reader
// meeting a format it does not know reports kv.ErrCorrupt rather than
// guessing.
const formatV1 = 1

// headerLen is the fixed part of an envelope: format, slot, flags, expiry.
const headerLen = 1 + 1 + 1 + 8

// flagTombstone marks the envelope of a key deleted by a transaction that
// wrote other keys too (see apply.go): readers treat it as absent, and a
// short lease removes it from etcd.
const flagTombstone = 1

// maxEnvelopeOverhead is the most bytes an envelope adds to a value.
const maxEnvelopeOverhead = headerLen + binary.MaxVarintLen16 + kv.MaxContentTypeLen

// entry is a decoded envelope.
type entry struct {
	slot        uint8
	tombstone   bool
	contentType string
	expiresAt   time.Time // zero: never
	value       []byte    // shares the envelope's bytes
}

func encodeEntry(e entry) []byte {
	b := make([]byte, 0, headerLen+binary.MaxVarintLen16+len(e.contentType)+len(e.value))
	var flags byte
	if e.tombstone {
		flags |= flagTombstone
	}
	b = append(b, formatV1, e.slot, flags)
	var at uint64
	if !e.expiresAt.IsZero() {
		at = uint64(e.expiresAt.Unix())
	}
	b = binary.BigEndian.AppendUint64(b, at)
	b = binary.AppendUvarint(b, uint64(len(e.contentType)))
	b = append(b, e.contentType...)
	return append(b, e.value...)
}

func decodeEntry(b []byte) (entry, error) {
	if len(b) < headerLen || b[0] != formatV1 || b[1] >= intermediate {
		return entry{}, fmt.Errorf("%w: etcd value is not a gokv envelope (header %x)", kv.ErrCorrupt, b[:min(len(b), headerLen)])
	}
	e := entry{slot: b[1], tombstone: b[2]&flagTombstone != 0}
	if at := binary.BigEndian.Uint64(b[3:headerLen]); at != 0 {
		e.expiresAt = time.Unix(int64(at), 0)
	}
	n, w := binary.Uvarint(b[headerLen:])
	if w <= 0 || n > kv.MaxContentTypeLen || uint64(len(b)-headerLen-w) < n {
		return entry{}, fmt.Errorf("%w: etcd value has a bad content type length", kv.ErrCorrupt)
	}
	start := headerLen + w
	e.contentType = string(b[start : start+int(n)])
	e.value = b[start+int(n):]
	return e, nil
}

// absent reports whether the entry does not exist at now: a tombstone,
// or past its exact expiry. An entry outlives its exact expiry in etcd
// until its lease ends (see lease.go), so every read checks this.
func (e entry) absent(now time.Time) bool {
	return e.tombstone || !e.expiresAt.IsZero() && !now.Before(e.expiresAt)
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
// one transaction; but kv promises every write a version of its own,
// greater than any before it, also to several writes of one Apply, and
// the API uses versions as the ids of watch events, from which a client
// resumes. So a version is the revision shifted left by 8 bits, and the
// low byte is the write's slot: its position among the transaction's
// writes (below kv.MaxOps, 128), which etcd delivers to watchers in that
// order. The slot travels in the envelope, so readers and watchers know
// it; a plain delete carries no envelope, so a delete is a plain one only
// in a transaction of one write (slot 0), and a tombstone otherwise.
//
// etcd writes a key once per transaction, so when several ops of an Apply
// write one key, only the last is stored. The ones before get versions
// that nobody can read back, between the previous revision's slots and
// this one's: (rev-1)<<8 | 128+i for op i. They grow with i, exceed every
// version of an earlier transaction (whose slots are below 128) and are
// below this transaction's own, and If-Match on one matches nothing.
const (
	versionShift = 8
	// intermediate is the first low byte of a version no key holds.
	intermediate = 128
)

// versionOf is the version of the write in slot of revision rev.
func versionOf(rev int64, slot uint8) uint64 { return uint64(rev)<<versionShift | uint64(slot) }

// opVersion is the version of op i of an Apply committed at rev, when a
// later op of the Apply wrote the same key.
func opVersion(rev int64, i int) uint64 {
	return uint64(rev-1)<<versionShift | uint64(intermediate+i)
}

// revisionOf splits version v into the revision and slot of the write it
// names; ok is false for a version of an overwritten op, which no key
// holds.
func revisionOf(v uint64) (rev int64, slot uint8, ok bool) {
	low := v & (1<<versionShift - 1)
	return int64(v >> versionShift), uint8(low), low < intermediate
}
