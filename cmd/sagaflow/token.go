package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/sagaflow/sagaflow/tools/devauth"
)

// runToken prints an access token from the local development issuer, so the README's curl
// walk-through can send one. It signs with the key `make run` serves the keys of.
func runToken(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	customer := fs.String("customer", "", "a customer's token: subject = this customer id, scopes "+strings.Join(devauth.CustomerScopes, " "))
	operator := fs.String("operator", "", "an operator's token: subject = this operator, scopes "+strings.Join(devauth.OperatorScopes, " "))
	scopes := fs.String("scopes", "", "space-separated scopes instead of the kind's defaults")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	state := fs.String("state", ".run", "the state folder of `make run`")
	if err := fs.Parse(args); err != nil {
		return &usageError{err.Error()}
	}
	var subject string
	var granted []string
	switch {
	case fs.NArg() > 0:
		return &usageError{fmt.Sprintf("token: unexpected arguments %q", fs.Args())}
	case (*customer == "") == (*operator == ""):
		return &usageError{"token: give exactly one of --customer ID or --operator NAME"}
	case *customer != "":
		subject, granted = *customer, devauth.CustomerScopes
	default:
		subject, granted = *operator, devauth.OperatorScopes
	}
	if *scopes != "" {
		granted = strings.Fields(*scopes)
	}
	if *ttl <= 0 || *ttl > 24*time.Hour {
		return &usageError{"token: --ttl must be between 1s and 24h"}
	}
	issuer, err := devauth.LoadIssuer(filepath.Join(*state, devauth.StateSubdir), devauth.LocalIssuerURL, devauth.DefaultAudience)
	if err != nil {
		return fmt.Errorf("the development issuer's key: %w", err)
	}
	raw, err := issuer.Mint(devauth.Token{Subject: subject, Scopes: granted, TTL: *ttl})
	if err != nil {
		return err
	}
	if raw == "" {
		return errors.New("no token minted")
	}
	_, err = fmt.Fprintln(stdout, raw)
	return err
}
