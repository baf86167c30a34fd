package auth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// numericDates are the claims RFC 7519 §2 defines as NumericDate: a JSON
// number of seconds.
var numericDates = []string{"exp", "nbf", "iat"}

// claims are the registered claims, decoded strictly. jwt/v5 reads a
// NumericDate through json.Number, which encoding/json also fills from a
// string such as "1800000000"; a token saying that is not what RFC 7519
// describes, so it is refused rather than guessed at.
type claims struct {
	jwt.RegisteredClaims
}

// UnmarshalJSON refuses exp, nbf and iat that are not JSON numbers (null
// included), under any spelling encoding/json would match to them (it
// matches field names case-insensitively), then decodes as jwt/v5 does.
func (c *claims) UnmarshalJSON(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	for name, raw := range fields {
		for _, date := range numericDates {
			if strings.EqualFold(name, date) && !isJSONNumber(raw) {
				return fmt.Errorf("%s is not a NumericDate (a JSON number): %.32s", name, raw)
			}
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
