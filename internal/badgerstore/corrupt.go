package badgerstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"

	"github.com/gokv-service/gokv/internal/kv"
)

// Why gokv looks for corruption itself. Badger keeps checksums of table
// blocks and of value-log entries but, by default, checks neither on
// reads: a damaged value comes back as other bytes. With checking on
// (badgerOptions), Badger still does not return the failure everywhere:
//   - a value it cannot read (checksum mismatch, missing or short
//     value-log file) is logged and handed over as an empty value; a gokv
//     record is never empty, so Get turns that into kv.ErrCorrupt;
//   - a damaged table block makes a point read miss the key, with no
//     error at all, so Open checks every table (verifyTables);
//   - its errors are flattened into text, so only the message tells.

// errCorruptRecord means a stored record does not decode; it is disk
// damage or a bug, never bad client input.
var errCorruptRecord = fmt.Errorf("%w: record does not decode", kv.ErrCorrupt)

// errUnreadableValue is what Get reports for the empty value Badger hands
// over when it could not read a value; Badger's own error log line just
// before names the value-log file (see fileOf).
var errUnreadableValue = fmt.Errorf("%w: value could not be read from the value log (see the error logged before)", kv.ErrCorrupt)

// badgerChecksumMismatch is the text of Badger's y.ErrChecksumMismatch,
// which Badger's error wrapping does not keep for errors.Is.
const badgerChecksumMismatch = "checksum mismatch"

// isCorruption reports whether a Badger error means damaged data.
func isCorruption(err error) bool {
	return errors.Is(err, kv.ErrCorrupt) || strings.Contains(err.Error(), badgerChecksumMismatch)
}

var (
	vlogFidPattern = regexp.MustCompile(`Fid:(\d+)`)
	tablePattern   = regexp.MustCompile(`[^\s"']+\.sst`)
)

// fileOf names the database file a Badger message is about: a value-log
// file (Badger names it by number, "Fid:3") or a table, or "" when the
// message names none.
func fileOf(msg string) string {
	if m := vlogFidPattern.FindStringSubmatch(msg); m != nil {
		if fid, err := strconv.ParseUint(m[1], 10, 32); err == nil {
			return vlogName(uint32(fid))
		}
	}
	return tablePattern.FindString(msg)
}

// vlogName is the name Badger gives value-log file fid.
func vlogName(fid uint32) string {
	return fmt.Sprintf("%06d.vlog", fid)
}

// verifyTables checks every block of every table. Badger ignores a failed
// block check on a point read (the key just looks absent, a 404), so a
// damaged table has to be found before gokv serves; the tree holds keys
// and small values only, so this is a short read. Badger's own check at
// table open (OnTableRead) crashes the process on a bad block, from a
// goroutine of its own; this one runs here, where its panic (the same nil
// dereference) can be recovered. The panic does not say which table;
// damagedTable finds it.
func verifyTables(db *badger.DB, dir string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %s failed its checksum check", kv.ErrCorrupt, damagedTable(dir, db.Opts().Compression))
		}
	}()
	if err := db.VerifyChecksum(); err != nil {
		return fmt.Errorf("%w: %v", kv.ErrCorrupt, err)
	}
	return nil
}

// damagedTable names the table file in dir that fails its check, once
// Badger has found that one does without saying which: each table is
// checked again on its own, from a copy in memory.
func damagedTable(dir string, compression options.CompressionType) string {
	files, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	for _, file := range files {
		id, ok := table.ParseFileID(filepath.Base(file))
		if !ok {
			continue
		}
		if !tableVerifies(file, id, compression) {
			return filepath.Base(file)
		}
	}
	return "a table"
}

// tableVerifies reports whether every block of table file passes its
// checksum check.
func tableVerifies(file string, id uint64, compression options.CompressionType) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	data, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	t, err := table.OpenInMemoryTable(data, id, &table.Options{ChkMode: options.OnBlockRead, Compression: compression})
	if err != nil {
		return false
	}
	return t.VerifyChecksum() == nil
}
