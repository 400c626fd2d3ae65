package localinfra

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// TestPKI is a throwaway public key infrastructure for servers and clients on this machine:
// a CA, a server certificate for 127.0.0.1 and localhost, a client certificate, both signed
// by the CA, and a second CA that signed neither (to check that a wrong CA is refused).
// Every file is PEM; keys are ECDSA P-256.
type TestPKI struct {
	CA                    string // the CA's certificate
	ServerCert, ServerKey string
	ClientCert, ClientKey string
	OtherCA               string // an unrelated CA's certificate
	// OtherClientCert and OtherClientKey are a client certificate the other CA signed.
	OtherClientCert, OtherClientKey string

	dir       string
	ca, other *issuer
}

type issuer struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewTestPKI writes a fresh PKI into dir, valid for a day.
func NewTestPKI(dir string) (*TestPKI, error) {
	p := &TestPKI{dir: dir}
	var err error
	if p.ca, p.CA, err = p.newCA("sagaflow test CA", "ca.pem"); err != nil {
		return nil, err
	}
	if p.other, p.OtherCA, err = p.newCA("sagaflow unrelated test CA", "other-ca.pem"); err != nil {
		return nil, err
	}
	server := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if p.ServerCert, p.ServerKey, err = p.issue(p.ca, server, "server"); err != nil {
		return nil, err
	}
	if p.ClientCert, p.ClientKey, err = p.IssueClient("sagaflow test client", "client"); err != nil {
		return nil, err
	}
	other := &x509.Certificate{Subject: pkix.Name{CommonName: "sagaflow unrelated client"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if p.OtherClientCert, p.OtherClientKey, err = p.issue(p.other, other, "other-client"); err != nil {
		return nil, err
	}
	return p, nil
}

// IssueClient signs another client certificate with the CA and writes it as NAME.pem and
// NAME-key.pem (a rotation writes over the current pair with the current name).
func (p *TestPKI) IssueClient(commonName, name string) (cert, key string, err error) {
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: commonName}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	return p.issue(p.ca, tmpl, name)
}

func (p *TestPKI) newCA(commonName, file string) (*issuer, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", err
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	setValidity(tmpl)
	if tmpl.SerialNumber, err = serial(); err != nil {
		return nil, "", err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, "", err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, "", err
	}
	path := filepath.Join(p.dir, file)
	return &issuer{cert: cert, key: key}, path, writePEM(path, "CERTIFICATE", der)
}

// issue signs tmpl with a new key and writes NAME.pem and NAME-key.pem.
func (p *TestPKI) issue(by *issuer, tmpl *x509.Certificate, name string) (cert, key string, err error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	setValidity(tmpl)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	if tmpl.SerialNumber, err = serial(); err != nil {
		return "", "", err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, by.cert, &priv.PublicKey, by.key)
	if err != nil {
		return "", "", fmt.Errorf("sign %s: %w", name, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", "", err
	}
	cert, key = filepath.Join(p.dir, name+".pem"), filepath.Join(p.dir, name+"-key.pem")
	if err := writePEM(key, "PRIVATE KEY", keyDER); err != nil {
		return "", "", err
	}
	return cert, key, writePEM(cert, "CERTIFICATE", der)
}

// setValidity starts an hour back, so a clock a little behind still accepts it.
func setValidity(c *x509.Certificate) {
	c.NotBefore = time.Now().Add(-time.Hour)
	c.NotAfter = time.Now().Add(24 * time.Hour)
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// writePEM replaces path through a rename, so a reader never sees half a file.
func writePEM(path, blockType string, der []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
