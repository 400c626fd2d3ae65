package problem

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestCodesListsEveryCode: every Code constant is in Codes (which the documents declare),
// once, and fits TypePattern.
func TestCodesListsEveryCode(t *testing.T) {
	file, err := parser.ParseFile(token.NewFileSet(), "problem.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	ast.Inspect(file, func(n ast.Node) bool {
		spec, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range spec.Names {
			if strings.HasPrefix(name.Name, "Code") && i < len(spec.Values) {
				if lit, ok := spec.Values[i].(*ast.BasicLit); ok {
					v, _ := strconv.Unquote(lit.Value)
					declared = append(declared, v)
				}
			}
		}
		return true
	})
	listed := Codes()
	slices.Sort(declared)
	sorted := slices.Clone(listed)
	slices.Sort(sorted)
	if !slices.Equal(declared, sorted) {
		t.Errorf("Codes() = %v, constants %v", sorted, declared)
	}
	pattern := regexp.MustCompile(TypePattern)
	for _, c := range listed {
		if !pattern.MatchString(TypePrefix + c) {
			t.Errorf("code %q does not fit %s", c, TypePattern)
		}
	}
	for status := 400; status < 600; status++ {
		if http.StatusText(status) != "" && !slices.Contains(listed, CodeForStatus(status)) {
			t.Errorf("CodeForStatus(%d) = %q, not a listed code", status, CodeForStatus(status))
		}
	}
}
