package auth

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gokv-service/gokv/internal/kv"
)

// Scope is a set of the kinds of request a token allows.
type Scope uint8

const (
	// ScopeRead: GET, HEAD, listing, watch.
	ScopeRead Scope = 1 << iota
	// ScopeWrite: PUT, POST, DELETE, transactions.
	ScopeWrite
	// ScopeAdmin: /_admin/*.
	ScopeAdmin
)

// scopeNames are the words of the scope claim (RFC 8693 §4.2), in the
// order String writes them.
var scopeNames = []struct {
	scope Scope
	name  string
}{{ScopeRead, "read"}, {ScopeWrite, "write"}, {ScopeAdmin, "admin"}}

// ParseScope reads a scope claim: space-separated words, each of read,
// write and admin. An unknown word is an error rather than ignored: a
// token meant for a newer server, or a typo, must not be taken for less
// (or more) than it says. Repeated words are harmless.
func ParseScope(s string) (Scope, error) {
	var scope Scope
	for word := range strings.FieldsSeq(s) {
		known := false
		for _, n := range scopeNames {
			if word == n.name {
				scope |= n.scope
				known = true
				break
			}
		}
		if !known {
			return 0, fmt.Errorf("unknown scope %q (known: read, write, admin)", word)
		}
	}
	if scope == 0 {
		return 0, errors.New("scope names no scope (known: read, write, admin)")
	}
	return scope, nil
}

// String is the scope as a claim says it: "read write".
func (s Scope) String() string {
	var words []string
	for _, n := range scopeNames {
		if s&n.scope != 0 {
			words = append(words, n.name)
		}
	}
	return strings.Join(words, " ")
}

// CheckBucketPattern reports whether p may appear in a buckets claim: a
// bucket name (kv.ValidateBucket), or a prefix of one followed by '*',
// "*" alone covering every bucket. A '*' anywhere else is refused rather
// than read as a glob that gokv would then have to match.
func CheckBucketPattern(p string) error {
	prefix, isPrefix := strings.CutSuffix(p, "*")
	if strings.Contains(prefix, "*") {
		return fmt.Errorf("bucket pattern %q: '*' may only end a pattern", p)
	}
	if !isPrefix {
		if err := kv.ValidateBucket(p); err != nil {
			return fmt.Errorf("bucket %q: %w", p, err)
		}
		return nil
	}
	if len(prefix) >= kv.MaxBucketLen {
		return fmt.Errorf("bucket pattern %q: a prefix is shorter than %d characters", p, kv.MaxBucketLen)
	}
	for i := range len(prefix) {
		if !kv.IsBucketByte(prefix[i]) {
			return fmt.Errorf("bucket pattern %q: only A-Z, a-z, 0-9, '.', '_' and '-' may precede the final '*'", p)
		}
	}
	if strings.HasPrefix(prefix, "_") {
		return fmt.Errorf("bucket pattern %q: no bucket starts with '_'", p)
	}
	return nil
}

// Grant is what a verified token allows its bearer.
type Grant struct {
	// Subject is who the token names (its sub claim), possibly "".
	Subject string
	Scopes  Scope
	// Buckets are the buckets the grant covers: names, or prefixes
	// ending in '*'; nil covers every bucket.
	Buckets []string
}

// Has reports whether the grant includes every kind of request in s.
func (g Grant) Has(s Scope) bool { return g.Scopes&s == s }

// CoversBucket reports whether the grant reaches bucket: a pattern
// "team-*" covers "team-a" and "team-", not "team".
func (g Grant) CoversBucket(bucket string) bool {
	if g.Buckets == nil {
		return true
	}
	for _, p := range g.Buckets {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(bucket, prefix) {
				return true
			}
		} else if p == bucket {
			return true
		}
	}
	return false
}

// defaultGrant is what a token without scope claims allows: reading and
// writing every bucket, not administration.
func defaultGrant(subject string) Grant {
	return Grant{Subject: subject, Scopes: ScopeRead | ScopeWrite}
}
