package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// filesystemSize returns the size in bytes of the filesystem that will
// hold path, and the directory it measured: path itself or, since gokv
// creates DB_PATH when it starts, its nearest existing parent.
func filesystemSize(path string) (size uint64, measured string, err error) {
	dir, err := filepath.Abs(path)
	if err != nil {
		return 0, "", fmt.Errorf("resolve %s: %w", path, err)
	}
	for {
		_, err := os.Stat(dir)
		if err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if !errors.Is(err, fs.ErrNotExist) || parent == dir {
			return 0, "", fmt.Errorf("stat %s: %w", dir, err)
		}
		dir = parent
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, "", fmt.Errorf("statfs %s: %w", dir, err)
	}
	return st.Blocks * uint64(st.Bsize), dir, nil
}
