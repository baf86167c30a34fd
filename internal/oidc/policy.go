package oidc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/gokv-service/gokv/internal/auth"
)

// Policy maps the identities of issued tokens (their sub claim) to what
// they may do. It is read once, at start; the first rule whose pattern
// matches a subject decides, and a subject no rule matches gets nothing.
type Policy struct {
	rules []rule
}

// rule is one entry of the policy file, checked.
type rule struct {
	subject []string // the pattern's ':'-separated segments
	scopes  auth.Scope
	buckets []string // nil: every bucket
}

// policyFile is the policy file's shape:
//
//	policies:
//	  - subject: system:serviceaccount:team-a:writer
//	    scope: read write
//	    buckets: [team-a, "team-a-*"]
type policyFile struct {
	Policies []struct {
		Subject string   `yaml:"subject"`
		Scope   string   `yaml:"scope"`
		Buckets []string `yaml:"buckets"`
	} `yaml:"policies"`
}

// LoadPolicy reads and checks the policy file at path. Its errors are one
// line, for the AUTH_POLICY_FILE message.
func LoadPolicy(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	return ParsePolicy(b)
}

// ParsePolicy reads and checks a policy file's contents. Unknown fields
// are errors, not ignored: "bucket:" for "buckets:" would otherwise grant
// every bucket.
func ParsePolicy(b []byte) (*Policy, error) {
	var f policyFile
	if err := yaml.NewDecoder(bytes.NewReader(b), yaml.Strict()).Decode(&f); err != nil {
		// goccy's messages show the source over several lines.
		return nil, fmt.Errorf("policy: %s", strings.Join(strings.Fields(err.Error()), " "))
	}
	if len(f.Policies) == 0 {
		return nil, errors.New("policy: no entries under policies: no issued token could do anything")
	}
	p := &Policy{rules: make([]rule, 0, len(f.Policies))}
	for i, e := range f.Policies {
		r, err := checkRule(e.Subject, e.Scope, e.Buckets)
		if err != nil {
			return nil, fmt.Errorf("policies[%d]: %w", i, err)
		}
		p.rules = append(p.rules, r)
	}
	return p, nil
}

func checkRule(subject, scope string, buckets []string) (rule, error) {
	if subject == "" {
		return rule{}, errors.New("subject is empty")
	}
	segs := strings.Split(subject, ":")
	for _, s := range segs {
		if strings.Contains(s, "*") && s != "*" {
			// Half-globs such as team-* are left out on purpose: a
			// namespace named team-a-admin would match team-a-*.
			return rule{}, fmt.Errorf("subject %q: '*' must be a whole ':'-separated segment", subject)
		}
	}
	if scope == "" {
		return rule{}, fmt.Errorf("subject %q: scope is empty (known: read, write, admin)", subject)
	}
	scopes, err := auth.ParseScope(scope)
	if err != nil {
		return rule{}, fmt.Errorf("subject %q: %w", subject, err)
	}
	if buckets != nil && len(buckets) == 0 {
		return rule{}, fmt.Errorf("subject %q: buckets is empty; leave it out for every bucket", subject)
	}
	for _, b := range buckets {
		if err := auth.CheckBucketPattern(b); err != nil {
			return rule{}, fmt.Errorf("subject %q: %w", subject, err)
		}
	}
	return rule{subject: segs, scopes: scopes, buckets: buckets}, nil
}

// Grant is what the first rule matching subject allows; false when none
// matches.
func (p *Policy) Grant(subject string) (auth.Grant, bool) {
	for _, r := range p.rules {
		if r.matches(subject) {
			return auth.Grant{Subject: subject, Scopes: r.scopes, Buckets: r.buckets}, true
		}
	}
	return auth.Grant{}, false
}

// matches compares segment by segment: '*' stands for one whole,
// non-empty segment and never crosses a ':', so that
// system:serviceaccount:team-a:* covers team-a's service accounts and
// nothing of a namespace team-a:x or of another kind of subject.
func (r rule) matches(subject string) bool {
	segs := strings.Split(subject, ":")
	if len(segs) != len(r.subject) {
		return false
	}
	for i, p := range r.subject {
		if p == "*" {
			if segs[i] == "" {
				return false
			}
		} else if p != segs[i] {
			return false
		}
	}
	return true
}
