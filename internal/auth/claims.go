package auth

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// claims are the registered claims, decoded strictly. jwt/v5 reads a
// NumericDate through json.Number, which encoding/json also fills from a
// string such as "1800000000"; a token saying that is not what RFC 7519
// describes, so it is refused rather than guessed at.
type claims struct {
	jwt.RegisteredClaims
}

// UnmarshalJSON refuses exp, nbf and iat (RFC 7519 §2's NumericDates)
// that are not JSON numbers, null included, then decodes as jwt/v5 does.
// The first pass uses the same tags as jwt.RegisteredClaims, so it sees
// exactly the members the second pass will read (encoding/json matches
// names case-insensitively and keeps the last of duplicates).
func (c *claims) UnmarshalJSON(b []byte) error {
	var dates struct {
		Exp json.RawMessage `json:"exp"`
		Nbf json.RawMessage `json:"nbf"`
		Iat json.RawMessage `json:"iat"`
	}
	if err := json.Unmarshal(b, &dates); err != nil {
		return err
	}
	for _, d := range []struct {
		name string
		raw  json.RawMessage
	}{{"exp", dates.Exp}, {"nbf", dates.Nbf}, {"iat", dates.Iat}} {
		if d.raw != nil && !isJSONNumber(d.raw) {
			return fmt.Errorf("%s is not a NumericDate (a JSON number): %.32s", d.name, d.raw)
		}
	}
	return json.Unmarshal(b, &c.RegisteredClaims)
}

// isJSONNumber reports whether raw, a syntactically valid JSON value, is a
// number: only numbers start with a digit or a minus sign.
func isJSONNumber(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && (raw[0] == '-' || '0' <= raw[0] && raw[0] <= '9')
}
