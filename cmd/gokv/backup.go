package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gokv-service/gokv/internal/auth"
	"github.com/gokv-service/gokv/internal/backup"
	"github.com/gokv-service/gokv/internal/client"
)

// Backup files are named gokv-<UTC time>.backup: the names sort in time
// order, so the newest is the last and pruning needs no metadata.
const (
	backupPrefix = "gokv-"
	backupSuffix = ".backup"
	backupStamp  = "20060102T150405.000Z"
)

// tokenLifetime is the life of the token backup and restore mint: a
// request's token is checked when it starts, so it need only outlast the
// wait for readiness.
const tokenLifetime = 10 * time.Minute

// runBackup is `gokv backup`, what the chart's backup CronJob runs (the
// image has no shell): it saves a backup of a running gokv as a new file
// in a directory, verified, and prunes the oldest beyond the retention.
func runBackup(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gokv backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://localhost:8080", "base URL of the gokv server")
	dir := fs.String("dir", "", "directory to write gokv-<UTC time>.backup into (required)")
	retention := fs.Int("retention", 7, "backups to keep in the directory, the newest; older ones are deleted")
	wait := fs.Duration("wait", time.Minute, "how long to wait for /readyz first")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: gokv backup --dir DIR [flags]")
		fmt.Fprintln(stderr, "Saves a verified backup of a running gokv into DIR. Needs $JWT_SECRET or $GOKV_TOKEN.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *dir == "" || *retention < 1 {
		fmt.Fprintln(stderr, "gokv backup: --dir is required and --retention must be at least 1")
		return 2
	}
	c, code, ok := readyClient(*url, "gokv-backup", *wait, getenv, stderr, "backup")
	if !ok {
		return code
	}
	path, res, err := saveBackup(context.Background(), c, *dir, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "gokv backup: FAIL: %v\n", err)
		return 1
	}
	pruned, err := pruneBackups(*dir, *retention)
	if err != nil {
		fmt.Fprintf(stderr, "gokv backup: saved %s but %v\n", path, err)
		return 1
	}
	fmt.Fprintf(stdout, "gokv backup: %s: %d records, %d bytes, version %d; pruned %d\n", path, res.Records, res.Bytes, res.Version, pruned)
	return 0
}

// runRestore is `gokv restore`, what the chart's restore Job runs.
func runRestore(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gokv restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://localhost:8080", "base URL of the gokv server")
	file := fs.String("file", "", "backup file to restore, or a directory: its newest gokv-*.backup (required)")
	replace := fs.Bool("replace", false, "replace what the database holds; without it the database must be empty")
	wait := fs.Duration("wait", 5*time.Minute, "how long to wait for /readyz first")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: gokv restore --file FILE|DIR [flags]")
		fmt.Fprintln(stderr, "Loads a backup into a running gokv. Needs $JWT_SECRET or $GOKV_TOKEN.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *file == "" {
		fmt.Fprintln(stderr, "gokv restore: --file is required")
		return 2
	}
	path, err := backupFile(*file)
	if err != nil {
		fmt.Fprintf(stderr, "gokv restore: %v\n", err)
		return 2
	}
	c, code, ok := readyClient(*url, "gokv-restore", *wait, getenv, stderr, "restore")
	if !ok {
		return code
	}
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(stderr, "gokv restore: %v\n", err)
		return 2
	}
	defer f.Close()
	res, err := c.Restore(context.Background(), f, *replace)
	if err != nil {
		fmt.Fprintf(stderr, "gokv restore: FAIL: %s: %v\n", path, err)
		return 1
	}
	fmt.Fprintf(stdout, "gokv restore: %s: restored %d entries (backup version %d)\n", path, res.Restored, res.BackupVersion)
	return 0
}

// runBackups is `gokv backups`: it checks that a backup directory is
// writable and lists its backups, oldest first, with their sizes. The
// chart runs it at every install and upgrade in a Job that mounts the
// backup volume: its log says which backups a disaster recovery can pick,
// and its pod is what binds a claim whose storage class waits for a first
// consumer, which `helm install --wait` waits for.
func runBackups(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gokv backups", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "the backup directory (required)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: gokv backups --dir DIR")
		fmt.Fprintln(stderr, "Checks that DIR is writable and lists its backups, oldest first.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *dir == "" {
		fmt.Fprintln(stderr, "gokv backups: --dir is required")
		return 2
	}
	if err := checkWritable(*dir); err != nil {
		fmt.Fprintf(stderr, "gokv backups: FAIL: %v\n", err)
		return 1
	}
	names, err := backups(*dir)
	if err != nil {
		fmt.Fprintf(stderr, "gokv backups: FAIL: %v\n", err)
		return 1
	}
	for _, n := range names {
		info, err := os.Stat(filepath.Join(*dir, n))
		if err != nil {
			fmt.Fprintf(stderr, "gokv backups: FAIL: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s\t%d bytes\n", n, info.Size())
	}
	fmt.Fprintf(stdout, "gokv backups: %d in %s, writable\n", len(names), *dir)
	return 0
}

// checkWritable creates and removes a file in dir, as a backup will.
func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".gokv-write-check-*")
	if err != nil {
		return fmt.Errorf("%s is not writable: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// parseFlags parses a subcommand's flags, which take no arguments; when
// it returns false the command ends with code.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return 2, false
	}
	return 0, true
}

// readyClient mints a token and waits for the server to be ready.
func readyClient(url, subject string, wait time.Duration, getenv func(string) string, stderr io.Writer, name string) (*client.Client, int, bool) {
	token, err := client.TokenFromEnv(getenv, subject, auth.ScopeAdmin, tokenLifetime)
	if err != nil {
		fmt.Fprintf(stderr, "gokv %s: %v\n", name, err)
		return nil, 2, false
	}
	c := client.New(url, token, nil)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.WaitReady(ctx, time.Second); err != nil {
		fmt.Fprintf(stderr, "gokv %s: FAIL: %v\n", name, err)
		return nil, 1, false
	}
	return c, 0, true
}

// saveBackup writes a backup into dir as of now, atomically: to a hidden
// temporary file first, synced, read back and verified, then renamed.
func saveBackup(ctx context.Context, c *client.Client, dir string, now time.Time) (string, client.BackupProgress, error) {
	name := backupPrefix + now.UTC().Format(backupStamp) + backupSuffix
	path := filepath.Join(dir, name)
	tmp := filepath.Join(dir, "."+name+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", client.BackupProgress{}, err
	}
	defer os.Remove(tmp) // fails harmlessly once renamed
	res, err := c.Backup(ctx, f, nil)
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		// What reached the disk, not only what crossed the network.
		err = verifyFile(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return "", res, fmt.Errorf("save backup %s: %w", path, err)
	}
	return path, res, nil
}

// verifyFile reads a backup file through and checks its checksum.
func verifyFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := backup.NewReader(f)
	if err != nil {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	for {
		if _, err := r.Next(); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("verify %s: %w", path, err)
		}
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// backups returns the names of the backup files in dir, oldest first.
func backups(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasPrefix(n, backupPrefix) && strings.HasSuffix(n, backupSuffix) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

// pruneBackups deletes the oldest backups in dir beyond keep, and the
// temporary files of backups that did not finish, and returns how many
// backups it deleted.
func pruneBackups(dir string, keep int) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("prune: %w", err)
	}
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, "."+backupPrefix) && strings.HasSuffix(n, ".tmp") {
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				return 0, fmt.Errorf("prune: %w", err)
			}
		}
	}
	names, err := backups(dir)
	if err != nil {
		return 0, fmt.Errorf("prune: %w", err)
	}
	pruned := 0
	for len(names)-pruned > keep {
		if err := os.Remove(filepath.Join(dir, names[pruned])); err != nil {
			return pruned, fmt.Errorf("prune: %w", err)
		}
		pruned++
	}
	return pruned, nil
}

// backupFile is path, or when path is a directory its newest backup.
func backupFile(path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !info.IsDir() {
		return path, nil
	}
	names, err := backups(path)
	if err != nil {
		return "", err
	}
	if len(names) == 0 {
		return "", fmt.Errorf("no %s*%s file in %s", backupPrefix, backupSuffix, path)
	}
	return filepath.Join(path, names[len(names)-1]), nil
}
