package auth

import (
	"sync"
	"time"
)

// seenTokens remembers service tokens that passed every check, by their exact text, until
// they expire. A caller reuses one token for minutes (serviceTokenTTL) across thousands of
// calls, and the full check costs a signature verification and a JSON parse each time; the
// same bytes can only carry the same signature, so the answer cannot change before exp.
// Only tokens that verified are kept, so the bound is a safety net, not a defence: holding
// maxSeen tokens takes as many valid tokens from trusted keys.
type seenTokens struct {
	mu      sync.RWMutex
	byToken map[string]seenToken
	max     int
}

type seenToken struct {
	principal Principal
	exp       time.Time
}

// maxSeenTokens bounds the cache: a few tokens per calling identity and audience every
// few minutes, times the callers' instances, is far below it.
const maxSeenTokens = 4096

func newSeenTokens(limit int) *seenTokens {
	return &seenTokens{byToken: map[string]seenToken{}, max: limit}
}

// get returns the principal of raw if it verified before and has not expired at now.
func (s *seenTokens) get(raw string, now time.Time) (Principal, bool) {
	s.mu.RLock()
	t, ok := s.byToken[raw]
	s.mu.RUnlock()
	if !ok || !now.Before(t.exp) {
		return Principal{}, false
	}
	return t.principal, true
}

// put remembers raw until exp. A full cache drops its expired tokens, and if none had
// expired, everything: the next calls pay a full check once each.
func (s *seenTokens) put(raw string, p Principal, exp, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byToken) >= s.max {
		for k, t := range s.byToken {
			if !now.Before(t.exp) {
				delete(s.byToken, k)
			}
		}
		if len(s.byToken) >= s.max {
			clear(s.byToken)
		}
	}
	s.byToken[raw] = seenToken{principal: p, exp: exp}
}

func (s *seenTokens) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byToken)
}
