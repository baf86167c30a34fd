// Package api holds the OpenAPI 3.1 document of gokv's HTTP API, the
// contract that the server, its clients and their tests share. It lives at
// the repository root, outside internal/, so that tools and other modules
// can read the spec from the same place the server serves it from.
package api

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
)

// Spec is the OpenAPI document, served as /_openapi.yaml.
//
//go:embed openapi.yaml
var Spec []byte

// Operation is one method on one path template of the spec.
type Operation struct {
	// Method is upper case, as in net/http: "GET", "HEAD".
	Method string
	// Path is the spec's template, like "/{bucket}/{key}".
	Path string
}

// methods are the keys of an OpenAPI path item that name operations; the
// others (parameters, summary, ...) apply to all of them.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Operations returns every operation the spec documents, sorted by path
// and then method, for comparing the spec with a router.
func Operations() ([]Operation, error) {
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(Spec, &doc); err != nil {
		return nil, fmt.Errorf("parse openapi.yaml: %w", err)
	}
	var ops []Operation
	for path, item := range doc.Paths {
		for name := range item {
			if slices.Contains(methods, name) {
				ops = append(ops, Operation{Method: strings.ToUpper(name), Path: path})
			}
		}
	}
	slices.SortFunc(ops, func(a, b Operation) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
	return ops, nil
}
