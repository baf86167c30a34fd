// Package auth mints and verifies gokv's bearer tokens: JWTs signed with
// HS256 and a shared secret (two during a rotation), whose optional scope
// and buckets claims become the Grant the API enforces. The server
// verifies with it and jwt-gen mints with it, so both always agree on
// what a valid token is. Tokens of trusted OIDC issuers (package oidc)
// pass through the same Verifier and cache.
package auth

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MinSecretLen is the shortest accepted secret in bytes: RFC 7518 §3.2
// requires an HS256 key of at least the hash size, 256 bits.
const MinSecretLen = 32

// Leeway is the clock skew tolerated when checking exp, nbf and iat.
const Leeway = 30 * time.Second

// ErrInvalidToken is wrapped by every verification failure, together with
// one of the reasons below; the wrapped detail is for logs, not for
// clients.
var ErrInvalidToken = errors.New("invalid token")

// Why a token was refused, for metrics and logs: every error of Verify
// wraps exactly one of them.
var (
	// ErrMalformed: not a JWT, or its header or claims do not decode
	// (a NumericDate that is not a number included).
	ErrMalformed = errors.New("malformed token")
	// ErrBadSignature: the signature does not verify with the secret, or
	// the token uses another algorithm than HS256 (none included).
	ErrBadSignature = errors.New("bad signature")
	// ErrExpired: exp has passed, leeway included.
	ErrExpired = errors.New("token expired")
	// ErrWrongAudience: JWT_AUDIENCE is set and not among the token's aud.
	ErrWrongAudience = errors.New("wrong audience")
	// ErrInvalidClaims: any other claim or header gokv refuses: no exp,
	// nbf or iat in the future, a wrong issuer, a lifetime over the
	// maximum, a crit header.
	ErrInvalidClaims = errors.New("invalid claims")
)

// ErrForbidden is for a valid token that does not allow the request: its
// scope or buckets do not reach it (Grant). Verify never returns it; the
// API does, and answers it with 403.
var ErrForbidden = errors.New("forbidden")

// CheckSecret rejects secrets too short to be an HS256 key. Its message
// reads after the name of the setting: "JWT_SECRET must not be empty".
func CheckSecret(secret []byte) error {
	if len(secret) == 0 {
		return errors.New("must not be empty")
	}
	if len(bytes.TrimSpace(secret)) == 0 {
		// A secret that is all spaces or newlines is a templating or
		// quoting mistake, not a key.
		return errors.New("must not be only whitespace")
	}
	if len(secret) < MinSecretLen {
		return fmt.Errorf("must be at least %d bytes, got %d", MinSecretLen, len(secret))
	}
	return nil
}

// KeyID names a secret in the kid header of the tokens it signs, so that
// a server that knows two secrets (during a rotation) tries the one that
// signed a token. It is the first 8 bytes of SHA-256 over a label and
// the secret, in hex. That tells nothing useful about a secret of at
// least MinSecretLen random bytes: finding the secret from it is a
// brute force of the whole secret, which each token's HMAC already
// allows an attacker to check guesses against. The label keeps it from
// being the HMAC key itself: HMAC hashes keys longer than 64 bytes with
// plain SHA-256 and uses the digest as the key.
func KeyID(secret []byte) string {
	h := sha256.New()
	h.Write([]byte("gokv jwt key id\x00"))
	h.Write(secret)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Claims are what a minted token says about its holder.
type Claims struct {
	Subject   string
	Issuer    string
	Audience  string
	ExpiresIn time.Duration
	// Scope, when not 0, restricts the token to these kinds of request;
	// 0 mints a token without a scope claim: read and write.
	Scope Scope
	// Buckets, when not nil, restricts the token to these buckets or
	// prefixes ending in '*' (CheckBucketPattern); nil mints a token
	// without a buckets claim: every bucket.
	Buckets []string
}

// mintedClaims are the claims of a minted token, as they are encoded.
type mintedClaims struct {
	jwt.RegisteredClaims
	Scope   string   `json:"scope,omitempty"`
	Buckets []string `json:"buckets,omitempty"`
}

// Mint returns a signed HS256 token that is valid from now for
// c.ExpiresIn.
func Mint(secret []byte, c Claims, now time.Time) (string, error) {
	if err := CheckSecret(secret); err != nil {
		return "", fmt.Errorf("secret %w", err)
	}
	if c.ExpiresIn <= 0 {
		return "", fmt.Errorf("expiry must be positive, got %s", c.ExpiresIn)
	}
	if c.Buckets != nil && len(c.Buckets) == 0 {
		return "", errors.New("buckets must name at least one bucket, or be nil for every bucket")
	}
	for _, p := range c.Buckets {
		if err := CheckBucketPattern(p); err != nil {
			return "", err
		}
	}
	claims := mintedClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   c.Subject,
			Issuer:    c.Issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(c.ExpiresIn)),
		},
		Scope:   c.Scope.String(),
		Buckets: c.Buckets,
	}
	if c.Audience != "" {
		claims.Audience = jwt.ClaimStrings{c.Audience}
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	t.Header["kid"] = KeyID(secret)
	token, err := t.SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return token, nil
}

// VerifierOptions narrow which tokens a Verifier accepts.
type VerifierOptions struct {
	// Issuer, when set, must equal the token's iss claim.
	Issuer string
	// Audience, when set, must be one of the token's aud claims.
	Audience string
	// CacheSize is how many verified tokens are remembered until they
	// expire, so that a client's next request with the same token skips
	// the parsing and HMAC; 0 verifies every time.
	CacheSize int
	// MaxLifetime, when positive, refuses tokens whose exp is more than
	// this after their iat, and tokens without iat.
	MaxLifetime time.Duration
	// Now is the clock; nil means time.Now. For tests.
	Now func() time.Time
	// PreviousSecret, when set, verifies tokens too but signs none: the
	// secret being rotated out, so that tokens it signed keep working
	// until they are reissued. It must differ from the current secret.
	PreviousSecret []byte
	// Issuers, when set, verifies every token whose header does not say
	// HS256: those of trusted OIDC issuers. HS256 tokens never reach it,
	// and it never sees one, so neither kind can pass for the other.
	Issuers IssuerVerifier
}

// IssuerVerifier verifies tokens signed by an issuer's public keys
// (package oidc). Its errors wrap ErrInvalidToken and a reason, as
// Verify's do, or ErrForbidden for a valid token whose subject no policy
// admits.
type IssuerVerifier interface {
	VerifyIssued(token string) (Verified, error)
}

// Verified is a token an IssuerVerifier accepted.
type Verified struct {
	Grant Grant
	// Expires is the first instant the token is refused: exp + Leeway.
	Expires time.Time
	// Key is the life of the key that verified the token; nil keeps the
	// token out of the cache.
	Key *KeyLife
}

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	// keys are the secrets by KeyID: the current one and, during a
	// rotation, the previous one. They are fixed for the Verifier's
	// life, which is what lets the cache keep a token until its exp.
	keys map[string][]byte
	// unnamed is what verifies a token without kid (minted before
	// tokens had one): the current secret, else the previous one.
	unnamed     any
	parser      *jwt.Parser
	maxLifetime time.Duration
	audience    string      // VerifierOptions.Audience, to classify refusals
	cache       *tokenCache // nil without a cache
	now         func() time.Time
	issuers     IssuerVerifier // nil without OIDC issuers
}

// NewVerifier returns a Verifier for tokens signed with secret, or with
// opts.PreviousSecret.
func NewVerifier(secret []byte, opts VerifierOptions) (*Verifier, error) {
	if err := CheckSecret(secret); err != nil {
		return nil, fmt.Errorf("secret %w", err)
	}
	keys := map[string][]byte{KeyID(secret): secret}
	var unnamed any = secret
	if opts.PreviousSecret != nil {
		if err := CheckSecret(opts.PreviousSecret); err != nil {
			return nil, fmt.Errorf("previous secret %w", err)
		}
		if bytes.Equal(opts.PreviousSecret, secret) {
			return nil, errors.New("previous secret is the current secret")
		}
		keys[KeyID(opts.PreviousSecret)] = opts.PreviousSecret
		unnamed = jwt.VerificationKeySet{Keys: []jwt.VerificationKey{secret, opts.PreviousSecret}}
	}
	parserOpts := []jwt.ParserOption{
		// Pinning the method is what stops "alg: none" and key-confusion
		// tricks; HS384/HS512 are refused too so there is one way in.
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
	}
	if opts.Issuer != "" {
		parserOpts = append(parserOpts, jwt.WithIssuer(opts.Issuer))
	}
	if opts.Audience != "" {
		parserOpts = append(parserOpts, jwt.WithAudience(opts.Audience))
	}
	v := &Verifier{keys: keys, unnamed: unnamed, now: opts.Now, maxLifetime: opts.MaxLifetime, audience: opts.Audience,
		issuers: opts.Issuers}
	if v.now == nil {
		v.now = time.Now
	}
	parserOpts = append(parserOpts, jwt.WithTimeFunc(v.now))
	v.parser = jwt.NewParser(parserOpts...)
	if opts.CacheSize > 0 {
		v.cache = newTokenCache(opts.CacheSize)
	}
	return v, nil
}

// Verify returns what token allows when it is a valid, unexpired HS256
// token signed with one of the Verifier's secrets, or a token that
// opts.Issuers accepts, and otherwise an error wrapping ErrInvalidToken
// and the reason (ErrMalformed, ErrBadSignature, ...), or ErrForbidden.
func (v *Verifier) Verify(token string) (Grant, error) {
	now := v.now()
	if v.cache != nil {
		if grant, ok := v.cache.valid(token, now); ok {
			return grant, nil
		}
	}
	if v.issuers != nil && headerAlg(token) != jwt.SigningMethodHS256.Alg() {
		issued, err := v.issuers.VerifyIssued(token)
		if err != nil {
			return Grant{}, err
		}
		if v.cache != nil && issued.Key != nil {
			v.cache.add(token, issued.Grant, issued.Expires, issued.Key)
		}
		return issued.Grant, nil
	}
	var claims claims
	parsed, err := v.parser.ParseWithClaims(token, &claims, v.key)
	if err != nil {
		return Grant{}, fmt.Errorf("%w: %w: %w", ErrInvalidToken, v.reason(err, claims), err)
	}
	if err := v.checkStrict(parsed.Header, claims); err != nil {
		return Grant{}, fmt.Errorf("%w: %w: %w", ErrInvalidToken, ErrInvalidClaims, err)
	}
	grant, err := claims.grant()
	if err != nil {
		return Grant{}, fmt.Errorf("%w: %w: %w", ErrInvalidToken, ErrInvalidClaims, err)
	}
	if v.cache != nil {
		// The parser refuses a token from exp + Leeway on; so does the
		// cache. WithExpirationRequired guarantees exp is there.
		v.cache.add(token, grant, claims.ExpiresAt.Add(Leeway), nil)
	}
	return grant, nil
}

// headerAlg is the alg a token's header claims, "" when the header does
// not decode. It only chooses which verifier a token goes to; each of
// them pins its own algorithms, so a lie here gets the token refused.
func headerAlg(token string) string {
	header, _, ok := strings.Cut(token, ".")
	if !ok {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		return ""
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(raw, &h) != nil {
		return ""
	}
	return h.Alg
}

// errUnknownKey is a kid that names neither secret: most likely a token
// signed with a secret this server no longer, or not yet, knows.
var errUnknownKey = errors.New("kid names no key of this server")

// key is the jwt.Keyfunc: the secret the token's kid names, or, for a
// token without kid, every secret in turn. The parser reports an error
// of it as an unverifiable token, which reason counts as a bad signature.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	kid, ok := t.Header["kid"]
	if !ok {
		return v.unnamed, nil
	}
	id, ok := kid.(string)
	if !ok {
		return nil, fmt.Errorf("%w: kid is not a string", errUnknownKey)
	}
	secret, ok := v.keys[id]
	if !ok {
		return nil, fmt.Errorf("%w: %.16q", errUnknownKey, id)
	}
	return secret, nil
}

// reason classifies an error of jwt/v5's parser for a token that says c.
func (v *Verifier) reason(err error, c claims) error {
	return Reason(err, v.audience, c.Audience)
}

// Reason classifies an error of jwt/v5's parser, for a parser that
// requires audience (none when "") and a token whose aud says got. The
// parser joins the failures of every check it made, so the first that
// applies, in the order of this switch, wins: a forged token that is also
// expired is counted as a bad signature.
func Reason(err error, audience string, got jwt.ClaimStrings) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ErrMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return ErrBadSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenInvalidAudience),
		// jwt/v5 reports a missing aud as a missing claim.
		audience != "" && len(got) == 0:
		return ErrWrongAudience
	default:
		return ErrInvalidClaims
	}
}

// checkStrict refuses what jwt/v5 lets through but gokv does not accept.
func (v *Verifier) checkStrict(header map[string]any, c claims) error {
	// RFC 7515 §4.1.11: a recipient must refuse a token whose crit names
	// an extension it does not understand, and gokv understands none.
	if crit, ok := header["crit"]; ok {
		return fmt.Errorf("crit header %v names extensions gokv does not understand", crit)
	}
	if v.maxLifetime <= 0 {
		return nil
	}
	if c.IssuedAt == nil {
		return errors.New("no iat claim, and a maximum lifetime is set")
	}
	// WithExpirationRequired guarantees exp; iat is at most Leeway in the
	// future (WithIssuedAt), so exp - iat also bounds what is left from now.
	if life := c.ExpiresAt.Sub(c.IssuedAt.Time); life > v.maxLifetime {
		return fmt.Errorf("lifetime %s (exp - iat) exceeds the maximum %s", life, v.maxLifetime)
	}
	return nil
}
