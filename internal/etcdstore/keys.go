package etcdstore

import (
	"strings"

	"github.com/gokv-service/gokv/internal/kv"
)

// Key layout under the prefix P (ETCD_PREFIX, "/gokv/" by default):
//
//	P b/<bucket>/<key>   an entry; a bucket never holds '/', so the
//	                     bucket's keys are the etcd range with prefix
//	                     "P b/<bucket>/" and buckets sort by "<name>/"
//	P restore            written by every restore: watches on every gokv
//	                     replica end when it changes (see watch.go)
//
// Nothing else is stored: bucket names come from the entries' keys.
type layout struct {
	data  string // P + "b/"
	epoch string // P + "restore"
}

func newLayout(prefix string) layout {
	return layout{data: prefix + "b/", epoch: prefix + "restore"}
}

func (l layout) key(bucket, key string) string { return l.data + bucket + "/" + key }

func (l layout) bucketPrefix(bucket string) string { return l.data + bucket + "/" }

// dataEnd is the end of the range of every entry.
func (l layout) dataEnd() string { return kv.PrefixEnd(l.data) }

// split returns the bucket and key of an entry's etcd key.
func (l layout) split(etcdKey []byte) (bucket, key string, ok bool) {
	rest, ok := strings.CutPrefix(string(etcdKey), l.data)
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, "/")
}
