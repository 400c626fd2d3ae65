package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/payloadcodec"
	"github.com/sagaflow/sagaflow/tools/devauth"
)

// TestKeysNew issues a key for every identity the way an operator does and uses it the
// way the components do: the private key signs, a service trusting the public key accepts
// the caller as that identity, and nothing private is on the public line.
func TestKeysNew(t *testing.T) {
	seen := map[string]bool{}
	for _, identity := range auth.Identities() {
		t.Run(identity, func(t *testing.T) {
			var out, guide bytes.Buffer
			if err := runKeys([]string{"new", "--identity", identity}, &out, &guide); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if len(lines) != 2 {
				t.Fatalf("%d lines on stdout, want the private and the public key:\n%s", len(lines), out.String())
			}
			private, public := lines[0], lines[1]
			if strings.Contains(public, `"d"`) || !strings.Contains(private, `"d"`) {
				t.Fatalf("line 1 must be the private key and line 2 the public one:\n%s", out.String())
			}
			if seen[public] {
				t.Fatal("the same key was issued twice")
			}
			seen[public] = true

			signer, err := auth.NewSigner([]byte(private))
			if err != nil || signer.Identity() != identity {
				t.Fatalf("private key: identity %q, err %v", signer.Identity(), err)
			}
			trusted, err := auth.PublicSet([]byte(public))
			if err != nil {
				t.Fatal(err)
			}
			v, err := auth.NewServiceVerifier(trusted, "inventory")
			if err != nil {
				t.Fatal(err)
			}
			tok, err := signer.Token("inventory")
			if err != nil {
				t.Fatal(err)
			}
			if p, err := v.Verify(context.Background(), tok); err != nil || p.Subject != identity || !p.Service {
				t.Fatalf("the service saw %+v, %v; want %s", p, err, identity)
			}
			if !strings.Contains(guide.String(), keyVariable(identity)) || !strings.Contains(guide.String(), "SERVICE_AUTH_TRUSTED_KEYS") {
				t.Errorf("stderr does not say where each key goes:\n%s", guide.String())
			}
		})
	}
}

// TestKeysLocal prints the keys `make run` hands its components, from its state folder.
func TestKeysLocal(t *testing.T) {
	state := t.TempDir()
	keys, err := devauth.LoadServiceKeys(filepath.Join(state, "auth"))
	if err != nil {
		t.Fatal(err)
	}
	for _, identity := range auth.Identities() {
		var out bytes.Buffer
		if err := runKeys([]string{"local", "--identity", identity, "--state", state}, &out, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		if out.String() != string(keys.Private[identity])+"\n" {
			t.Errorf("%s: printed %q, want the key make run gives it", identity, out.String())
		}
	}
}

func TestKeysUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"rotate"},
		{"new"},
		{"new", "--identity", "root"},
		{"new", "--identity", "admin", "extra"},
		{"local"},
		{"local", "--identity", "root"},
	} {
		var out bytes.Buffer
		err := runKeys(args, &out, &bytes.Buffer{})
		var usage *usageError
		if !errors.As(err, &usage) || out.Len() != 0 {
			t.Errorf("keys %v: err = %v, stdout %q; want a usage error and no key", args, err, out.String())
		}
	}
}

// TestKeysPayload: the printed entry is a keyring the components accept, and encrypts.
func TestKeysPayload(t *testing.T) {
	var out bytes.Buffer
	if err := runKeys([]string{"payload", "--id", "2026-12"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	cfg := payloadcodec.Config{Keys: payloadcodec.Secret(strings.TrimSpace(out.String())), KeyID: "2026-12"}
	if err := cfg.Validate(); err != nil || !cfg.Enabled() {
		t.Fatalf("the printed key is not a usable keyring: %v", err)
	}
	var usage *usageError
	if err := runKeys([]string{"payload"}, &out, io.Discard); !errors.As(err, &usage) {
		t.Fatalf("keys payload without --id: %v, want a usage error", err)
	}
}
