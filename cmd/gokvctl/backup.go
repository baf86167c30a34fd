package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/gokv-service/gokv/internal/client"
)

// defaultProgressEvery is how often backup and restore report progress on
// stderr: often enough to show a large transfer is moving, rarely enough
// not to flood a log.
const defaultProgressEvery = 5 * time.Second

func backupCmd(ctx context.Context, a *app, args []string) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	out := fs.String("o", "", "write the backup to this file (required); it appears only once complete and verified")
	every := fs.Duration("progress", defaultProgressEvery, "report progress on stderr this often; 0 never")
	if _, err := a.parse(fs, "-o FILE", args, 0, 0); err != nil {
		return err
	}
	if *out == "" {
		return usageErrorf("backup: -o FILE is required")
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	// Written beside the target and renamed only once verified, so that
	// FILE is never a partial backup, nor an older one half overwritten.
	tmp := *out + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp) // fails harmlessly once renamed
	var bytes, records atomic.Int64
	stop := a.report(*every, func() string {
		return fmt.Sprintf("backup: %s, %d records", mib(bytes.Load()), records.Load())
	})
	w := bufio.NewWriterSize(f, 256<<10)
	res, err := c.Backup(ctx, w, func(p client.BackupProgress) {
		bytes.Store(p.Bytes)
		records.Store(int64(p.Records))
	})
	stop()
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(tmp, *out)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(a.stdout, "%s: %d records, %d bytes, version %d\n", *out, res.Records, res.Bytes, res.Version)
	return nil
}

func restoreCmd(ctx context.Context, a *app, args []string) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	replace := fs.Bool("replace", false, "replace everything the database holds; without it the database must be empty")
	every := fs.Duration("progress", defaultProgressEvery, "report progress on stderr this often; 0 never")
	pos, err := a.parse(fs, "[--replace] FILE", args, 1, 1)
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return usageErrorf("restore: %v", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	body := &countingReader{r: f}
	stop := a.report(*every, func() string {
		sent := body.n.Load()
		if sent == info.Size() {
			return fmt.Sprintf("restore: sent %s; the server is verifying and restoring", mib(sent))
		}
		return fmt.Sprintf("restore: sent %s of %s", mib(sent), mib(info.Size()))
	})
	res, err := c.Restore(ctx, body, *replace)
	stop()
	if client.IsStatus(err, http.StatusConflict) && !*replace {
		return fmt.Errorf("restore: %w (to replace its contents: gokvctl restore --replace)", err)
	}
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(a.stdout, "restored %d entries from %s (backup version %d)\n", res.Restored, pos[0], res.BackupVersion)
	return nil
}

// report prints line() on stderr every interval until stop is called.
func (a *app) report(every time.Duration, line func() string) (stop func()) {
	if every <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				fmt.Fprintln(a.stderr, line())
			case <-done:
				return
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// countingReader counts the bytes read through it, for progress.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func mib(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
