// Package payloadcodec encrypts every Temporal payload sagaflow writes (workflow and
// activity inputs and results, signals, queries, memos, summaries, failure messages) with
// AES-256-GCM, so histories and the Web UI hold no payment token, customer id or order line
// in clear. Operators read them through the codec server (internal/codecserver), which
// serves the same codec over HTTP.
//
// An encrypted payload is the whole original payload (metadata and data) marshalled as
// protobuf and sealed under one key of a keyring; its own metadata only names the encoding
// and the key id. Payloads that are not encrypted decode unchanged, so histories recorded
// before encryption was turned on stay readable.
package payloadcodec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"slices"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// Metadata of an encrypted payload.
const (
	// Encoding is the value of the payload's "encoding" metadata.
	Encoding = "binary/encrypted"
	// MetadataKeyID names the key a payload was encrypted with.
	MetadataKeyID = "encryption-key-id"
)

// KeySize is the length of every key: AES-256.
const KeySize = 32

// nonceSize is GCM's standard nonce. A fresh random nonce per payload keeps the chance of a
// repeat negligible for far more payloads than one key will ever seal (rotate keys yearly).
const nonceSize = 12

// aadPrefix starts the additional data each payload is sealed with, followed by its key id:
// a payload whose key id metadata was changed fails authentication instead of being tried
// under another key.
const aadPrefix = "sagaflow-payload/v1/"

// Key is one AES-256 key of the keyring.
type Key struct {
	ID     string
	Secret []byte
}

// Codec is an AES-256-GCM converter.PayloadCodec over a keyring: it encrypts with the
// current key and decrypts with whichever known key a payload names. It is safe for
// concurrent use.
type Codec struct {
	current string
	aeads   map[string]cipher.AEAD
}

var _ converter.PayloadCodec = (*Codec)(nil)

// NewCodec returns a codec over keys that encrypts with the key named current.
func NewCodec(keys []Key, current string) (*Codec, error) {
	c := &Codec{current: current, aeads: make(map[string]cipher.AEAD, len(keys))}
	for _, k := range keys {
		if err := checkKeyID(k.ID); err != nil {
			return nil, err
		}
		if len(k.Secret) != KeySize {
			return nil, fmt.Errorf("key %q is %d bytes, want %d", k.ID, len(k.Secret), KeySize)
		}
		if _, dup := c.aeads[k.ID]; dup {
			return nil, fmt.Errorf("key id %q appears twice", k.ID)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k.ID, err)
		}
		c.aeads[k.ID] = aead
	}
	if _, ok := c.aeads[current]; !ok {
		return nil, fmt.Errorf("current key id %q is not among the keys (%v)", current, c.KeyIDs())
	}
	return c, nil
}

// KeyIDs lists the ids of the keys the codec can decrypt with, sorted.
func (c *Codec) KeyIDs() []string {
	ids := make([]string, 0, len(c.aeads))
	for id := range c.aeads {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// CurrentKeyID is the id of the key new payloads are encrypted with.
func (c *Codec) CurrentKeyID() string { return c.current }

// Encode encrypts every payload with the current key.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.aeads[c.current]
	aad := []byte(aadPrefix + c.current)
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return payloads, fmt.Errorf("encrypt payload: marshal: %w", err)
		}
		sealed := make([]byte, nonceSize, nonceSize+len(plain)+aead.Overhead())
		if _, err := rand.Read(sealed); err != nil {
			return payloads, fmt.Errorf("encrypt payload: nonce: %w", err)
		}
		sealed = aead.Seal(sealed, sealed[:nonceSize], plain, aad)
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(Encoding),
				MetadataKeyID:              []byte(c.current),
			},
			Data: sealed,
		}
	}
	return out, nil
}

// Decode decrypts the encrypted payloads with the key each names; others pass unchanged.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		d, err := c.decrypt(p)
		if err != nil {
			return payloads, err
		}
		out[i] = d
	}
	return out, nil
}

func (c *Codec) decrypt(p *commonpb.Payload) (*commonpb.Payload, error) {
	id := string(p.GetMetadata()[MetadataKeyID])
	aead, ok := c.aeads[id]
	if !ok {
		return nil, fmt.Errorf("decrypt payload: key id %q is unknown (known: %v): add that key to TEMPORAL_PAYLOAD_KEYS", id, c.KeyIDs())
	}
	data := p.GetData()
	if len(data) < nonceSize+aead.Overhead() {
		return nil, fmt.Errorf("decrypt payload: %d bytes is too short for key %q", len(data), id)
	}
	plain, err := aead.Open(nil, data[:nonceSize], data[nonceSize:], []byte(aadPrefix+id))
	if err != nil {
		return nil, fmt.Errorf("decrypt payload with key %q: authentication failed (altered payload or a different key under that id)", id)
	}
	var d commonpb.Payload
	if err := proto.Unmarshal(plain, &d); err != nil {
		return nil, fmt.Errorf("decrypt payload with key %q: %w", id, err)
	}
	return &d, nil
}
