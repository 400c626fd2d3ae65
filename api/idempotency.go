package api

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sagaflow/sagaflow/internal/requestid"
)

// orderIDPrefix starts every order id the API derives.
const orderIDPrefix = "ord_"

// orderIDEncoding is lowercase base32 without padding: ids stay short, case-insensitive
// and safe in paths, workflow ids and Redis keys.
var orderIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// OrderIDForKey derives the order id from the caller's token subject and Idempotency-Key
// (subject "" while authentication is off). The mapping is fixed, so the saga's workflow
// id, and the Redis record keyed by it, are fixed per subject and key: Temporal refuses a
// second saga for the same key even when the Redis record is gone, and two subjects using
// the same key get two orders, neither replaying nor blocking the other's.
func OrderIDForKey(subject, key string) string {
	// Keys and subjects hold no NUL, so the separators keep every pair apart; ids of
	// unauthenticated requests stay what they always were.
	input := "sagaflow/place-order\x00" + key
	if subject != "" {
		input = "sagaflow/place-order/subject\x00" + subject + "\x00" + key
	}
	sum := sha256.Sum256([]byte(input))
	// 15 bytes = 120 bits: collisions are out of reach, and they encode to 24 characters.
	return orderIDPrefix + orderIDEncoding.EncodeToString(sum[:15])
}

// validIdempotencyKey checks what the header schema also states: 1..255 printable ASCII
// characters without spaces, so a key can never forge log fields or headers.
func validIdempotencyKey(key string) bool {
	if key == "" || len(key) > maxIdempotencyKey {
		return false
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

const maxIdempotencyKey = 255

// fingerprint identifies a request's content: a repeated key must come with the same one.
func fingerprint(operation string, body any) (string, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return "", fmt.Errorf("fingerprint: %w", err)
	}
	h := sha256.New()
	h.Write([]byte(operation))
	h.Write([]byte{0})
	h.Write(raw)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Record states.
const (
	stateInFlight = "in_flight"
	stateDone     = "done"
)

// idemRecord is what Redis keeps per key: the request's fingerprint and, once done, the
// answer to replay.
type idemRecord struct {
	State       string          `json:"state"`
	Fingerprint string          `json:"fingerprint"`
	Token       string          `json:"token,omitempty"`
	Status      int             `json:"status,omitempty"`
	Body        json.RawMessage `json:"body,omitempty"`
	Location    string          `json:"location,omitempty"`
}

// idemStore is the Redis fast path of the public idempotency: it answers repeats without
// touching Temporal and spots concurrent repeats. Temporal's workflow-id uniqueness stays
// the guarantee when Redis forgets.
type idemStore struct {
	rdb     redis.UniversalClient
	gate    *redisGate
	prefix  string
	ttl     time.Duration
	lockTTL time.Duration
}

// errRedisDown says the fast path is unusable; callers fall back to Temporal.
var errRedisDown = errors.New("redis unavailable")

func (s *idemStore) key(operation, id string) string {
	return s.prefix + "idempotency:" + operation + ":" + id
}

// begin claims the key for a new request. It returns (nil, token, nil) when this request
// owns the key now, or the existing record when another request got there first.
func (s *idemStore) begin(ctx context.Context, key, fp string) (*idemRecord, string, error) {
	if s.rdb == nil || !s.gate.available() {
		return nil, "", errRedisDown
	}
	token := requestid.New()
	claim, err := json.Marshal(idemRecord{State: stateInFlight, Fingerprint: fp, Token: token})
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, redisCallTimeout)
	defer cancel()
	// The record may expire between SET NX and GET; a second round settles it.
	for range 2 {
		ok, err := s.rdb.SetNX(ctx, key, claim, s.lockTTL).Result()
		if err != nil {
			s.gate.failed(err)
			return nil, "", fmt.Errorf("%w: %w", errRedisDown, err)
		}
		s.gate.ok()
		if ok {
			return nil, token, nil
		}
		raw, err := s.rdb.Get(ctx, key).Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			s.gate.failed(err)
			return nil, "", fmt.Errorf("%w: %w", errRedisDown, err)
		}
		var rec idemRecord
		if err := json.Unmarshal(raw, &rec); err != nil {
			// A record we cannot read is worthless; Temporal still guards the key.
			s.rdb.Del(ctx, key)
			continue
		}
		return &rec, "", nil
	}
	return nil, "", fmt.Errorf("%w: key kept changing", errRedisDown)
}

// complete stores the final answer for replays.
func (s *idemStore) complete(ctx context.Context, key string, rec idemRecord) error {
	if s.rdb == nil || !s.gate.available() {
		return errRedisDown
	}
	rec.State = stateDone
	rec.Token = ""
	raw, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, redisCallTimeout)
	defer cancel()
	if err := s.rdb.Set(ctx, key, raw, s.ttl).Err(); err != nil {
		s.gate.failed(err)
		return fmt.Errorf("%w: %w", errRedisDown, err)
	}
	s.gate.ok()
	return nil
}

// releaseScript deletes the in-flight claim only when it is still ours, so a slow request
// cannot remove a record another request wrote after our claim expired.
var releaseScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and string.find(v, ARGV[1], 1, true) then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// release gives the key up after a failure the client may retry.
func (s *idemStore) release(ctx context.Context, key, token string) error {
	if s.rdb == nil || token == "" {
		return nil
	}
	// The request's context may be gone already; the claim must still be dropped.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisCallTimeout)
	defer cancel()
	needle := `"token":"` + token + `"`
	if err := releaseScript.Run(ctx, s.rdb, []string{key}, needle).Err(); err != nil && !errors.Is(err, redis.Nil) {
		s.gate.failed(err)
		return fmt.Errorf("%w: %w", errRedisDown, err)
	}
	return nil
}
