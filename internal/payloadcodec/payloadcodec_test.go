package payloadcodec_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kelseyhightower/envconfig"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"

	"github.com/sagaflow/sagaflow/internal/payloadcodec"
	"github.com/sagaflow/sagaflow/test/testenv"
)

const secret = "tok_visa_SECRET123"

// keyring returns a configuration over freshly generated keys named ids, encrypting with current.
func keyring(t *testing.T, current string, ids ...string) payloadcodec.Config {
	t.Helper()
	entries := make([]string, len(ids))
	for i, id := range ids {
		e, err := payloadcodec.GenerateKey(id)
		if err != nil {
			t.Fatal(err)
		}
		entries[i] = e
	}
	return payloadcodec.Config{Keys: payloadcodec.Secret(strings.Join(entries, ",")), KeyID: current}
}

func codec(t *testing.T, cfg payloadcodec.Config) *payloadcodec.Codec {
	t.Helper()
	c, err := cfg.Codec()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type order struct {
	CustomerID   string   `json:"customer_id"`
	PaymentToken string   `json:"payment_token"`
	Lines        []string `json:"lines"`
}

// TestRoundTrip: every kind of value the default converter writes comes back identical
// after encryption, and the encrypted payload shows nothing of it.
func TestRoundTrip(t *testing.T) {
	c := codec(t, keyring(t, "k1", "k1"))
	dc := converter.GetDefaultDataConverter()
	values := []struct {
		name  string
		value any
	}{
		{"struct", order{CustomerID: "cust-SECRET-42", PaymentToken: secret, Lines: []string{"SKU-SECRET"}}},
		{"string", secret},
		{"bytes", []byte(secret)},
		{"number", 42},
		{"nil", nil},
		{"proto", &commonpb.WorkflowType{Name: secret}},
	}
	for _, v := range values {
		t.Run(v.name, func(t *testing.T) {
			p, err := dc.ToPayload(v.value)
			if err != nil {
				t.Fatal(err)
			}
			enc, err := c.Encode([]*commonpb.Payload{p})
			if err != nil {
				t.Fatal(err)
			}
			e := enc[0]
			if got := string(e.Metadata[converter.MetadataEncoding]); got != payloadcodec.Encoding {
				t.Errorf("encoding %q, want %q", got, payloadcodec.Encoding)
			}
			if got := string(e.Metadata[payloadcodec.MetadataKeyID]); got != "k1" {
				t.Errorf("key id %q, want k1", got)
			}
			if len(e.Metadata) != 2 {
				t.Errorf("metadata %v: only the encoding and key id may show", e.Metadata)
			}
			raw, err := proto.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(raw, []byte("SECRET")) || bytes.Contains(raw, p.Metadata[converter.MetadataEncoding]) {
				t.Errorf("encrypted payload shows its content: %q", raw)
			}
			dec, err := c.Decode(enc)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(dec[0], p) {
				t.Errorf("decoded %v, want %v", dec[0], p)
			}
		})
	}

	// A fresh nonce per payload: the same value never encrypts to the same bytes.
	p, _ := dc.ToPayload(secret)
	a, _ := c.Encode([]*commonpb.Payload{p})
	b, _ := c.Encode([]*commonpb.Payload{p})
	if bytes.Equal(a[0].Data, b[0].Data) {
		t.Error("two encryptions of one payload are identical")
	}
}

// TestDataConverter: the converter Config builds encrypts on the way out and decrypts on
// the way in, several payloads at once.
func TestDataConverter(t *testing.T) {
	dc, err := keyring(t, "k1", "k1").DataConverter()
	if err != nil {
		t.Fatal(err)
	}
	in := order{CustomerID: "cust-SECRET-42", PaymentToken: secret, Lines: []string{"SKU-1", "SKU-2"}}
	ps, err := dc.ToPayloads(in, secret, 7)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := proto.Marshal(ps)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("SECRET")) || bytes.Contains(raw, []byte("SKU-")) {
		t.Fatalf("payloads in clear: %q", raw)
	}
	var (
		out order
		s   string
		n   int
	)
	if err := dc.FromPayloads(ps, &out, &s, &n); err != nil {
		t.Fatal(err)
	}
	if out.CustomerID != in.CustomerID || out.PaymentToken != in.PaymentToken || len(out.Lines) != 2 || s != secret || n != 7 {
		t.Errorf("decoded %+v %q %d", out, s, n)
	}
}

// TestFailureConverter: a failure's message and stack trace travel encrypted, and the
// worker reading it back sees the original message.
func TestFailureConverter(t *testing.T) {
	fc, err := keyring(t, "k1", "k1").FailureConverter()
	if err != nil {
		t.Fatal(err)
	}
	f := fc.ErrorToFailure(temporal.NewApplicationError("card "+secret+" declined", "card-declined", order{PaymentToken: secret}))
	raw, err := proto.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("SECRET")) {
		t.Fatalf("failure in clear: %q", raw)
	}
	back := fc.FailureToError(f)
	var app *temporal.ApplicationError
	if !errors.As(back, &app) || !strings.Contains(app.Error(), "card "+secret+" declined") || app.Type() != "card-declined" {
		t.Fatalf("decoded failure %v", back)
	}
	var details order
	if err := app.Details(&details); err != nil || details.PaymentToken != secret {
		t.Errorf("details %+v (%v)", details, err)
	}
}

// TestTampered: any change to an encrypted payload is refused, never decoded to something else.
func TestTampered(t *testing.T) {
	// k2 is the same key under another id: only the key id bound to the ciphertext tells
	// a relabelled payload apart.
	keys, err := payloadcodec.ParseKeys(string(keyring(t, "k1", "k1").Keys))
	if err != nil {
		t.Fatal(err)
	}
	c, err := payloadcodec.NewCodec([]payloadcodec.Key{keys[0], {ID: "k2", Secret: keys[0].Secret}}, "k1")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := converter.GetDefaultDataConverter().ToPayload(order{PaymentToken: secret})
	enc, err := c.Encode([]*commonpb.Payload{p})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		tamper  func(p *commonpb.Payload)
		wantErr string
	}{
		{"flipped ciphertext byte", func(p *commonpb.Payload) { p.Data[len(p.Data)-20] ^= 1 }, "authentication failed"},
		{"flipped tag byte", func(p *commonpb.Payload) { p.Data[len(p.Data)-1] ^= 1 }, "authentication failed"},
		{"flipped nonce byte", func(p *commonpb.Payload) { p.Data[0] ^= 1 }, "authentication failed"},
		{"truncated", func(p *commonpb.Payload) { p.Data = p.Data[:10] }, "too short"},
		{"relabelled key id", func(p *commonpb.Payload) { p.Metadata[payloadcodec.MetadataKeyID] = []byte("k2") }, "authentication failed"},
		{"no key id", func(p *commonpb.Payload) { delete(p.Metadata, payloadcodec.MetadataKeyID) }, `key id ""`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := proto.Clone(enc[0]).(*commonpb.Payload)
			tc.tamper(bad)
			_, err := c.Decode([]*commonpb.Payload{bad})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("decode error %v, want one saying %q", err, tc.wantErr)
			}
		})
	}
	// The untouched payload still decodes: the table changed copies only.
	if _, err := c.Decode(enc); err != nil {
		t.Fatal(err)
	}
}

// TestRotation: a payload sealed under the old key decodes after the current key changed,
// and fails with the key's id once that key is dropped.
func TestRotation(t *testing.T) {
	both := keyring(t, "k1", "k1", "k2")
	old := codec(t, both)
	p, _ := converter.GetDefaultDataConverter().ToPayload(secret)
	underK1, err := old.Encode([]*commonpb.Payload{p})
	if err != nil {
		t.Fatal(err)
	}

	both.KeyID = "k2"
	rotated := codec(t, both)
	underK2, err := rotated.Encode([]*commonpb.Payload{p})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(underK2[0].Metadata[payloadcodec.MetadataKeyID]); got != "k2" {
		t.Fatalf("after rotation new payloads use %q, want k2", got)
	}
	for name, enc := range map[string][]*commonpb.Payload{"k1": underK1, "k2": underK2} {
		dec, err := rotated.Decode(enc)
		if err != nil || !proto.Equal(dec[0], p) {
			t.Errorf("payload under %s: %v %v", name, dec, err)
		}
	}

	// Drop k1: keep only the k2 entry of the same keyring.
	var k2 string
	for e := range strings.SplitSeq(string(both.Keys), ",") {
		if strings.HasPrefix(e, "k2:") {
			k2 = e
		}
	}
	onlyK2 := codec(t, payloadcodec.Config{Keys: payloadcodec.Secret(k2), KeyID: "k2"})
	if _, err := onlyK2.Decode(underK2); err != nil {
		t.Errorf("k2 payload without k1: %v", err)
	}
	_, err = onlyK2.Decode(underK1)
	if err == nil || !strings.Contains(err.Error(), `key id "k1" is unknown`) {
		t.Errorf("k1 payload without k1: error %v, want one naming k1", err)
	}
}

// TestPassthrough: payloads that were not encrypted (histories from before encryption was
// on) decode unchanged, next to encrypted ones.
func TestPassthrough(t *testing.T) {
	c := codec(t, keyring(t, "k1", "k1"))
	dc := converter.GetDefaultDataConverter()
	plain, _ := dc.ToPayload(order{PaymentToken: secret})
	null, _ := dc.ToPayload(nil)
	zlib, err := converter.NewZlibCodec(converter.ZlibCodecOptions{AlwaysEncode: true}).Encode([]*commonpb.Payload{plain})
	if err != nil {
		t.Fatal(err)
	}
	bare := &commonpb.Payload{Data: []byte("no metadata")}
	enc, err := c.Encode([]*commonpb.Payload{plain})
	if err != nil {
		t.Fatal(err)
	}
	in := []*commonpb.Payload{plain, null, zlib[0], bare, enc[0]}
	out, err := c.Decode(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []*commonpb.Payload{plain, null, zlib[0], bare, plain}
	for i := range want {
		if !proto.Equal(out[i], want[i]) {
			t.Errorf("payload %d decoded to %v, want %v", i, out[i], want[i])
		}
	}
	if !proto.Equal(in[4], enc[0]) {
		t.Error("Decode changed its input")
	}
}

// TestConfig reads the keyring from the environment: each bad value is refused by
// Validate with the variable's name, and no error quotes key material.
func TestConfig(t *testing.T) {
	k1, _ := payloadcodec.GenerateKey("k1")
	k2, _ := payloadcodec.GenerateKey("k2")
	short := "k3:" + strings.Repeat("A", 40) // 30 bytes
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // text the error must contain; "" means valid
		enabled bool
	}{
		{name: "nothing set: off", env: map[string]string{}},
		{name: "one key", env: map[string]string{"TEMPORAL_PAYLOAD_KEYS": k1, "TEMPORAL_PAYLOAD_KEY_ID": "k1"}, enabled: true},
		{name: "two keys, spaces around entries", env: map[string]string{"TEMPORAL_PAYLOAD_KEYS": " " + k1 + " , " + k2 + "\n", "TEMPORAL_PAYLOAD_KEY_ID": "k2"}, enabled: true},
		{name: "current id without keys", env: map[string]string{"TEMPORAL_PAYLOAD_KEY_ID": "k1"}, wantErr: "TEMPORAL_PAYLOAD_KEY_ID is set but TEMPORAL_PAYLOAD_KEYS is empty"},
		{name: "keys without current id", env: map[string]string{"TEMPORAL_PAYLOAD_KEYS": k1}, wantErr: "TEMPORAL_PAYLOAD_KEY_ID must name"},
		{name: "current id not a key", env: map[string]string{"TEMPORAL_PAYLOAD_KEYS": k1, "TEMPORAL_PAYLOAD_KEY_ID": "k2"}, wantErr: `TEMPORAL_PAYLOAD_KEY_ID "k2" is not among`},
		{name: "duplicate id", env: map[string]string{"TEMPORAL_PAYLOAD_KEYS": k1 + "," + k1, "TEMPORAL_PAYLOAD_KEY_ID": "k1"}, wantErr: `TEMPORAL_PAYLOAD_KEYS: key id "k1" appears twice`},
		{name: "short key", env: map[string]string{"TEMPORAL_PAYLOAD_KEYS": short, "TEMPORAL_PAYLOAD_KEY_ID": "k3"}, wantErr: `TEMPORAL_PAYLOAD_KEYS: key "k3" is 30 bytes, want 32`},
		{name: "bad base64", env: map[string]string{"TEMPORAL_PAYLOAD_KEYS": "k1:not*base64", "TEMPORAL_PAYLOAD_KEY_ID": "k1"}, wantErr: `TEMPORAL_PAYLOAD_KEYS: key "k1" is not valid standard base64`},
		{name: "no separator", env: map[string]string{"TEMPORAL_PAYLOAD_KEYS": k1 + ",k2", "TEMPORAL_PAYLOAD_KEY_ID": "k1"}, wantErr: "TEMPORAL_PAYLOAD_KEYS entry 2 is not id:base64-key"},
		{name: "empty entry", env: map[string]string{"TEMPORAL_PAYLOAD_KEYS": k1 + ",,", "TEMPORAL_PAYLOAD_KEY_ID": "k1"}, wantErr: "TEMPORAL_PAYLOAD_KEYS entry 2"},
		{name: "empty id", env: map[string]string{"TEMPORAL_PAYLOAD_KEYS": strings.TrimPrefix(k1, "k1"), "TEMPORAL_PAYLOAD_KEY_ID": "k1"}, wantErr: "TEMPORAL_PAYLOAD_KEYS entry 1: key id"},
		{name: "id with a space", env: map[string]string{"TEMPORAL_PAYLOAD_KEYS": "k 1" + strings.TrimPrefix(k1, "k1"), "TEMPORAL_PAYLOAD_KEY_ID": "k 1"}, wantErr: "TEMPORAL_PAYLOAD_KEYS entry 1: key id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testenv.SetOnlyEnv(t, []string{payloadcodec.EnvKeys, payloadcodec.EnvKeyID}, tc.env)
			var cfg payloadcodec.Config
			if err := envconfig.Process("", &cfg); err != nil {
				t.Fatal(err)
			}
			err := cfg.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("valid configuration refused: %v", err)
				}
			} else {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				for _, k := range []string{k1, k2} {
					if _, material, _ := strings.Cut(k, ":"); strings.Contains(err.Error(), material) {
						t.Fatalf("error quotes key material: %v", err)
					}
				}
				if _, err := cfg.DataConverter(); err == nil {
					t.Error("DataConverter accepted the configuration Validate refused")
				}
				return
			}
			if cfg.Enabled() != tc.enabled {
				t.Errorf("Enabled() = %v, want %v", cfg.Enabled(), tc.enabled)
			}
			dc, err := cfg.DataConverter()
			if err != nil {
				t.Fatal(err)
			}
			p, err := dc.ToPayload(secret)
			if err != nil {
				t.Fatal(err)
			}
			if encrypted := string(p.Metadata[converter.MetadataEncoding]) == payloadcodec.Encoding; encrypted != tc.enabled {
				t.Errorf("payload encrypted: %v, want %v", encrypted, tc.enabled)
			}
			if _, err := cfg.Codec(); tc.enabled == errors.Is(err, payloadcodec.ErrDisabled) {
				t.Errorf("Codec() error %v with encryption enabled %v", err, tc.enabled)
			}
		})
	}
}

// TestSecretRedacted: printing the configuration never shows the keys.
func TestSecretRedacted(t *testing.T) {
	cfg := keyring(t, "k1", "k1")
	_, material, _ := strings.Cut(string(cfg.Keys), ":")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(verb, cfg); strings.Contains(out, material) {
			t.Errorf("%s shows the key: %s", verb, out)
		}
	}
}

// TestGenerateKey: generated entries parse as keys, differ, and need a usable id.
func TestGenerateKey(t *testing.T) {
	a, err := payloadcodec.GenerateKey("2026-01")
	if err != nil {
		t.Fatal(err)
	}
	b, err := payloadcodec.GenerateKey("2026-02")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := payloadcodec.ParseKeys(a + "," + b)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].ID != "2026-01" || len(keys[0].Secret) != payloadcodec.KeySize || bytes.Equal(keys[0].Secret, keys[1].Secret) {
		t.Errorf("keys %v", keys)
	}
	for _, id := range []string{"", "a,b", "a:b", strings.Repeat("x", 65)} {
		if _, err := payloadcodec.GenerateKey(id); err == nil {
			t.Errorf("GenerateKey(%q) accepted", id)
		}
	}
}
