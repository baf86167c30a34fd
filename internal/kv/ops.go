package kv

import (
	"fmt"
	"strings"
)

// ValidateOp checks one op of an Apply against the rules every backend
// shares: its names first, then what its kind allows.
func ValidateOp(o Op) error {
	if err := ValidateBucket(o.Bucket); err != nil {
		return err
	}
	if err := ValidateKey(o.Key); err != nil {
		return err
	}
	switch o.Kind {
	case OpPut:
		if o.TTL != 0 && (o.TTL < MinTTL || o.TTL > MaxTTL) {
			return fmt.Errorf("%w: ttl %s is outside %s to %s", ErrInvalid, o.TTL, MinTTL, MaxTTL)
		}
		return ValidateContentType(o.ContentType)
	case OpDelete, OpCheck:
		if len(o.Value) > 0 || o.ContentType != "" || o.TTL != 0 {
			return fmt.Errorf("%w: only a put has a value, content type or ttl", ErrInvalid)
		}
		return nil
	default:
		return fmt.Errorf("%w: unknown op kind %d", ErrInvalid, o.Kind)
	}
}

// RollUp returns the prefix a listing rolls key up into with
// ListOptions.Delimiter: everything up to and including the first
// delimiter after prefix.
func RollUp(key, prefix, delimiter string) (string, bool) {
	if delimiter == "" {
		return "", false
	}
	i := strings.Index(key[len(prefix):], delimiter)
	if i < 0 {
		return "", false
	}
	return key[:len(prefix)+i+len(delimiter)], true
}
