package badgerstore

import "errors"

// The errors callers act on. Returned errors wrap one of these, so test
// them with errors.Is.
var (
	ErrNotFound           = errors.New("not found")
	ErrInvalidBucket      = errors.New("invalid bucket")
	ErrInvalidKey         = errors.New("invalid key")
	ErrInvalidContentType = errors.New("invalid content type")
	ErrLocked             = errors.New("database directory is in use by another process")
	ErrNoSpace            = errors.New("no space left on device")
	ErrClosed             = errors.New("database is closed")
	ErrCorrupt            = errors.New("stored data is corrupt")
	// ErrFailed: the storage engine failed (it panicked) and the store
	// serves nothing until the process restarts; see fence.go.
	ErrFailed = errors.New("storage engine failed")
	// ErrStalled: the write path has made no progress for longer than
	// Options.WriteStallTimeout.
	ErrStalled = errors.New("write path stalled")
	// ErrDamaged: opening the directory would lose data (Badger would
	// delete or truncate files); Repair is the explicit way out.
	ErrDamaged = errors.New("database directory is damaged")
)
