package auth

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"
)

// TestSeenServiceTokens: a service token that verified is answered from memory until it
// expires, and nothing else is: not a refused token, not one past its exp.
func TestSeenServiceTokens(t *testing.T) {
	key, err := GenerateServiceKey(IdentitySagaWorker, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := PublicSet(key.Public)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := NewSigner(key.Private)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	signer.now = func() time.Time { return start }
	good, err := signer.Token("payment")
	if err != nil {
		t.Fatal(err)
	}
	forOrder, err := signer.Token("order")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		token    string
		at       time.Duration // when the verifier checks it, after start
		reason   string        // "" = accepted
		wantSeen int           // tokens remembered after the two checks
	}{
		{name: "valid, checked twice", token: good, at: time.Minute, wantSeen: 1},
		{name: "refused, checked twice", token: forOrder, at: time.Minute, reason: ReasonAudience, wantSeen: 0},
		{name: "past its exp and the skew", token: good, at: serviceTokenTTL + time.Minute, reason: ReasonExpired, wantSeen: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewServiceVerifier(trusted, "payment")
			if err != nil {
				t.Fatal(err)
			}
			v.now = func() time.Time { return start.Add(tc.at) }
			for range 2 {
				p, err := v.Verify(context.Background(), tc.token)
				if tc.reason == "" {
					if err != nil || p.Subject != IdentitySagaWorker || !p.Service {
						t.Fatalf("principal %+v, err %v", p, err)
					}
					continue
				}
				var te *TokenError
				if !errors.As(err, &te) || te.Reason != tc.reason {
					t.Fatalf("err = %v, want reason %q", err, tc.reason)
				}
			}
			if got := v.seen.len(); got != tc.wantSeen {
				t.Fatalf("%d tokens remembered, want %d", got, tc.wantSeen)
			}
		})
	}

	// A token remembered while valid is not answered from memory once it expired.
	v, err := NewServiceVerifier(trusted, "payment")
	if err != nil {
		t.Fatal(err)
	}
	now := start.Add(time.Minute)
	v.now = func() time.Time { return now }
	if _, err := v.Verify(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	now = start.Add(serviceTokenTTL + time.Minute)
	var te *TokenError
	if _, err := v.Verify(context.Background(), good); !errors.As(err, &te) || te.Reason != ReasonExpired {
		t.Fatalf("an expired token remembered while valid: err = %v, want reason %q", err, ReasonExpired)
	}
}

// TestSeenTokensBound: the memory never holds more than its bound.
func TestSeenTokensBound(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name    string
		expired int // tokens already past their exp when the cache fills
		want    int // tokens held after one more is added
	}{
		{name: "full of live tokens starts over", expired: 0, want: 1},
		{name: "full with some expired drops those", expired: 3, want: 8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSeenTokens(10)
			for i := range 10 {
				exp := now.Add(time.Minute)
				if i < tc.expired {
					exp = now.Add(-time.Second)
				}
				s.put("t"+strconv.Itoa(i), Principal{Subject: "x"}, exp, now)
			}
			s.put("one more", Principal{Subject: "x"}, now.Add(time.Minute), now)
			if got := s.len(); got != tc.want {
				t.Fatalf("%d tokens held, want %d", got, tc.want)
			}
			if _, ok := s.get("one more", now); !ok {
				t.Fatal("the newest token was not kept")
			}
		})
	}
}
