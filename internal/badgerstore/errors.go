package badgerstore

import "errors"

// The errors of this backend beyond kv's. Returned errors wrap one of
// these or of kv's, so test them with errors.Is.
var (
	ErrLocked = errors.New("database directory is in use by another process")
	// ErrDamaged: opening the directory would lose data (Badger would
	// delete or truncate files); Repair is the explicit way out.
	ErrDamaged = errors.New("database directory is damaged")
)
