package oidc

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"sync"

	"github.com/MicahParks/jwkset"

	"github.com/gokv-service/gokv/internal/auth"
)

// keyStore holds an issuer's keys as jwkset fetched them last, and the
// auth.KeyLife of each key a token was verified with: a refetch that
// drops or replaces a key ends its life, and the tokens it verified
// leave auth's cache. Lives exist only for keys the JWKS holds, so
// tokens naming made-up kids cannot grow the map.
type keyStore struct {
	jwkset.Storage // in memory; jwkset's refresh calls KeyReplaceAll

	mu    sync.Mutex
	lives map[string]*auth.KeyLife
}

func newKeyStore() *keyStore {
	return &keyStore{Storage: jwkset.NewMemoryStorage(), lives: make(map[string]*auth.KeyLife)}
}

// life is the life of the key kid names now, nil when there is no such
// key. Taken before the token is verified: a refetch between the two
// that changes the key ends this life, so a token verified with a key
// that is already gone is never cached as if verified with the new one.
func (s *keyStore) life(ctx context.Context, kid string) *auth.KeyLife {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.lives[kid]; ok {
		return l
	}
	if _, err := s.Storage.KeyRead(ctx, kid); err != nil {
		return nil
	}
	l := &auth.KeyLife{}
	s.lives[kid] = l
	return l
}

// KeyReplaceAll installs a refetched JWKS and ends the life of every key
// it drops or changes.
func (s *keyStore) KeyReplaceAll(ctx context.Context, given []jwkset.JWK) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.Storage.KeyReadAll(ctx)
	if err != nil {
		return fmt.Errorf("read keys: %w", err)
	}
	if err := s.Storage.KeyReplaceAll(ctx, given); err != nil {
		return fmt.Errorf("replace keys: %w", err)
	}
	for kid, l := range s.lives {
		if !sameKey(find(old, kid), find(given, kid)) {
			l.End()
			delete(s.lives, kid)
		}
	}
	return nil
}

// count is how many keys the store holds, for logs.
func (s *keyStore) count(ctx context.Context) int {
	keys, err := s.Storage.KeyReadAll(ctx)
	if err != nil {
		return 0
	}
	return len(keys)
}

func find(keys []jwkset.JWK, kid string) any {
	for _, k := range keys {
		if k.Marshal().KID == kid {
			return k.Key()
		}
	}
	return nil
}

// sameKey reports whether a and b are the same public key; two absent
// keys are not the same, so that a life taken for nothing ends too.
func sameKey(a, b any) bool {
	ka, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || b == nil {
		return false
	}
	return ka.Equal(b)
}

// errNoKeys: the issuer's keys have not been fetched yet (or ever).
var errNoKeys = errors.New("no keys of the issuer yet: its discovery document or JWKS could not be fetched")
