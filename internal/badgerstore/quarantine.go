package badgerstore

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// QuarantineDir is the directory inside the database directory where gokv
// moves files it will not let Badger delete. Badger only looks at files
// directly in its directory, so it ignores this one.
const QuarantineDir = "quarantine"

// newQuarantine creates a fresh, dated directory under dir/quarantine.
func newQuarantine(dir string) (string, error) {
	base := filepath.Join(dir, QuarantineDir, time.Now().UTC().Format("20060102T150405Z"))
	q := base
	for i := 2; ; i++ {
		err := os.MkdirAll(filepath.Dir(q), 0o755)
		if err == nil {
			err = os.Mkdir(q, 0o755)
		}
		if err == nil {
			return q, nil
		}
		if !os.IsExist(err) {
			return "", fmt.Errorf("create quarantine directory: %w", err)
		}
		q = fmt.Sprintf("%s-%d", base, i)
	}
}

// moveAside moves the named files of dir into a new quarantine directory
// and returns its path. The moves are renames on one filesystem, made
// durable before it returns.
func moveAside(dir string, names []string) (string, error) {
	q, err := newQuarantine(dir)
	if err != nil {
		return "", err
	}
	for _, name := range names {
		if err := os.Rename(filepath.Join(dir, name), filepath.Join(q, name)); err != nil {
			return q, fmt.Errorf("move %s aside: %w", name, err)
		}
	}
	for _, d := range []string{q, dir} {
		if err := syncDir(d); err != nil {
			return q, err
		}
	}
	return q, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
