package auth

import (
	"context"
	"testing"
	"time"
)

// BenchmarkServiceVerify measures what every service call pays to check its caller's
// token: the full check (signature, claims) the first time a token is seen, and the
// lookup of a token seen before, which is what a caller reusing its token for minutes gets.
func BenchmarkServiceVerify(b *testing.B) {
	key, err := GenerateServiceKey(IdentitySagaWorker, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	trusted, err := PublicSet(key.Public)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := NewSigner(key.Private)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := signer.Token("payment")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		seen bool
	}{
		{"full check", false},
		{"seen token", true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			v, err := NewServiceVerifier(trusted, "payment")
			if err != nil {
				b.Fatal(err)
			}
			if !bc.seen {
				v.seen = nil
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
