package badgerstore

import (
	"fmt"
	"path/filepath"
	"syscall"

	"github.com/gokv-service/gokv/internal/kv"
)

// Why gokv watches free space itself: Badger writes its write-ahead log,
// value log and tables through memory-mapped files that it creates sparse
// (ftruncate to their full size). When the filesystem fills up, a store
// into such a mapping cannot get a block, and the kernel answers with
// SIGBUS, which kills the process: no ENOSPC error ever reaches the
// caller, and a restart on the same full disk crashes again while
// replaying. So gokv refuses new data while the filesystem has less than
// MinFreeBytes free, leaving that room to what Badger does on its own
// (memtable flushes, compactions, value-log GC, which all need space before
// they give any back). Deletes add only small tombstones and are what
// frees space, so they are accepted until a quarter of that is left.

// DefaultMinFreeBytes is 64 MiB: one value-log file, enough for the
// flush of every memtable and the compactions and GC that follow with the
// pod-sized options in badgerOptions. (config's MIN_FREE_BYTES default
// repeats it.)
const DefaultMinFreeBytes = 64 << 20

// spaceGuard refuses writes when the filesystem of dir is nearly full.
type spaceGuard struct {
	dir     string
	minFree uint64
	// free reports the bytes available to unprivileged writers; a
	// variable for tests.
	free func(dir string) (uint64, error)
	// deleted is called when deletes are admitted while new data is
	// refused: their space comes back only once reclaimed (reclaim.go).
	deleted func()
}

func newSpaceGuard(dir string, minFree int64) *spaceGuard {
	if minFree <= 0 {
		return nil
	}
	return &spaceGuard{dir: dir, minFree: uint64(minFree), free: freeBytes}
}

// admit returns the ops of batch there is room for. The others are
// finished with an error wrapping kv.ErrNoSpace.
func (g *spaceGuard) admit(batch []*writeOp) []*writeOp {
	free, err := g.free(g.dir)
	if err != nil || free >= g.minFree {
		// Cannot tell: let Badger try rather than refuse every write.
		return batch
	}
	admitted := batch[:0:0]
	for _, op := range batch {
		if op.onlyRemoves() && free >= g.minFree/4 {
			admitted = append(admitted, op)
			continue
		}
		op.err = fmt.Errorf("%w: %d bytes free on %s, new data needs %d", kv.ErrNoSpace, free, g.dir, g.minFree)
		close(op.done)
	}
	if len(admitted) > 0 && g.deleted != nil {
		g.deleted()
	}
	return admitted
}

// full reports whether new data is refused now.
func (g *spaceGuard) full() bool {
	free, err := g.free(g.dir)
	return err == nil && free < g.minFree
}

// minOpenBytes is the free space Open insists on. Opening writes a few
// pages through fresh memory mappings (the headers of a new value-log file
// and memtable, sometimes a rewritten MANIFEST): with 8 KiB free Badger
// died of SIGBUS in Open on a tmpfs, with 1 MiB it opened, and a gokv that
// is open serves reads, and deletes once there is room again.
const minOpenBytes = 1 << 20

// checkRoomToOpen fails with kv.ErrNoSpace when the filesystem of path (or of
// its nearest existing parent, before the first start) has less than
// minOpenBytes free, so that gokv exits with a message instead of SIGBUS.
func checkRoomToOpen(path string) error {
	dir := filepath.Clean(path)
	for {
		free, err := freeBytes(dir)
		if err == nil {
			if free < minOpenBytes {
				return fmt.Errorf("open database at %s: %w: %d bytes free, opening needs %d", path, kv.ErrNoSpace, free, minOpenBytes)
			}
			return nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil // Cannot tell: let Badger try.
		}
		dir = parent
	}
}

func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// discardRatio is the share of a value-log file that must be garbage for
// the GC to rewrite it (Badger's recommended gcDiscardRatio), raised on a
// nearly full disk so that the live rest, which the GC copies into the
// newest file through a memory mapping, takes at most half the free space.
func (g *spaceGuard) discardRatio() float64 {
	if g == nil {
		return gcDiscardRatio
	}
	free, err := g.free(g.dir)
	if err != nil {
		return gcDiscardRatio
	}
	return min(max(gcDiscardRatio, 1-float64(free)/2/valueLogFileSize), maxDiscardRatio)
}

// maxDiscardRatio is as close to 1 as Badger takes (it wants less than 1):
// files of garbage only are still collected.
const maxDiscardRatio = 0.99
