package auth

import (
	"sync"
	"sync/atomic"
	"time"
)

// maxCachedTokenLen keeps unusually long tokens out of the cache, so that
// its memory stays bounded by about size × 4 KiB.
const maxCachedTokenLen = 4 << 10

// tokenCache remembers tokens that passed full verification, keyed by the
// exact token string, until they expire. Only exp can turn a verified
// token invalid later (nbf and iat only ever pass once they have passed,
// and the secrets, method, issuer, audience and maximum lifetime are
// fixed per Verifier), so a hit is exactly as good as verifying again.
// That includes a token the previous secret verified: secrets change only
// with a restart (JWT_SECRET_PREVIOUS is read at start), which empties
// the cache. An issuer's keys change at runtime, so a token an issuer's
// key verified is cached with that key's KeyLife and is dropped once it
// ends: no token outlives the key that verified it. A token
// that never passed verification is never in the cache, so a forged,
// altered or otherwise refused one always takes the full path.
type tokenCache struct {
	mu     sync.RWMutex
	size   int
	tokens map[string]cachedToken
}

// cachedToken is what Verify needs of a verified token.
type cachedToken struct {
	grant   Grant
	expires time.Time // the first instant it is refused
	key     *KeyLife  // nil for the fixed HS256 secrets
}

func newTokenCache(size int) *tokenCache {
	return &tokenCache{size: size, tokens: make(map[string]cachedToken, size)}
}

// valid reports whether token is cached and still unexpired at now, and
// what it allows.
func (c *tokenCache) valid(token string, now time.Time) (grant Grant, ok bool) {
	c.mu.RLock()
	t, ok := c.tokens[token]
	c.mu.RUnlock()
	if ok && (!now.Before(t.expires) || t.key.Ended()) {
		c.mu.Lock()
		delete(c.tokens, token)
		c.mu.Unlock()
		return Grant{}, false
	}
	return t.grant, ok
}

// add remembers a verified token and its grant, refused from exp on or
// once key ends (nil: never). When the
// cache is full an arbitrary entry makes room (Go's map iteration starts
// at a random place), which bounds it without bookkeeping on every hit.
func (c *tokenCache) add(token string, grant Grant, exp time.Time, key *KeyLife) {
	if len(token) > maxCachedTokenLen {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.tokens[token]; !ok && len(c.tokens) >= c.size {
		for k := range c.tokens {
			delete(c.tokens, k)
			break
		}
	}
	c.tokens[token] = cachedToken{grant: grant, expires: exp, key: key}
}

// KeyLife stands for one key of an issuer, as its JWKS had it when a
// token was verified with it. It ends when the issuer drops or replaces
// that key, and the tokens it verified leave the cache with it. Its
// methods are safe for concurrent use, and a nil KeyLife never ends.
type KeyLife struct{ ended atomic.Bool }

// End marks the key as no longer trusted.
func (l *KeyLife) End() { l.ended.Store(true) }

// Ended reports whether End was called.
func (l *KeyLife) Ended() bool { return l != nil && l.ended.Load() }
