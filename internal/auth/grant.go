package auth

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

// Grant is what a verified token allows its bearer.
type Grant struct {
	// Subject is who the token names (its sub claim), possibly "".
	Subject string
	Scopes  Scope
	// Buckets are the buckets the grant covers: names, or prefixes
	// ending in '*'; nil covers every bucket.
	Buckets []string
}

// defaultGrant is what a token without scope claims allows: reading and
// writing every bucket, not administration.
func defaultGrant(subject string) Grant {
	return Grant{Subject: subject, Scopes: ScopeRead | ScopeWrite}
}
