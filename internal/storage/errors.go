package storage

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
)
