package badgerstore

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// RepairOptions say which loss the operator accepts. Repair changes
// nothing that no option covers.
type RepairOptions struct {
	// AcceptDataLoss covers a directory whose MANIFEST is lost: Badger
	// cannot link tables back into a new MANIFEST, so every file of the
	// database is moved into a quarantine directory and gokv starts empty.
	AcceptDataLoss bool
	// AcceptWALLoss covers a log damaged before its end: the file is moved
	// into a quarantine directory and replaced by its readable beginning,
	// what Badger would keep; the entries after the damage are lost.
	AcceptWALLoss bool
}

// Repair makes the database directory at path openable again, doing only
// what opts accept, and writes to out what it found and what it did or
// would do. It fails with ErrDamaged when damage remains, and with
// ErrLocked when a server has the directory open. It never deletes data:
// what it takes out of the database is moved to QuarantineDir.
func Repair(path string, opts RepairOptions, out io.Writer) error {
	unlock, err := lockDir(path, "repair")
	if err != nil {
		return err
	}
	defer unlock()
	c, err := inspect(path)
	if err != nil {
		return err
	}
	if c.err() == nil {
		fmt.Fprintf(out, "%s: no damage found\n", path)
		if len(c.orphans) > 0 {
			fmt.Fprintf(out, "  gokv will move %d tables the MANIFEST does not list (crash residue) into quarantine: %v\n", len(c.orphans), c.orphans)
		}
		return nil
	}
	left := 0
	if c.lostManifest != "" {
		fmt.Fprintf(out, "%s: %s\n", path, c.lostManifest)
		if !opts.AcceptDataLoss {
			fmt.Fprintln(out, "  would move every database file into quarantine so that gokv starts empty; run again with --accept-data-loss")
			left++
		} else {
			if err := quarantineAll(path, out); err != nil {
				return err
			}
			// The logs went with the rest.
			c.damagedLogs = nil
		}
	}
	for _, l := range c.damagedLogs {
		fmt.Fprintf(out, "%s: %s is damaged before its end: %s\n", path, l.name, l.scan.Reason)
		if !opts.AcceptWALLoss {
			fmt.Fprintf(out, "  would keep its first %d bytes, losing what follows; run again with --accept-wal-loss\n", l.scan.ValidEnd)
			left++
			continue
		}
		if err := cutLog(path, l, out); err != nil {
			return err
		}
	}
	if left > 0 {
		return fmt.Errorf("repair %s: %w: nothing was changed for %d problem(s)", path, ErrDamaged, left)
	}
	return nil
}

// quarantineAll moves every file of the database except its lock aside.
func quarantineAll(path string, out io.Writer) error {
	entries, err := os.ReadDir(path)
	if err != nil {
		return fmt.Errorf("read database directory %s: %w", path, err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && e.Name() != lockName {
			names = append(names, e.Name())
		}
	}
	q, err := moveAside(path, names)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  moved %d files into %s; gokv will start with an empty database\n", len(names), q)
	return nil
}

// cutLog moves the damaged log aside and puts its readable beginning in
// its place.
func cutLog(path string, l damagedLog, out io.Writer) error {
	q, err := moveAside(path, []string{l.name})
	if err != nil {
		return err
	}
	src, err := os.Open(filepath.Join(q, l.name))
	if err != nil {
		return fmt.Errorf("cut %s: %w", l.name, err)
	}
	defer src.Close()
	dst, err := os.OpenFile(filepath.Join(path, l.name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("cut %s: %w", l.name, err)
	}
	_, err = io.CopyN(dst, src, l.scan.ValidEnd)
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(path)
	}
	if err != nil {
		return fmt.Errorf("cut %s: %w", l.name, err)
	}
	fmt.Fprintf(out, "  kept its first %d of %d bytes; the whole file is in %s\n", l.scan.ValidEnd, l.scan.Size, q)
	return nil
}
