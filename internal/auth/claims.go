package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// claims are the registered claims and gokv's own, decoded strictly.
// jwt/v5 reads a NumericDate through json.Number, which encoding/json
// also fills from a string such as "1800000000"; a token saying that is
// not what RFC 7519 describes, so it is refused rather than guessed at.
// The same holds for scope, which must be a string, and buckets, which
// must be an array of strings.
type claims struct {
	jwt.RegisteredClaims
	// Scope is the scope claim (RFC 8693 §4.2), nil when absent.
	Scope *string
	// Buckets is the buckets claim, nil when absent.
	Buckets []string
}

// UnmarshalJSON refuses exp, nbf and iat (RFC 7519 §2's NumericDates)
// that are not JSON numbers, a scope that is not a string and buckets
// that are not an array, null included, then decodes as jwt/v5 does.
// The first pass uses the same tags as jwt.RegisteredClaims, so it sees
// exactly the members the second pass will read (encoding/json matches
// names case-insensitively and keeps the last of duplicates).
func (c *claims) UnmarshalJSON(b []byte) error {
	var raw struct {
		Exp     json.RawMessage `json:"exp"`
		Nbf     json.RawMessage `json:"nbf"`
		Iat     json.RawMessage `json:"iat"`
		Scope   json.RawMessage `json:"scope"`
		Buckets json.RawMessage `json:"buckets"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for _, d := range []struct {
		name string
		raw  json.RawMessage
	}{{"exp", raw.Exp}, {"nbf", raw.Nbf}, {"iat", raw.Iat}} {
		if d.raw != nil && !isJSONNumber(d.raw) {
			return fmt.Errorf("%s is not a NumericDate (a JSON number): %.32s", d.name, d.raw)
		}
	}
	if raw.Scope != nil {
		if jsonKind(raw.Scope) != '"' {
			return fmt.Errorf("scope is not a string: %.32s", raw.Scope)
		}
		c.Scope = new(string)
		if err := json.Unmarshal(raw.Scope, c.Scope); err != nil {
			return fmt.Errorf("scope: %w", err)
		}
	}
	if raw.Buckets != nil {
		if jsonKind(raw.Buckets) != '[' {
			return fmt.Errorf("buckets is not an array: %.32s", raw.Buckets)
		}
		var buckets []json.RawMessage
		if err := json.Unmarshal(raw.Buckets, &buckets); err != nil {
			return fmt.Errorf("buckets: %w", err)
		}
		c.Buckets = make([]string, len(buckets))
		for i, r := range buckets {
			// A null element would otherwise decode as "".
			if jsonKind(r) != '"' {
				return fmt.Errorf("buckets[%d] is not a string: %.32s", i, r)
			}
			if err := json.Unmarshal(r, &c.Buckets[i]); err != nil {
				return fmt.Errorf("buckets[%d]: %w", i, err)
			}
		}
	}
	return json.Unmarshal(b, &c.RegisteredClaims)
}

// grant is what the claims allow. An unknown scope word, an empty scope
// or buckets list, or a bucket pattern that could match no bucket refuse
// the token: it was minted by something that meant more, or less, than
// gokv would read into it. A token without either claim keeps the
// meaning tokens had before scopes (defaultGrant) for what it omits.
func (c *claims) grant() (Grant, error) {
	g := defaultGrant(c.Subject)
	if c.Scope != nil {
		s, err := ParseScope(*c.Scope)
		if err != nil {
			return Grant{}, fmt.Errorf("scope claim: %w", err)
		}
		g.Scopes = s
	}
	if c.Buckets != nil {
		if len(c.Buckets) == 0 {
			return Grant{}, errors.New("buckets claim is empty: it would cover no bucket")
		}
		for _, p := range c.Buckets {
			if err := CheckBucketPattern(p); err != nil {
				return Grant{}, fmt.Errorf("buckets claim: %w", err)
			}
		}
		g.Buckets = c.Buckets
	}
	return g, nil
}

// isJSONNumber reports whether raw, a syntactically valid JSON value, is a
// number: only numbers start with a digit or a minus sign.
func isJSONNumber(raw json.RawMessage) bool {
	k := jsonKind(raw)
	return k == '-' || '0' <= k && k <= '9'
}

// jsonKind is the first byte of raw, a syntactically valid JSON value,
// which tells its type: '"' a string, '[' an array, 'n' null, ...
func jsonKind(raw json.RawMessage) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}
