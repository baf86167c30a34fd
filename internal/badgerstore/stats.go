package badgerstore

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/gokv-service/gokv/internal/kv"
)

// Stats reports the database's sizes and the space guard's state; see
// kv.Stats. Badger's own size counters are off (badgerOptions disables
// its metrics), so the value log is measured on disk.
func (s *Store) Stats() kv.Stats {
	st := kv.Stats{
		TreeBytes:     treeBytes(s.db),
		ValueLogBytes: valueLogBytes(s.dir),
		FreeBytes:     -1,
		Watchers:      s.changes.Watchers(),
	}
	if free, err := freeBytes(s.dir); err == nil {
		st.FreeBytes = int64(free)
	}
	if s.space != nil {
		st.RefusingWrites = s.space.full()
	}
	return st
}

// valueLogBytes is the disk space the value-log files in dir take: their
// allocated blocks, not their length, since Badger creates them sparse at
// twice their final size. Files that vanish while it looks (GC deletes
// them) count as empty.
func valueLogBytes(dir string) int64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".vlog") {
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		} else {
			n += fi.Size()
		}
	}
	return n
}
