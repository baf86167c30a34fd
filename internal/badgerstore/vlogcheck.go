package badgerstore

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/gokv-service/gokv/internal/kv"
)

// Why gokv checks the value log at start: Badger opens a database whose
// value-log files are missing or cut short without a word (it checks only
// the newest file, and shortens it to its last whole entry), and every
// key whose value was there then fails on each read. A pod that cannot
// serve part of its data should not report ready; refusing to start says
// what is wrong once, in one line, like any other unusable directory.
//
// Which files the keys need is in the value pointers of the tree, which
// Badger does not export; reading every value instead would read the whole
// database at each start. So the pointers are read from Badger's Item by
// reflection: a key-only pass over the tree (about 0.5 s for 1M keys), and
// TestCorruptionIsAnError fails if a Badger upgrade changes the layout.

// Badger's layout of an Item's value pointer (structs.go, value.go in
// v4.9.6).
const (
	bitValuePointer = 1 << 1
	vptrSize        = 12 // Fid, Len, Offset: uint32 each, native order
)

// checkValueLog fails with kv.ErrCorrupt, naming the file, when a live key's
// value lies in a value-log file that is missing or too short.
//
// One exception: a crash can tear the end of the newest file after the
// memtable's log already holds the keys of the batches being written (a
// machine crash persists pages in any order, see durable.go). Those
// batches were never acknowledged, and preflight.go has accepted their
// torn tail, so up to maxTornValues keys past the end of the newest file
// (newest as it was before Badger opened the directory and started a new
// one) are logged, and those keys read as kv.ErrCorrupt, instead of
// refusing the start.
func checkValueLog(db *badger.DB, dir string, newest uint32, log *slog.Logger) error {
	torn := 0
	sizes := map[uint32]int64{}
	sizeOf := func(fid uint32) (int64, error) {
		if size, ok := sizes[fid]; ok {
			return size, nil
		}
		info, err := os.Stat(filepath.Join(dir, vlogName(fid)))
		if err != nil {
			return 0, fmt.Errorf("%w: value-log file %s: %v", kv.ErrCorrupt, vlogName(fid), err)
		}
		sizes[fid] = info.Size()
		return info.Size(), nil
	}
	return db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			fid, end, ok := valuePointer(it.Item())
			if !ok {
				continue
			}
			size, err := sizeOf(fid)
			if err != nil {
				return err
			}
			if end > size && fid == newest && torn < maxTornValues {
				torn++
				continue
			}
			if end > size {
				return fmt.Errorf("%w: value-log file %s is %d bytes, key %q needs %d",
					kv.ErrCorrupt, vlogName(fid), size, it.Item().Key(), end)
			}
		}
		if torn > 0 {
			log.Warn("keys of the write a crash tore point past the end of the value log; they answer 500 until written again",
				"file", vlogName(newest), "keys", torn)
		}
		return nil
	})
}

// newestValueLog returns the number of the newest value-log file in dir,
// the one Badger appended to before its last stop.
func newestValueLog(dir string) (uint32, error) {
	fids, err := logNumbers(dir, vlogExt)
	if err != nil {
		return 0, err
	}
	var newest uint32
	for _, fid := range fids {
		newest = max(newest, fid)
	}
	return newest, nil
}

// logNumbers returns the numbers of the log files in dir whose names end
// in ext (vlogExt or memExt), in directory order.
func logNumbers(dir, ext string) ([]uint32, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read database directory %s: %w", dir, err)
	}
	var fids []uint32
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ext)
		if !ok {
			continue
		}
		if fid, err := strconv.ParseUint(name, 10, 32); err == nil {
			fids = append(fids, uint32(fid))
		}
	}
	return fids, nil
}

// The fields of badger.Item that hold the value pointer, looked up once:
// by name on every key, the lookup would cost more than the rest of the
// pass.
var itemMeta, itemVptr = itemField("meta"), itemField("vptr")

func itemField(name string) int {
	f, ok := reflect.TypeFor[badger.Item]().FieldByName(name)
	if !ok {
		return -1
	}
	return f.Index[0]
}

// valuePointer returns the value-log file of item's value and where the
// value ends in it, or ok false when the value is stored in the tree.
func valuePointer(item *badger.Item) (fid uint32, end int64, ok bool) {
	if itemMeta < 0 || itemVptr < 0 {
		return 0, 0, false
	}
	v := reflect.ValueOf(item).Elem()
	if byte(v.Field(itemMeta).Uint())&bitValuePointer == 0 {
		return 0, 0, false
	}
	vp := v.Field(itemVptr).Bytes()
	if len(vp) < vptrSize {
		return 0, 0, false
	}
	fid = binary.NativeEndian.Uint32(vp[0:])
	length := binary.NativeEndian.Uint32(vp[4:])
	offset := binary.NativeEndian.Uint32(vp[8:])
	return fid, int64(offset) + int64(length), true
}
