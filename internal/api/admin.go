package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gokv-service/gokv/internal/backup"
	"github.com/gokv-service/gokv/internal/kv"
)

// backupVersionHeader is the trailer of a backup response that says the
// store version the backup reflects. A trailer, because Store.Backup
// reports it only once the snapshot has been read (the stream's own
// trailer record carries it too, for backups saved to files).
const backupVersionHeader = "Gokv-Backup-Version"

// retryAfterRestore is the Retry-After, in seconds, of a request refused
// while a restore runs: long enough not to hammer the server, short
// enough that a small restore is not waited out for long.
const retryAfterRestore = "5"

// streamIOTimeout bounds each read of a restore's body and each write of
// a backup: the server's timeouts are for ordinary requests, and a backup
// or restore of a large database takes longer than them, but a peer that
// stops reading or sending is still cut.
const streamIOTimeout = 30 * time.Second

var (
	errRestoring       = errors.New("a restore is running, retry later")
	errNoIncremental   = errors.New("incremental backups (?since=) are not supported by this backend: take a full backup")
	errRestoreMode     = errors.New(`mode must be "replace" or absent`)
	errRestoreDisabled = errors.New("restore is not configured on this server")
)

// gate keeps data requests away from a restore. Data requests share it;
// a restore holds it alone, after the requests already inside are done,
// and while it waits or holds it new ones are refused at once with 503
// rather than queued behind a restore of unknown length.
type gate struct {
	mu sync.RWMutex
	// restore admits one restore at a time: a second one is refused
	// rather than replacing the first's work as soon as it is done.
	restore sync.Mutex
}

// admit is the middleware of data requests. A watch holds the gate only
// to start: it reads no stored data afterwards, and a restore ends it
// (kv.Store.Restore) rather than waiting for it.
func (g *gate) admit(c *gin.Context) {
	if !g.mu.TryRLock() {
		c.Header("Retry-After", retryAfterRestore)
		abort(c, http.StatusServiceUnavailable, errRestoring.Error())
		return
	}
	if c.Request.Method == http.MethodGet && c.Query("watch") == "true" {
		g.mu.RUnlock()
		c.Next()
		return
	}
	defer g.mu.RUnlock()
	c.Next()
}

// backup streams a consistent snapshot of every bucket in gokv's backup
// format (internal/backup), without a Content-Length: its length is
// known only at the end.
func (h *handlers) backup(c *gin.Context) {
	if _, ok := c.GetQuery("since"); ok {
		h.fail(c, fmt.Errorf("%w: %w", errBadRequest, errNoIncremental))
		return
	}
	// One record's value is held at a time, at most MAX_VALUE_BYTES.
	if err := h.reserve(c, h.maxValue); err != nil {
		h.fail(c, err)
		return
	}
	defer h.inflight.Release(h.maxValue)
	rc := http.NewResponseController(c.Writer)
	c.Header("Content-Type", backup.ContentType)
	c.Header("Content-Disposition", `attachment; filename="gokv.backup"`)
	c.Header("Trailer", backupVersionHeader)
	c.Status(http.StatusOK)
	w, err := backup.NewWriter(deadlineWriter{c.Writer, rc})
	if err != nil {
		h.log.Warn("backup failed", "err", err)
		return
	}
	version, err := h.store.Backup(c.Request.Context(), w.Write)
	if err == nil {
		err = w.Close(version)
	}
	if err != nil {
		if !c.Writer.Written() {
			// Nothing sent yet (the writer buffers): an ordinary error.
			c.Writer.Header().Del("Trailer")
			h.fail(c, err)
			return
		}
		// The stream ends without its trailer record, which every
		// reader of the format refuses as truncated.
		h.log.Error("backup failed part way", "records", w.Count(), "err", err)
		return
	}
	c.Writer.Header().Set(backupVersionHeader, strconv.FormatUint(version, 10))
	h.metrics.BackupSucceeded(time.Now(), int64(c.Writer.Size()))
	h.log.Info("backup sent", "records", w.Count(), "bytes", c.Writer.Size(), "version", version)
}

// deadlineWriter extends the write deadline before every write.
type deadlineWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (d deadlineWriter) Write(p []byte) (int, error) {
	// Not every writer supports deadlines (httptest's recorder); the
	// server's WriteTimeout then stays.
	_ = d.rc.SetWriteDeadline(time.Now().Add(streamIOTimeout))
	return d.w.Write(p)
}

// deadlineReader extends the read deadline before every read.
type deadlineReader struct {
	r  io.Reader
	rc *http.ResponseController
}

func (d deadlineReader) Read(p []byte) (int, error) {
	_ = d.rc.SetReadDeadline(time.Now().Add(streamIOTimeout))
	return d.r.Read(p)
}

// restoreResult is the body of a successful restore.
type restoreResult struct {
	// Restored is the number of entries written: the backup's records
	// less those that expired since it was taken.
	Restored int `json:"restored"`
	// BackupVersion is the store version the backup reflected.
	BackupVersion uint64 `json:"backup_version,string"`
}

// restore loads a backup. The body is first spooled to a file while the
// format's reader checks every record, and the checksum at its end; data
// requests go on meanwhile. Only a complete, verified backup reaches the
// store: a truncated or damaged one is refused with 400 and the database
// is left as it was. Then the gate is closed (data requests get 503) and
// the store restores from the file.
func (h *handlers) restore(c *gin.Context) {
	var replace bool
	switch c.Query("mode") {
	case "":
	case "replace":
		replace = true
	default:
		h.fail(c, fmt.Errorf("%w: %w", errBadRequest, errRestoreMode))
		return
	}
	if h.spoolDir == "" {
		h.fail(c, errRestoreDisabled)
		return
	}
	if !h.gate.restore.TryLock() {
		c.Header("Retry-After", retryAfterRestore)
		h.fail(c, errRestoring)
		return
	}
	defer h.gate.restore.Unlock()
	// One record's value is held at a time.
	if err := h.reserve(c, h.maxValue); err != nil {
		h.fail(c, err)
		return
	}
	defer h.inflight.Release(h.maxValue)

	rc := http.NewResponseController(c.Writer)
	// The restore itself may take longer than the write timeout.
	_ = rc.SetWriteDeadline(time.Time{})
	spool, version, err := h.spool(deadlineReader{c.Request.Body, rc})
	if spool != nil {
		defer os.Remove(spool.Name())
		defer spool.Close()
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		h.fail(c, fmt.Errorf("rewind restore spool: %w", err))
		return
	}
	r, err := backup.NewReader(spool)
	if err != nil {
		h.fail(c, fmt.Errorf("reread restore spool: %w", err))
		return
	}
	r.LimitValues(h.maxValue)

	h.gate.mu.Lock()
	start := time.Now()
	// A client that goes away does not stop a restore under way: half a
	// replace is worse than a whole one nobody waits for.
	n, err := h.store.Restore(context.WithoutCancel(c.Request.Context()), replace, r.Next)
	h.gate.mu.Unlock()
	if err != nil {
		h.fail(c, err)
		return
	}
	h.log.Info("restored a backup", "entries", n, "backup_version", version, "replace", replace,
		"duration", time.Since(start).Round(time.Millisecond))
	c.JSON(http.StatusOK, restoreResult{Restored: n, BackupVersion: version})
}

// spool copies a backup from body to a temporary file, reading every
// record as it goes, and returns the file once the whole backup has been
// read and verified, with the version it reflects. It refuses records
// the store would refuse, so that a restore cannot fail half way on one.
func (h *handlers) spool(body io.Reader) (*os.File, uint64, error) {
	f, err := os.CreateTemp(h.spoolDir, "restore-*.backup")
	if err != nil {
		return nil, 0, fmt.Errorf("create restore spool in %s: %w", h.spoolDir, err)
	}
	r, err := backup.NewReader(io.TeeReader(body, &spoolWriter{f: f, dir: h.spoolDir, minFree: h.spoolMinFree}))
	if err != nil {
		return f, 0, spoolError(err)
	}
	r.LimitValues(h.maxValue)
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return f, 0, spoolError(err)
		}
		if err := validRecord(rec); err != nil {
			return f, 0, fmt.Errorf("%w: record %d: %w", errBadRequest, r.Count(), err)
		}
	}
	return f, r.Version(), nil
}

// spoolWriter writes the spool and marks its errors, which are the
// server's, apart from those of reading the body. The spool shares the
// database's volume, which must never fill up (Badger dies of SIGBUS on a
// full disk), so it stops when less than minFree bytes are left.
type spoolWriter struct {
	f       *os.File
	dir     string
	minFree int64
	// unchecked counts the bytes written since free space was last
	// checked.
	unchecked int
}

// spoolCheckEvery is how many bytes the spool writes between checks of
// the free space: a statfs per MiB costs nothing beside the writes.
const spoolCheckEvery = 1 << 20

func (w *spoolWriter) Write(p []byte) (int, error) {
	if w.minFree > 0 && w.unchecked >= spoolCheckEvery {
		w.unchecked = 0
		var st syscall.Statfs_t
		if err := syscall.Statfs(w.dir, &st); err == nil && st.Bavail*uint64(st.Bsize) < uint64(w.minFree)+uint64(len(p)) {
			return 0, &spoolWriteError{fmt.Errorf("%d bytes free in %s, the spool leaves %d: %w", st.Bavail*uint64(st.Bsize), w.dir, w.minFree, syscall.ENOSPC)}
		}
	}
	n, err := w.f.Write(p)
	w.unchecked += n
	if err != nil {
		err = &spoolWriteError{err}
	}
	return n, err
}

type spoolWriteError struct{ err error }

func (e *spoolWriteError) Error() string { return "write restore spool: " + e.err.Error() }
func (e *spoolWriteError) Unwrap() error { return e.err }

// spoolError tells the format's errors (the client's backup), which are
// client errors, from failures to read the body or write the file.
func spoolError(err error) error {
	var writeErr *spoolWriteError
	switch {
	case errors.As(err, &writeErr) && errors.Is(err, syscall.ENOSPC):
		return fmt.Errorf("%w: %w", kv.ErrNoSpace, err)
	case errors.As(err, &writeErr):
		return err
	case errors.Is(err, backup.ErrFormat), errors.Is(err, backup.ErrTruncated),
		errors.Is(err, backup.ErrCorrupt):
		return fmt.Errorf("%w: %w", errBadRequest, err)
	case errors.Is(err, backup.ErrTooLarge):
		return fmt.Errorf("%w: %w", errValueTooLarge, err)
	default:
		return fmt.Errorf("%w: %w", errBadBody, err)
	}
}

func validRecord(rec kv.Record) error {
	if err := kv.ValidateBucket(rec.Bucket); err != nil {
		return err
	}
	if err := kv.ValidateKey(rec.Key); err != nil {
		return err
	}
	return kv.ValidateContentType(rec.ContentType)
}
