package auth

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestParseScope(t *testing.T) {
	tests := []struct {
		in      string
		want    Scope
		wantErr bool
	}{
		{"read", ScopeRead, false},
		{"write", ScopeWrite, false},
		{"admin", ScopeAdmin, false},
		{"read write", ScopeRead | ScopeWrite, false},
		{"  write\tread  ", ScopeRead | ScopeWrite, false},
		{"read read", ScopeRead, false},
		{"admin read write", ScopeRead | ScopeWrite | ScopeAdmin, false},
		{"", 0, true},
		{"   ", 0, true},
		{"READ", 0, true},
		{"read,write", 0, true},
		{"read delete", 0, true},
		{"*", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseScope(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseScope(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err == nil {
				// What String writes, ParseScope reads back.
				if again, err := ParseScope(got.String()); err != nil || again != got {
					t.Fatalf("ParseScope(%q) = %v, %v", got.String(), again, err)
				}
			}
		})
	}
}

func TestCheckBucketPattern(t *testing.T) {
	tests := []struct {
		p  string
		ok bool
	}{
		{"cfg", true},
		{"team-a", true},
		{"team-*", true},
		{"t*", true},
		{"*", true},
		{"a.b_c-D9*", true},
		{strings.Repeat("b", 128), true},
		{strings.Repeat("b", 127) + "*", true},
		{"", false},
		{"**", false},
		{"*team", false},
		{"te*am", false},
		{"team-*-x", false},
		{"_admin", false},
		{"_*", false},
		{"a/b", false},
		{"a b*", false},
		{".", false},
		{"..", false},
		{strings.Repeat("b", 129), false},
		{strings.Repeat("b", 128) + "*", false},
	}
	for _, tt := range tests {
		t.Run(tt.p, func(t *testing.T) {
			if err := CheckBucketPattern(tt.p); (err == nil) != tt.ok {
				t.Fatalf("CheckBucketPattern(%q) = %v, want ok=%v", tt.p, err, tt.ok)
			}
		})
	}
}

// TestGrantAllows walks every scope a token may hold against every kind
// of request, and bucket patterns against the names they must and must
// not cover.
func TestGrantAllows(t *testing.T) {
	all := []Scope{ScopeRead, ScopeWrite, ScopeAdmin}
	for held := Scope(0); held <= ScopeRead|ScopeWrite|ScopeAdmin; held++ {
		g := Grant{Scopes: held}
		for _, need := range all {
			if got, want := g.Has(need), held&need != 0; got != want {
				t.Errorf("Grant{Scopes: %q}.Has(%q) = %v, want %v", held, need, got, want)
			}
		}
	}
	if !defaultGrant("").Has(ScopeRead|ScopeWrite) || defaultGrant("").Has(ScopeAdmin) {
		t.Errorf("the default grant is %q, want read and write without admin", defaultGrant("").Scopes)
	}

	buckets := []struct {
		patterns []string
		bucket   string
		covered  bool
	}{
		{nil, "anything", true},
		{[]string{"*"}, "anything", true},
		{[]string{"cfg"}, "cfg", true},
		{[]string{"cfg"}, "cfg2", false},
		{[]string{"cfg"}, "cf", false},
		{[]string{"cfg"}, "CFG", false},
		{[]string{"team-*"}, "team-a", true},
		{[]string{"team-*"}, "team-", true},
		{[]string{"team-*"}, "team", false},
		{[]string{"team-*"}, "teams", false},
		{[]string{"team-*"}, "x-team-a", false},
		{[]string{"team*"}, "team", true},
		{[]string{"team*"}, "teams", true},
		{[]string{"cfg", "team-*"}, "team-b", true},
		{[]string{"cfg", "team-*"}, "cfg", true},
		{[]string{"cfg", "team-*"}, "other", false},
	}
	for _, tt := range buckets {
		g := Grant{Scopes: ScopeRead, Buckets: tt.patterns}
		if got := g.CoversBucket(tt.bucket); got != tt.covered {
			t.Errorf("Grant{Buckets: %q}.CoversBucket(%q) = %v, want %v", tt.patterns, tt.bucket, got, tt.covered)
		}
	}
}

// TestVerifyGrant checks what Verify reads from the scope and buckets
// claims, and that it refuses, rather than guesses at, claims it cannot
// read exactly.
func TestVerifyGrant(t *testing.T) {
	exp := time.Now().Add(time.Hour).Unix()
	with := func(kv ...any) string {
		c := jwt.MapClaims{"exp": exp, "sub": "s"}
		for i := 0; i < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
		return sign(t, jwt.SigningMethodHS256, testSecret, c)
	}
	tests := []struct {
		name    string
		token   string
		want    Grant
		wantErr error
	}{
		{"no scope claims", with(), Grant{Subject: "s", Scopes: ScopeRead | ScopeWrite}, nil},
		{"read", with("scope", "read"), Grant{Subject: "s", Scopes: ScopeRead}, nil},
		{"admin only", with("scope", "admin"), Grant{Subject: "s", Scopes: ScopeAdmin}, nil},
		{"read write admin", with("scope", "read write admin"), Grant{Subject: "s", Scopes: ScopeRead | ScopeWrite | ScopeAdmin}, nil},
		{"buckets without scope", with("buckets", []string{"cfg", "team-*"}),
			Grant{Subject: "s", Scopes: ScopeRead | ScopeWrite, Buckets: []string{"cfg", "team-*"}}, nil},
		{"scope and buckets", with("scope", "read", "buckets", []string{"*"}),
			Grant{Subject: "s", Scopes: ScopeRead, Buckets: []string{"*"}}, nil},
		{"minted", mustMint(t, Claims{Subject: "m", ExpiresIn: time.Hour, Scope: ScopeWrite, Buckets: []string{"b"}}),
			Grant{Subject: "m", Scopes: ScopeWrite, Buckets: []string{"b"}}, nil},

		{"unknown scope word", with("scope", "read delete"), Grant{}, ErrInvalidClaims},
		{"comma-separated scope", with("scope", "read,write"), Grant{}, ErrInvalidClaims},
		{"empty scope", with("scope", ""), Grant{}, ErrInvalidClaims},
		{"empty buckets", with("buckets", []string{}), Grant{}, ErrInvalidClaims},
		{"bucket glob in the middle", with("buckets", []string{"a*b"}), Grant{}, ErrInvalidClaims},
		{"reserved bucket", with("buckets", []string{"_admin"}), Grant{}, ErrInvalidClaims},
		{"empty bucket name", with("buckets", []string{""}), Grant{}, ErrInvalidClaims},
		{"scope an array", with("scope", []string{"read"}), Grant{}, ErrMalformed},
		{"scope a number", with("scope", 1), Grant{}, ErrMalformed},
		{"scope null", with("scope", nil), Grant{}, ErrMalformed},
		{"SCOPE in capitals a number", with("SCOPE", 1), Grant{}, ErrMalformed},
		{"buckets a string", with("buckets", "cfg"), Grant{}, ErrMalformed},
		{"buckets null", with("buckets", nil), Grant{}, ErrMalformed},
		{"buckets holding a number", with("buckets", []any{"cfg", 1}), Grant{}, ErrMalformed},
		{"buckets holding null", with("buckets", []any{"cfg", nil}), Grant{}, ErrMalformed},
		{"buckets an object", with("buckets", map[string]any{"cfg": true}), Grant{}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, size := range []int{0, 8} {
				v, err := NewVerifier(testSecret, VerifierOptions{CacheSize: size})
				if err != nil {
					t.Fatal(err)
				}
				for range 2 { // the second call may be answered by the cache
					got, err := v.Verify(tt.token)
					if tt.wantErr != nil {
						if !errors.Is(err, ErrInvalidToken) || !errors.Is(err, tt.wantErr) {
							t.Fatalf("Verify (cache %d) = %+v, %v; want %v", size, got, err, tt.wantErr)
						}
						continue
					}
					if err != nil || !reflect.DeepEqual(got, tt.want) {
						t.Fatalf("Verify (cache %d) = %+v, %v; want %+v", size, got, err, tt.want)
					}
				}
			}
		})
	}
}

// TestRotation checks which secret verifies which token while a secret
// is rotated: the kid header picks the secret, a token without one
// (minted before tokens had it) is tried against both.
func TestRotation(t *testing.T) {
	oldSecret := []byte("old-secret-old-secret-old-secret-0")
	newSecret := []byte("new-secret-new-secret-new-secret-1")
	exp := jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()}
	mint := func(secret []byte) string {
		t.Helper()
		token, err := Mint(secret, Claims{ExpiresIn: time.Hour}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	withKid := func(secret []byte, kid any) string {
		t.Helper()
		token := jwt.NewWithClaims(jwt.SigningMethodHS256, exp)
		token.Header["kid"] = kid
		s, err := token.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	noKid := func(secret []byte) string { return sign(t, jwt.SigningMethodHS256, secret, exp) }

	only := VerifierOptions{}
	rotating := VerifierOptions{PreviousSecret: oldSecret}
	tests := []struct {
		name  string
		opts  VerifierOptions // with newSecret as the current secret
		token string
		want  error
	}{
		{"new token, new secret only", only, mint(newSecret), nil},
		{"old token, new secret only", only, mint(oldSecret), ErrBadSignature},
		{"new token while rotating", rotating, mint(newSecret), nil},
		{"old token while rotating", rotating, mint(oldSecret), nil},
		{"old token without kid while rotating", rotating, noKid(oldSecret), nil},
		{"new token without kid while rotating", rotating, noKid(newSecret), nil},
		{"old token without kid, new secret only", only, noKid(oldSecret), ErrBadSignature},
		{"third secret while rotating", rotating, mint([]byte("third-secret-third-secret-third-2")), ErrBadSignature},
		{"third secret without kid while rotating", rotating, noKid([]byte("third-secret-third-secret-third-2")), ErrBadSignature},
		// The kid picks the secret; the other is not tried.
		{"old kid, signed with the new secret", rotating, withKid(newSecret, KeyID(oldSecret)), ErrBadSignature},
		{"new kid, signed with the old secret", rotating, withKid(oldSecret, KeyID(newSecret)), ErrBadSignature},
		{"unknown kid, signed with the new secret", rotating, withKid(newSecret, "0011223344556677"), ErrBadSignature},
		{"empty kid", rotating, withKid(newSecret, ""), ErrBadSignature},
		{"kid a number", rotating, withKid(newSecret, 7), ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, size := range []int{0, 8} {
				opts := tt.opts
				opts.CacheSize = size
				v, err := NewVerifier(newSecret, opts)
				if err != nil {
					t.Fatal(err)
				}
				for range 2 {
					_, err := v.Verify(tt.token)
					if tt.want == nil && err != nil {
						t.Fatalf("Verify (cache %d): %v, want success", size, err)
					}
					if tt.want != nil && (!errors.Is(err, ErrInvalidToken) || !errors.Is(err, tt.want)) {
						t.Fatalf("Verify (cache %d): err = %v, want %v", size, err, tt.want)
					}
				}
			}
		})
	}
}

func TestKeyID(t *testing.T) {
	a, b := KeyID(testSecret), KeyID([]byte("another-secret-of-at-least-32-bytes!"))
	if len(a) != 16 || strings.Trim(a, "0123456789abcdef") != "" {
		t.Errorf("KeyID = %q, want 16 hex digits", a)
	}
	if a == b {
		t.Errorf("two secrets share the key id %q", a)
	}
	if a != KeyID(testSecret) {
		t.Error("KeyID is not deterministic")
	}
	if strings.Contains(string(testSecret), a) {
		t.Error("KeyID holds the secret")
	}
}

func TestNewVerifierRejectsPreviousSecret(t *testing.T) {
	for name, prev := range map[string][]byte{
		"short":           []byte("short"),
		"empty":           {},
		"whitespace":      []byte(strings.Repeat(" ", 40)),
		"the same secret": append([]byte(nil), testSecret...),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewVerifier(testSecret, VerifierOptions{PreviousSecret: prev}); err == nil {
				t.Fatalf("NewVerifier accepted previous secret %q", prev)
			}
		})
	}
}
