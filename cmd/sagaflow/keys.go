package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/sagaflow/sagaflow/internal/auth"
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
// with each goes to stderr.
func runKeys(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "new" {
		return &usageError{"keys: the one command is `keys new --identity NAME`"}
	}
	fs := flag.NewFlagSet("keys new", flag.ContinueOnError)
	fs.SetOutput(stderr)
	identity := fs.String("identity", "", "whose key: "+strings.Join(auth.Identities(), ", "))
	if err := fs.Parse(args[1:]); err != nil {
		return &usageError{err.Error()}
	}
	switch {
	case fs.NArg() > 0:
		return &usageError{fmt.Sprintf("keys new: unexpected arguments %q", fs.Args())}
	case !slices.Contains(auth.Identities(), *identity):
		return &usageError{fmt.Sprintf("keys new: --identity must be one of %s", strings.Join(auth.Identities(), ", "))}
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
