package api_test

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/gokv-service/gokv/api"
)

// decode parses the spec into plain maps and slices, as a generic OpenAPI
// tool would see it.
func decode(t testing.TB) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(api.Spec, &doc); err != nil {
		t.Fatalf("openapi.yaml does not parse: %v", err)
	}
	return doc
}

// operations returns every operation object of doc with its path item,
// keyed by "METHOD path".
func operations(t testing.TB, doc map[string]any) map[string]struct{ item, op map[string]any } {
	t.Helper()
	ops := make(map[string]struct{ item, op map[string]any })
	for path, item := range asMap(t, doc["paths"], "paths") {
		item := asMap(t, item, path)
		for method, op := range item {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				ops[strings.ToUpper(method)+" "+path] = struct{ item, op map[string]any }{item, asMap(t, op, method+" "+path)}
			}
		}
	}
	return ops
}

func asMap(t testing.TB, v any, where string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: want a mapping, got %T", where, v)
	}
	return m
}

func TestSpecIsOpenAPI31(t *testing.T) {
	doc := decode(t)
	if v, _ := doc["openapi"].(string); !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(v) {
		t.Errorf("openapi: %q, want 3.1.x", doc["openapi"])
	}
	info := asMap(t, doc["info"], "info")
	for _, field := range []string{"title", "version"} {
		if s, _ := info[field].(string); s == "" {
			t.Errorf("info.%s is missing (it must be a string)", field)
		}
	}
}

func TestEveryOperationHasAResponse(t *testing.T) {
	doc := decode(t)
	for name, o := range operations(t, doc) {
		responses, _ := o.op["responses"].(map[string]any)
		if len(responses) == 0 {
			t.Errorf("%s documents no response", name)
		}
		for code := range responses {
			if n, err := strconv.Atoi(code); err != nil || n < 100 || n > 599 {
				t.Errorf("%s: response %q is not a status code", name, code)
			}
		}
	}
}

func TestPathParametersAreDeclared(t *testing.T) {
	doc := decode(t)
	templateParam := regexp.MustCompile(`\{([^}]+)\}`)
	for name, o := range operations(t, doc) {
		path := name[strings.Index(name, " ")+1:]
		var inTemplate []string
		for _, m := range templateParam.FindAllStringSubmatch(path, -1) {
			inTemplate = append(inTemplate, m[1])
		}
		// Parameters of the path item apply to each of its operations.
		declared := make(map[string]bool)
		for _, list := range []any{o.item["parameters"], o.op["parameters"]} {
			params, _ := list.([]any)
			for i, p := range params {
				p := asMap(t, resolve(t, doc, p), name+" parameter "+strconv.Itoa(i))
				if p["in"] != "path" {
					continue
				}
				pname, _ := p["name"].(string)
				if p["required"] != true {
					t.Errorf("%s: path parameter %q is not required: true", name, pname)
				}
				if !slices.Contains(inTemplate, pname) {
					t.Errorf("%s: path parameter %q is not in the template", name, pname)
				}
				declared[pname] = true
			}
		}
		for _, p := range inTemplate {
			if !declared[p] {
				t.Errorf("%s: {%s} is not declared as a path parameter", name, p)
			}
		}
	}
}

func TestEveryRefResolves(t *testing.T) {
	doc := decode(t)
	var refs int
	var walk func(v any, where string)
	walk = func(v any, where string) {
		switch v := v.(type) {
		case map[string]any:
			for k, child := range v {
				if k == "$ref" {
					refs++
					ref, _ := child.(string)
					if _, err := lookup(doc, ref); err != "" {
						t.Errorf("%s: $ref %q: %s", where, ref, err)
					}
					continue
				}
				walk(child, where+"/"+k)
			}
		case []any:
			for i, child := range v {
				walk(child, where+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(doc, "#")
	if refs == 0 {
		t.Error("found no $ref at all; is the walk broken?")
	}
}

// resolve follows v's $ref, if it has one.
func resolve(t testing.TB, doc map[string]any, v any) any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	ref, ok := m["$ref"].(string)
	if !ok {
		return v
	}
	target, err := lookup(doc, ref)
	if err != "" {
		t.Fatalf("$ref %q: %s", ref, err)
	}
	return target
}

// lookup finds a local reference, a JSON pointer in this document (RFC
// 6901); the spec refers to no other document.
func lookup(doc map[string]any, ref string) (any, string) {
	pointer, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, "not a reference within this document"
	}
	var v any = doc
	for _, token := range strings.Split(pointer, "/") {
		token = strings.NewReplacer("~1", "/", "~0", "~").Replace(token)
		m, ok := v.(map[string]any)
		if !ok {
			return nil, "goes through a non-mapping at " + strconv.Quote(token)
		}
		if v, ok = m[token]; !ok {
			return nil, "no " + strconv.Quote(token)
		}
	}
	return v, ""
}
