// Package layout checks the import rules of docs/architecture.md on the real package graph,
// so a change that breaks them fails `make test` instead of waiting for a reviewer.
package layout

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/sagaflow/sagaflow"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// listPackages runs `go list` over the module; with tests, each package's test variants
// (and their dependencies) are listed too.
func listPackages(t *testing.T, withTests bool, patterns ...string) []pkg {
	t.Helper()
	args := []string{"list", "-deps", "-json=ImportPath,Imports,Deps"}
	if withTests {
		args = append(args, "-test")
	}
	cmd := exec.Command("go", append(args, patterns...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func inTree(path, tree string) bool {
	return strings.HasPrefix(path, module+"/"+tree+"/") || path == module+"/"+tree
}

// serviceOf names the service a package belongs to ("" outside services/).
func serviceOf(path string) string {
	rest, ok := strings.CutPrefix(path, module+"/services/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

func TestImportRules(t *testing.T) {
	pkgs := listPackages(t, false, "./../../...")
	rules := []struct {
		name    string
		applies func(from string) bool
		refused func(from, to string) bool
	}{
		{
			name:    "internal is platform only: it imports no test, tool, service, workflow or activity",
			applies: func(from string) bool { return inTree(from, "internal") },
			refused: func(_, to string) bool {
				return inTree(to, "test") || inTree(to, "tools") || inTree(to, "services") ||
					inTree(to, "workflows") || inTree(to, "activities") || inTree(to, "workers") || inTree(to, "api")
			},
		},
		{
			name:    "no product package imports a test harness",
			applies: func(from string) bool { return !inTree(from, "test") },
			refused: func(_, to string) bool { return inTree(to, "test") },
		},
		{
			name: "a service imports no other service and no saga code",
			applies: func(from string) bool {
				return serviceOf(from) != ""
			},
			refused: func(from, to string) bool {
				other := serviceOf(to)
				return (other != "" && other != serviceOf(from)) ||
					inTree(to, "workflows") || inTree(to, "activities") || inTree(to, "workers") || inTree(to, "api")
			},
		},
		{
			name:    "activities reach services only through their clients",
			applies: func(from string) bool { return inTree(from, "activities") },
			refused: func(_, to string) bool {
				return serviceOf(to) != "" && !strings.HasSuffix(to, "/client")
			},
		},
	}
	for _, rule := range rules {
		t.Run(rule.name, func(t *testing.T) {
			checked := 0
			for _, p := range pkgs {
				if !strings.HasPrefix(p.ImportPath, module) || !rule.applies(p.ImportPath) {
					continue
				}
				checked++
				for _, imp := range p.Imports {
					if rule.refused(p.ImportPath, imp) {
						t.Errorf("%s imports %s", p.ImportPath, imp)
					}
				}
			}
			if checked == 0 {
				t.Fatal("the rule matched no package: the tree changed under it")
			}
		})
	}
}

// A service's tests must not link the saga: the service's test binary would otherwise
// build (and break with) workflow code it has nothing to do with.
func TestServiceTestsDoNotLinkTheSaga(t *testing.T) {
	pkgs := listPackages(t, true, "./../../services/...")
	if len(pkgs) == 0 {
		t.Fatal("go list found no service package")
	}
	for _, p := range pkgs {
		for _, dep := range append([]string{p.ImportPath}, p.Deps...) {
			if inTree(dep, "workflows") || inTree(dep, "activities") || inTree(dep, "workers") {
				t.Errorf("%s links %s", p.ImportPath, dep)
			}
		}
	}
}
