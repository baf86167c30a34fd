package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/gokv-service/gokv/internal/backup"
)

// BackupProgress is how far a backup has come.
type BackupProgress struct {
	Bytes   int64
	Records uint64
	// Version is the store version the backup reflects; known once the
	// backup is complete.
	Version uint64
}

// Backup streams a backup of the whole database into w, reading it as it
// goes: it fails unless the stream is complete and its checksum matches,
// so a nil error means w holds a backup that will restore. progress, when
// not nil, is called after every record.
func (c *Client) Backup(ctx context.Context, w io.Writer, progress func(BackupProgress)) (BackupProgress, error) {
	const p = "/_admin/backup"
	resp, err := c.do(ctx, http.MethodGet, p, nil, nil, true)
	if err != nil {
		return BackupProgress{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return BackupProgress{}, statusError(resp)
	}
	r, err := backup.NewReader(io.TeeReader(resp.Body, w))
	if err != nil {
		return BackupProgress{}, fmt.Errorf("GET %s: %w", p, err)
	}
	for {
		_, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return BackupProgress{Bytes: r.Bytes(), Records: r.Count()}, fmt.Errorf("GET %s: %w", p, err)
		}
		if progress != nil {
			progress(BackupProgress{Bytes: r.Bytes(), Records: r.Count()})
		}
	}
	done := BackupProgress{Bytes: r.Bytes(), Records: r.Count(), Version: r.Version()}
	// The trailer says the same as the stream's last record; a server
	// that sent it must agree.
	if v := resp.Trailer.Get("Gokv-Backup-Version"); v != "" && v != strconv.FormatUint(done.Version, 10) {
		return done, fmt.Errorf("GET %s: the Gokv-Backup-Version trailer %s disagrees with the backup's version %d", p, v, done.Version)
	}
	return done, nil
}

// RestoreResult is what a restore did.
type RestoreResult struct {
	// Restored is the number of entries written.
	Restored int `json:"restored"`
	// BackupVersion is the store version the backup reflected.
	BackupVersion uint64 `json:"backup_version,string"`
}

// Restore uploads the backup in r and has the server restore it: into an
// empty database, or with replace over whatever it holds. A server that
// holds entries refuses without replace: a StatusError with status 409.
// A damaged backup is a StatusError with status 400; the database is then
// unchanged.
func (c *Client) Restore(ctx context.Context, r io.Reader, replace bool) (RestoreResult, error) {
	p := "/_admin/restore"
	if replace {
		p += "?mode=replace"
	}
	header := http.Header{"Content-Type": {backup.ContentType}}
	resp, err := c.do(ctx, http.MethodPost, p, r, header, true)
	if err != nil {
		return RestoreResult{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return RestoreResult{}, statusError(resp)
	}
	var res RestoreResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return RestoreResult{}, fmt.Errorf("POST %s: read the answer: %w", p, err)
	}
	return res, nil
}
