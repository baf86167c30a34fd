package oidc_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gokv-service/gokv/internal/auth"
	"github.com/gokv-service/gokv/internal/oidc"
)

func TestPolicyMatches(t *testing.T) {
	policy, err := oidc.ParsePolicy([]byte(`
policies:
  - subject: system:serviceaccount:team-a:admin
    scope: admin
  - subject: system:serviceaccount:team-a:*
    scope: read write
    buckets: ["team-*", cfg]
  - subject: system:serviceaccount:*:reader
    scope: read
    buckets: [shared]
  - subject: ci
    scope: read
`))
	if err != nil {
		t.Fatal(err)
	}
	rw := auth.ScopeRead | auth.ScopeWrite
	tests := []struct {
		subject string
		ok      bool
		scopes  auth.Scope
		buckets []string
	}{
		{"system:serviceaccount:team-a:admin", true, auth.ScopeAdmin, nil}, // first match wins over the glob below
		{"system:serviceaccount:team-a:writer", true, rw, []string{"team-*", "cfg"}},
		{"system:serviceaccount:team-b:reader", true, auth.ScopeRead, []string{"shared"}},
		{"system:serviceaccount:team-a:reader", true, rw, []string{"team-*", "cfg"}}, // team-a's glob comes first
		{"ci", true, auth.ScopeRead, nil},
		{"system:serviceaccount:team-a", false, 0, nil},         // '*' stands for a segment that is there
		{"system:serviceaccount:team-a:", false, 0, nil},        // ... and not empty
		{"system:serviceaccount:team-a:x:y", false, 0, nil},     // '*' never crosses a ':'
		{"system:serviceaccount:team-ab:writer", false, 0, nil}, // segments compare whole
		{"system:serviceaccount:team:writer", false, 0, nil},
		{"system:serviceaccount:team-b:writer", false, 0, nil},
		{"system:serviceaccounts:team-a:writer", false, 0, nil},
		{"ci:x", false, 0, nil},
		{"", false, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.subject, func(t *testing.T) {
			g, ok := policy.Grant(tt.subject)
			if ok != tt.ok {
				t.Fatalf("matched = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			if g.Subject != tt.subject || g.Scopes != tt.scopes || !slices.Equal(g.Buckets, tt.buckets) {
				t.Errorf("grant = %+v, want scopes %v buckets %v", g, tt.scopes, tt.buckets)
			}
		})
	}
}

// The bucket patterns of a policy mean what they mean in a token:
// "team-*" covers team-a and team-, not team; "*" alone covers all.
func TestPolicyBucketGlobs(t *testing.T) {
	policy, err := oidc.ParsePolicy([]byte("policies:\n  - {subject: a, scope: read, buckets: [\"team-*\"]}\n  - {subject: b, scope: read, buckets: [\"*\"]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		subject, bucket string
		want            bool
	}{
		{"a", "team-a", true},
		{"a", "team-", true},
		{"a", "team", false},
		{"a", "teams", false},
		{"b", "team", true},
		{"b", "anything", true},
	}
	for _, tt := range tests {
		g, ok := policy.Grant(tt.subject)
		if !ok {
			t.Fatalf("no grant for %s", tt.subject)
		}
		if got := g.CoversBucket(tt.bucket); got != tt.want {
			t.Errorf("%s covers %q = %v, want %v", tt.subject, tt.bucket, got, tt.want)
		}
	}
}

func TestPolicyRefused(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown field", "policies:\n  - {subject: a, scope: read, bucket: [x]}\n", "unknown field"},
		{"unknown top-level field", "policy:\n  - {subject: a, scope: read}\n", "unknown field"},
		{"unknown scope", "policies:\n  - {subject: a, scope: delete}\n", `unknown scope "delete"`},
		{"no scope", "policies:\n  - {subject: a}\n", "scope is empty"},
		{"no subject", "policies:\n  - {scope: read}\n", "subject is empty"},
		{"half glob in a subject", "policies:\n  - {subject: \"system:serviceaccount:team-*:x\", scope: read}\n", "whole ':'-separated segment"},
		{"star inside a bucket pattern", "policies:\n  - {subject: a, scope: read, buckets: [\"a*b\"]}\n", "may only end a pattern"},
		{"bad bucket", "policies:\n  - {subject: a, scope: read, buckets: [_admin]}\n", "bucket"},
		{"empty buckets", "policies:\n  - {subject: a, scope: read, buckets: []}\n", "buckets is empty"},
		{"no entries", "policies: []\n", "no entries"},
		{"not YAML", "policies: [\n", "policy:"},
		{"duplicate key", "policies:\n  - {subject: a, subject: b, scope: read}\n", "policy:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := oidc.ParsePolicy([]byte(tt.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadPolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte("policies:\n  - {subject: a, scope: read}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := oidc.LoadPolicy(path); err != nil {
		t.Fatal(err)
	}
	if _, err := oidc.LoadPolicy(path + ".missing"); err == nil {
		t.Error("a missing file was accepted")
	}
}
