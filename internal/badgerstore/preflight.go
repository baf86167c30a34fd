package badgerstore

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// Badger's badger.Open "repairs" a directory it finds inconsistent by
// deleting or truncating files, logging at most at debug level:
//
//   - levels.go revertToManifest deletes every .sst file the MANIFEST does
//     not list, so a lost MANIFEST (Badger then writes an empty one) loses
//     every table;
//   - memtable.go UpdateSkipList and value.go valueLog.open truncate the
//     .mem files and the newest .vlog file at the first unreadable entry
//     (see logscan.go);
//   - value.go valueLog.open deletes .vlog files holding only their
//     header, which hold no data.
//
// inspect looks at the directory first, read-only, so that Open can refuse
// the cases that lose data and make the harmless ones safe.

// Badger's file names (manifest.go, table.IDToFilename, value.go, memtable.go).
const (
	manifestName = "MANIFEST"
	lockName     = "LOCK"
	tableExt     = ".sst"
	vlogExt      = ".vlog"
	memExt       = ".mem"
)

// dirCheck is what inspect found in a database directory.
type dirCheck struct {
	path string
	// lostManifest: tables are there but no MANIFEST that lists them, so
	// Badger would delete them (or, for a table it lists but cannot find,
	// refuse to open).
	lostManifest string
	// damagedLogs are logs Badger would truncate before their torn tail.
	damagedLogs []damagedLog
	// badManifest: the MANIFEST cannot be used but there is no table it
	// could list (a crashed first start leaves an empty one).
	badManifest bool
	// emptyLogs hold less than their header: residue of a crash right
	// after Badger created them, which would make the next Open fail.
	emptyLogs []string
	// orphans are tables the MANIFEST does not list: residue of a crash
	// during a flush or compaction, whose data is still in the logs or in
	// the tables it was compacted from.
	orphans []string
}

type damagedLog struct {
	name string
	scan logScan
}

// inspect reads the database directory at path without changing it.
func inspect(path string) (dirCheck, error) {
	c := dirCheck{path: path}
	entries, err := os.ReadDir(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read database directory %s: %w", path, err)
	}
	tables := map[uint64]string{}
	var vlogs, mems []string
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() {
			continue
		}
		switch filepath.Ext(name) {
		case tableExt:
			if id, err := strconv.ParseUint(strings.TrimSuffix(name, tableExt), 10, 64); err == nil {
				tables[id] = name
			}
		case vlogExt:
			vlogs = append(vlogs, name)
		case memExt:
			mems = append(mems, name)
		}
	}
	// Badger names logs with zero-padded numbers, so the last in name
	// order is the newest, the only .vlog it replays.
	sort.Strings(vlogs)
	for i, name := range vlogs {
		if _, err := c.inspectLog(name, i == len(vlogs)-1); err != nil {
			return c, err
		}
	}
	memsWithData := 0
	for _, name := range mems {
		hasData, err := c.inspectLog(name, true)
		if err != nil {
			return c, err
		}
		if hasData {
			memsWithData++
		}
	}

	manifest, present, why, err := readManifest(filepath.Join(path, manifestName))
	if err != nil {
		return c, err
	}
	switch {
	case why != "" && len(tables) > 0:
		c.lostManifest = fmt.Sprintf("it holds %d .sst tables but %s", len(tables), why)
	case why != "":
		// The MANIFEST only lists tables; without any, the logs replay
		// into a fresh one and nothing is lost.
		c.badManifest = present
	default:
		for id := range manifest.Tables {
			if _, ok := tables[id]; !ok {
				c.lostManifest = fmt.Sprintf("MANIFEST lists table %d but its .sst file is missing", id)
			}
		}
		for id, name := range tables {
			if _, ok := manifest.Tables[id]; !ok {
				c.orphans = append(c.orphans, name)
			}
		}
		// A compaction adds to a MANIFEST that already lists tables, and a
		// flush leaves its source .mem behind until the MANIFEST lists the
		// new table: tables beside a MANIFEST listing none and no .mem
		// holding data mean the MANIFEST was replaced.
		if len(manifest.Tables) == 0 && len(c.orphans) > 0 && memsWithData == 0 {
			c.lostManifest = fmt.Sprintf("%d .sst files but the MANIFEST lists no table", len(c.orphans))
		}
	}
	sort.Strings(c.orphans)
	return c, nil
}

// inspectLog notes a .vlog or .mem file too short to hold an entry, or,
// when Badger replays it, damaged before its end. It reports whether the
// file holds entries or damage.
func (c *dirCheck) inspectLog(name string, replayed bool) (bool, error) {
	full := filepath.Join(c.path, name)
	fi, err := os.Stat(full)
	if err != nil {
		return false, fmt.Errorf("inspect %s: %w", full, err)
	}
	if fi.Size() < logHeaderSize {
		c.emptyLogs = append(c.emptyLogs, name)
		return false, nil
	}
	if !replayed {
		return fi.Size() > logHeaderSize, nil
	}
	s, err := scanLog(full)
	if err != nil {
		return false, err
	}
	if s.Damaged {
		c.damagedLogs = append(c.damagedLogs, damagedLog{name: name, scan: s})
	}
	return s.HasData() || s.Damaged, nil
}

// readManifest replays the MANIFEST read-only. why says what makes it
// unusable, or is empty; present is false when there is none.
func readManifest(path string) (m badger.Manifest, present bool, why string, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return m, false, "the MANIFEST is missing", nil
	}
	if err != nil {
		return m, false, "", fmt.Errorf("inspect %s: %w", path, err)
	}
	defer f.Close()
	m, _, err = badger.ReplayManifestFile(f, 0, badger.DefaultOptions("").WithLogger(nil))
	if err != nil {
		return m, true, fmt.Sprintf("the MANIFEST is unusable: %v", err), nil
	}
	return m, true, "", nil
}

// err is nil when Badger can open the directory without losing data, and
// otherwise says why not in one line.
func (c dirCheck) err() error {
	var why []string
	if c.lostManifest != "" {
		why = append(why, c.lostManifest)
	}
	for _, l := range c.damagedLogs {
		why = append(why, fmt.Sprintf("%s is damaged before its end: %s", l.name, l.scan.Reason))
	}
	if len(why) == 0 {
		return nil
	}
	return fmt.Errorf("open database at %s: %w: %s; nothing was changed, see \"gokv repair\"",
		c.path, ErrDamaged, strings.Join(why, "; "))
}

// clearCrashResidue makes the harmless leftovers of a crash safe to open:
// logs too short to hold an entry and an unusable MANIFEST beside no data
// are removed (they hold nothing), tables the MANIFEST does not list are
// moved aside instead of letting Badger delete them.
func (c dirCheck) clearCrashResidue(log *slog.Logger) error {
	remove := c.emptyLogs
	if c.badManifest {
		remove = append(remove, manifestName)
	}
	for _, name := range remove {
		if err := os.Remove(filepath.Join(c.path, name)); err != nil {
			return fmt.Errorf("remove empty %s left by a crash: %w", name, err)
		}
	}
	if len(c.orphans) == 0 {
		return nil
	}
	q, err := moveAside(c.path, c.orphans)
	if err != nil {
		return err
	}
	if log != nil {
		log.Warn("moved tables the MANIFEST does not list aside; they are left by a crash during a flush or compaction and their data is kept elsewhere",
			"files", c.orphans, "to", q)
	}
	return nil
}
