package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/payloadcodec"
	"github.com/sagaflow/sagaflow/tools/devauth"
)

// keyVariable names where each identity's component reads its private key.
func keyVariable(identity string) string {
	switch identity {
	case auth.IdentityAPI:
		return "API_SERVICE_KEY"
	case auth.IdentityAdmin:
		return auth.AdminKeyVariable
	}
	return "WORKER_SERVICE_KEYS"
}

// runKeys issues service keys. `keys new --identity NAME` prints a fresh key pair: the
// private JWK on the first line of stdout (the component's secret) and the public JWK on
// the second (for SERVICE_AUTH_TRUSTED_KEYS), so a script can read them apart; what to do
// with each goes to stderr. `keys local --identity NAME` prints the private key `make run`
// gave NAME, for a tool run by hand against it (SAGAFLOW_ADMIN_KEY of `sagaflow audit`).
func runKeys(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "payload" {
		return runPayloadKey(args[1:], stdout, stderr)
	}
	if len(args) == 0 || (args[0] != "new" && args[0] != "local") {
		return &usageError{"keys: `keys new --identity NAME`, `keys local --identity NAME` or `keys payload --id ID`"}
	}
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	identity := fs.String("identity", "", "whose key: "+strings.Join(auth.Identities(), ", "))
	state := fs.String("state", ".run", "the state folder of `make run` (keys local)")
	if err := fs.Parse(args[1:]); err != nil {
		return &usageError{err.Error()}
	}
	switch {
	case fs.NArg() > 0:
		return &usageError{fmt.Sprintf("keys %s: unexpected arguments %q", args[0], fs.Args())}
	case !slices.Contains(auth.Identities(), *identity):
		return &usageError{fmt.Sprintf("keys %s: --identity must be one of %s", args[0], strings.Join(auth.Identities(), ", "))}
	}
	if args[0] == "local" {
		keys, err := devauth.LoadServiceKeys(filepath.Join(*state, "auth"))
		if err != nil {
			return fmt.Errorf("the keys of make run: %w", err)
		}
		_, err = fmt.Fprintf(stdout, "%s\n", keys.Private[*identity])
		return err
	}
	key, err := auth.GenerateServiceKey(*identity, time.Now())
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "%s\n%s\n", key.Private, key.Public); err != nil {
		return err
	}
	// Guidance only: the keys are already written.
	_, _ = fmt.Fprintf(stderr, "new key %s\n"+
		"  line 1, private: the secret of the %s component only (%s); keep it in a secret store\n"+
		"  line 2, public: add it to SERVICE_AUTH_TRUSTED_KEYS of every service, then give out the private key (docs/security.md)\n",
		key.KeyID, *identity, keyVariable(*identity))
	return nil
}

// runPayloadKey prints a new payload encryption key as a TEMPORAL_PAYLOAD_KEYS entry.
func runPayloadKey(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys payload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	id := fs.String("id", "", "the key's id, e.g. the date it is introduced (2026-12)")
	if err := fs.Parse(args); err != nil {
		return &usageError{err.Error()}
	}
	if fs.NArg() > 0 || *id == "" {
		return &usageError{"keys payload: give --id ID and nothing else"}
	}
	entry, err := payloadcodec.GenerateKey(*id)
	if err != nil {
		return &usageError{"keys payload: " + err.Error()}
	}
	if _, err := fmt.Fprintln(stdout, entry); err != nil {
		return err
	}
	// Guidance only: the key is already written.
	_, _ = fmt.Fprintf(stderr, "new payload key %s: add the line to TEMPORAL_PAYLOAD_KEYS (comma-separated) of every component "+
		"that talks to Temporal and of the codec server, roll them, then set TEMPORAL_PAYLOAD_KEY_ID=%s everywhere (docs/security.md)\n", *id, *id)
	return nil
}
