package httpserver

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzStrictJSON feeds arbitrary documents to the APIs' JSON decoder, as Huma uses it to
// validate a body: whatever it accepts is valid UTF-8 JSON without NUL characters or
// repeated member names, and what it refuses is explained without Go type names.
func FuzzStrictJSON(f *testing.F) {
	for _, seed := range []string{
		`{"customer_id":"c","lines":[{"sku":"A","quantity":1}]}`,
		`{"a":1,"A":2}`, `{"a":{"b":1,"b":2}}`, `[{"a":1},{"a":1}]`, `{"a":"\u0000"}`, "{\"a\":\"\xff\"}",
		`{"K":1,"\u212a":2}`, `{"s":1,"\u017f":2}`, `1e400`, `{"a":[1,2,{"a":3}],"b":null}`, `{} {}`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		err := unmarshalStrict(data, &v)
		if err != nil {
			for _, leak := range []string{"Go value", "Go struct", "json: "} {
				if strings.Contains(err.Error(), leak) {
					t.Fatalf("%q: error %q names Go internals", data, err)
				}
			}
			return
		}
		if !utf8.Valid(data) || !json.Valid(data) || bytes.Contains(data, []byte(`\u0000`)) {
			t.Fatalf("accepted %q: not valid UTF-8 JSON without NUL", data)
		}
		// Re-encoding what was accepted must be accepted again and decode to the same value.
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("accepted %q, re-encoding failed: %v", data, err)
		}
		var w any
		if err := unmarshalStrict(again, &w); err != nil {
			t.Fatalf("accepted %q but not its re-encoding %q: %v", data, again, err)
		}
		if round, _ := json.Marshal(w); !bytes.Equal(round, again) {
			t.Fatalf("%q decodes differently once re-encoded: %q vs %q", data, again, round)
		}
		// No object may hold two members that encoding/json would match to one field.
		if dup := foldedDuplicate(v); dup != "" {
			t.Fatalf("accepted %q with a repeated member %q", data, dup)
		}
	})
}

// foldedDuplicate returns a member name of v that another member of the same object
// matches case-insensitively (strings.EqualFold, as encoding/json matches names).
func foldedDuplicate(v any) string {
	switch x := v.(type) {
	case map[string]any:
		names := make([]string, 0, len(x))
		for k, child := range x {
			for _, other := range names {
				if strings.EqualFold(k, other) {
					return k
				}
			}
			names = append(names, k)
			if d := foldedDuplicate(child); d != "" {
				return d
			}
		}
	case []any:
		for _, child := range x {
			if d := foldedDuplicate(child); d != "" {
				return d
			}
		}
	}
	return ""
}
