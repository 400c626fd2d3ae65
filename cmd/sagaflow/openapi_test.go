package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCommittedOpenAPIMatchesCode fails when the committed documents drift from the code;
// `make openapi` regenerates them.
func TestCommittedOpenAPIMatchesCode(t *testing.T) {
	docs, err := Documents()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range docs {
		t.Run(name, func(t *testing.T) {
			got, err := os.ReadFile(filepath.Join("..", "..", "api", "openapi", name))
			if err != nil {
				t.Fatalf("%v (run `make openapi`)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("api/openapi/%s differs from the code: run `make openapi` and commit the result", name)
			}
		})
	}
}

// TestGeneratedClientMatchesDocument fails when the committed public client was not
// regenerated after the public document changed.
func TestGeneratedClientMatchesDocument(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(root, "api", "openapi", "oapi-codegen.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Same generator settings, written elsewhere.
	dir := t.TempDir()
	out := filepath.Join(dir, "client.gen.go")
	cfg = bytes.Replace(cfg, []byte("output: api/openapi/publicclient/client.gen.go"), []byte("output: "+out), 1)
	cfgPath := filepath.Join(dir, "oapi-codegen.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "tool", "oapi-codegen", "-config", cfgPath, "api/openapi/public-3.0.yaml")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("oapi-codegen: %v\n%s", err, msg)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "api", "openapi", "publicclient", "client.gen.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("api/openapi/publicclient/client.gen.go is stale: run `make openapi` and commit the result")
	}
}

// TestEveryDocumentIsLinted fails when `make lint-openapi` skips a committed document.
func TestEveryDocumentIsLinted(t *testing.T) {
	makefile, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for line := range strings.SplitSeq(string(makefile), "\n") {
		if rest, ok := strings.CutPrefix(line, "OPENAPI_DOCUMENTS :="); ok {
			listed = strings.Fields(rest)
		}
	}
	docs, err := Documents()
	if err != nil {
		t.Fatal(err)
	}
	for name := range docs {
		if !slices.Contains(listed, "api/openapi/"+name) {
			t.Errorf("api/openapi/%s is not in the Makefile's OPENAPI_DOCUMENTS, so make lint-openapi skips it", name)
		}
	}
}
