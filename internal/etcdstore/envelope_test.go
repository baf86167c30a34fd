package etcdstore

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/gokv-service/gokv/internal/kv"
)

func TestEnvelope(t *testing.T) {
	at := time.Unix(1_800_000_000, 0)
	for _, e := range []entry{
		{},
		{slot: 127, contentType: "text/plain", expiresAt: at, value: []byte("v")},
		{slot: 3, tombstone: true},
		{contentType: string(bytes.Repeat([]byte("x"), kv.MaxContentTypeLen)), value: bytes.Repeat([]byte{0}, 1000)},
	} {
		b := encodeEntry(e)
		if len(b) > len(e.value)+maxEnvelopeOverhead {
			t.Errorf("envelope of %d bytes for a value of %d, more than the overhead %d", len(b), len(e.value), maxEnvelopeOverhead)
		}
		got, err := decodeEntry(b)
		if err != nil || got.slot != e.slot || got.tombstone != e.tombstone || got.contentType != e.contentType ||
			!got.expiresAt.Equal(e.expiresAt) || !bytes.Equal(got.value, e.value) {
			t.Errorf("decode(encode(%+v)) = %+v, %v", e, got, err)
		}
	}
	for _, bad := range [][]byte{nil, {2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {formatV1, intermediate, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {formatV1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 'a'}} {
		if _, err := decodeEntry(bad); !errors.Is(err, kv.ErrCorrupt) {
			t.Errorf("decode(%x): %v, want kv.ErrCorrupt", bad, err)
		}
	}
}

// TestVersionOrder: the versions of one transaction's writes follow its
// overwritten ops' and precede the next transaction's, and revisionOf
// tells them apart.
func TestVersionOrder(t *testing.T) {
	const rev = 1000
	prevLast := versionOf(rev-1, intermediate-1)
	firstOverwritten, lastOverwritten := opVersion(rev, 0), opVersion(rev, kv.MaxOps-1)
	first, last := versionOf(rev, 0), versionOf(rev, kv.MaxOps-1)
	next := opVersion(rev+1, 0)
	if !(prevLast < firstOverwritten && firstOverwritten < lastOverwritten && lastOverwritten < first && first < last && last < next) {
		t.Fatalf("versions out of order: %d %d %d %d %d %d", prevLast, firstOverwritten, lastOverwritten, first, last, next)
	}
	if r, slot, ok := revisionOf(last); r != rev || slot != kv.MaxOps-1 || !ok {
		t.Errorf("revisionOf(%d) = %d, %d, %v", last, r, slot, ok)
	}
	if _, _, ok := revisionOf(lastOverwritten); ok {
		t.Errorf("revisionOf(an overwritten op's version) ok")
	}
}

func TestWindowEnd(t *testing.T) {
	base := time.Unix(1_800_000_000, 0)
	tests := []struct {
		ttl   time.Duration
		width int64
	}{
		{time.Second, 1},
		{2 * time.Minute, 1},
		{time.Hour, 32},
		{24 * time.Hour, 1024},
		{kv.MaxTTL, 1 << 16},
	}
	for _, tt := range tests {
		for _, offset := range []int64{0, 1, 7, 12345} {
			at := base.Add(time.Duration(offset) * time.Second)
			end := windowEnd(at, tt.ttl)
			if end < at.Unix() || end-at.Unix() >= tt.width || end%tt.width != 0 {
				t.Errorf("ttl %s, expiry %d: window ends at %d, want the next multiple of %d at or after it", tt.ttl, at.Unix(), end, tt.width)
			}
		}
	}
}
