package temporaltls_test

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"

	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/temporalclient"
)

// TestClientCertificateRotation: the client certificate is read from its files at each TLS
// handshake when they changed, so a rotated certificate is presented without a restart,
// and a half-written rotation (a new certificate with the old key) keeps the previous one.
func TestClientCertificateRotation(t *testing.T) {
	pki, _ := testPKI(t)
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	install := func(fromCert, fromKey string) {
		t.Helper()
		for from, to := range map[string]string{fromCert: certPath, fromKey: keyPath} {
			if from == "" {
				continue
			}
			b, err := os.ReadFile(from)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(to, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	install(pki.ClientCert, pki.ClientKey)
	opts, err := temporalclient.Options(temporalclient.Config{
		Address: "127.0.0.1:7233", Namespace: "default",
		TLSClientCertPath: certPath, TLSClientKeyPath: keyPath, TLSServerCACertPath: pki.CA,
	}, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	var previous *tls.Certificate
	// handshake returns the certificate's name, and whether it was read again.
	handshake := func() (name string, read bool) {
		t.Helper()
		cert, err := opts.ConnectionOptions.TLS.GetClientCertificate(&tls.CertificateRequestInfo{})
		if err != nil {
			t.Fatalf("GetClientCertificate: %v", err)
		}
		read, previous = cert != previous, cert
		return cert.Leaf.Subject.CommonName, read
	}
	if got, _ := handshake(); got != "sagaflow test client" {
		t.Fatalf("first certificate %q", got)
	}
	rotatedCert, rotatedKey, err := pki.IssueClient("sagaflow rotated client", "rotated")
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name      string
		cert, key string // files to install ("" leaves it)
		want      string // the name presented
		wantRead  bool   // a pair read anew, not the cached one
	}{
		{name: "unchanged files: the cached pair", want: "sagaflow test client"},
		{name: "the new certificate, the old key: the previous pair stays", cert: rotatedCert, want: "sagaflow test client"},
		{name: "then the new key: the new pair", key: rotatedKey, want: "sagaflow rotated client", wantRead: true},
		{name: "unchanged again: cached", want: "sagaflow rotated client"},
		{name: "back to the first pair", cert: pki.ClientCert, key: pki.ClientKey, want: "sagaflow test client", wantRead: true},
	}
	for _, step := range steps {
		install(step.cert, step.key)
		if got, read := handshake(); got != step.want || read != step.wantRead {
			t.Errorf("%s: presented %q (read anew: %v), want %q (%v)", step.name, got, read, step.want, step.wantRead)
		}
	}
}
