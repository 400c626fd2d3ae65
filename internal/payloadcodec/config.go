package payloadcodec

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
)

// Environment variables of Config, named in its errors.
const (
	EnvKeys  = "TEMPORAL_PAYLOAD_KEYS"
	EnvKeyID = "TEMPORAL_PAYLOAD_KEY_ID"
)

// maxKeyIDLen bounds a key id: it is copied into the metadata of every payload.
const maxKeyIDLen = 64

// Secret is a configuration value that must not reach a log: it prints as [redacted].
type Secret string

// String hides the value from fmt's %v and %s.
func (Secret) String() string { return "[redacted]" }

// GoString hides the value from fmt's %#v.
func (Secret) GoString() string { return "[redacted]" }

// Config is the payload keyring, read from the environment. Embed it in the Temporal
// client's configuration: every process that reads or writes sagas needs the same keys.
//
// Rotation: add the new key to TEMPORAL_PAYLOAD_KEYS everywhere, then point
// TEMPORAL_PAYLOAD_KEY_ID at it everywhere; drop the old key only once no history that
// still matters holds payloads under it (their retention has passed).
type Config struct {
	// Keys are comma-separated id:base64 entries, each a 32-byte key ("" = encryption off).
	Keys Secret `envconfig:"TEMPORAL_PAYLOAD_KEYS"`
	// KeyID names the key new payloads are encrypted with; it must be one of Keys.
	KeyID string `envconfig:"TEMPORAL_PAYLOAD_KEY_ID"`
}

// Enabled reports whether keys are configured. Without them the converters are the SDK's
// defaults and payloads are written in clear; whether that is allowed is the caller's call.
func (c Config) Enabled() bool { return strings.TrimSpace(string(c.Keys)) != "" }

// Validate names the variable whose value cannot work. A configuration without keys is
// valid (encryption off) unless it names a current key.
func (c Config) Validate() error {
	_, err := c.keys()
	return err
}

// keys parses and checks the keyring; nil without keys.
func (c Config) keys() ([]Key, error) {
	if !c.Enabled() {
		if c.KeyID != "" {
			return nil, fmt.Errorf("%s is set but %s is empty", EnvKeyID, EnvKeys)
		}
		return nil, nil
	}
	keys, err := ParseKeys(string(c.Keys))
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	if c.KeyID == "" {
		return nil, fmt.Errorf("%s must name the key to encrypt with, one of %v", EnvKeyID, ids)
	}
	for _, id := range ids {
		if id == c.KeyID {
			return keys, nil
		}
	}
	return nil, fmt.Errorf("%s %q is not among the keys of %s %v", EnvKeyID, c.KeyID, EnvKeys, ids)
}

// ParseKeys reads a keyring in the form of TEMPORAL_PAYLOAD_KEYS: comma-separated
// id:base64 entries of 32-byte keys with distinct ids. Errors never quote key material.
func ParseKeys(s string) ([]Key, error) {
	var keys []Key
	seen := map[string]bool{}
	for i, entry := range strings.Split(strings.TrimSpace(s), ",") {
		entry = strings.TrimSpace(entry)
		id, encoded, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, fmt.Errorf("%s entry %d is not id:base64-key", EnvKeys, i+1)
		}
		if err := checkKeyID(id); err != nil {
			return nil, fmt.Errorf("%s entry %d: %w", EnvKeys, i+1, err)
		}
		if seen[id] {
			return nil, fmt.Errorf("%s: key id %q appears twice", EnvKeys, id)
		}
		seen[id] = true
		secret, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil {
			return nil, fmt.Errorf("%s: key %q is not valid standard base64", EnvKeys, id)
		}
		if len(secret) != KeySize {
			return nil, fmt.Errorf("%s: key %q is %d bytes, want %d (AES-256)", EnvKeys, id, len(secret), KeySize)
		}
		keys = append(keys, Key{ID: id, Secret: secret})
	}
	return keys, nil
}

// checkKeyID keeps ids to characters that survive the id:key,id:key syntax and logs.
func checkKeyID(id string) error {
	if id == "" || len(id) > maxKeyIDLen {
		return fmt.Errorf("key id %q must be 1 to %d characters", id, maxKeyIDLen)
	}
	for _, r := range id {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' && r != '_' && r != '.' {
			return fmt.Errorf("key id %q may hold only letters, digits, '-', '_' and '.'", id)
		}
	}
	return nil
}

// GenerateKey returns a new random key named id as one TEMPORAL_PAYLOAD_KEYS entry
// (id:base64).
func GenerateKey(id string) (string, error) {
	if err := checkKeyID(id); err != nil {
		return "", err
	}
	secret := make([]byte, KeySize)
	if _, err := rand.Read(secret); err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	return id + ":" + base64.StdEncoding.EncodeToString(secret), nil
}

// ErrDisabled is Codec's answer when no keys are configured.
var ErrDisabled = errors.New(EnvKeys + " is empty: payload encryption is off")

// Codec returns the keyring's codec, or ErrDisabled without keys.
func (c Config) Codec() (*Codec, error) {
	keys, err := c.keys()
	if err != nil {
		return nil, err
	}
	if keys == nil {
		return nil, ErrDisabled
	}
	return NewCodec(keys, c.KeyID)
}

// DataConverter returns the SDK's default data converter wrapped in the codec: set it as
// client.Options.DataConverter. Without keys it is the default converter alone.
func (c Config) DataConverter() (converter.DataConverter, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if !c.Enabled() {
		return converter.GetDefaultDataConverter(), nil
	}
	codec, err := c.Codec()
	if err != nil {
		return nil, err
	}
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), codec), nil
}

// FailureConverter returns the SDK's default failure converter over DataConverter, with the
// failure's message and stack trace moved into its encrypted attributes (a failure message
// can quote an input): set it as client.Options.FailureConverter. Without keys it is the
// default failure converter.
func (c Config) FailureConverter() (converter.FailureConverter, error) {
	dc, err := c.DataConverter()
	if err != nil {
		return nil, err
	}
	if !c.Enabled() {
		return temporal.GetDefaultFailureConverter(), nil
	}
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter:          dc,
		EncodeCommonAttributes: true,
	}), nil
}
