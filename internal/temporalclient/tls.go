package temporalclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrSecurity marks a Dial error that retrying cannot fix: a TLS file is unusable, the TLS
// handshake failed, or the server refused the credentials. The settings must change.
var ErrSecurity = errors.New("temporal connection security")

// securityError is an error of the connection's security; errors.Is finds ErrSecurity in it.
type securityError struct{ err error }

func (e securityError) Error() string   { return e.err.Error() }
func (e securityError) Unwrap() []error { return []error{e.err, ErrSecurity} }

// newTLSConfig returns the TLS settings of cfg, nil when TLS is off. The server CA file is
// read once, here: a new CA takes a restart. The client certificate is read here too, so a
// missing or broken pair stops the process at start, and again whenever its files change.
func newTLSConfig(cfg Config, logger *slog.Logger) (*tls.Config, error) {
	if !cfg.TLSEnabled() {
		return nil, nil
	}
	conf := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: cfg.TLSServerName,
		// Opt-in, for local use only: documented, and Dial logs a warning.
		InsecureSkipVerify: cfg.TLSDisableHostVerification,
	}
	if cfg.TLSServerCACertPath != "" {
		pem, err := os.ReadFile(cfg.TLSServerCACertPath)
		if err != nil {
			return nil, fmt.Errorf("TEMPORAL_TLS_SERVER_CA_CERT_PATH: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TEMPORAL_TLS_SERVER_CA_CERT_PATH: %s holds no PEM certificate", cfg.TLSServerCACertPath)
		}
		conf.RootCAs = roots
	}
	if cfg.TLSClientCertPath != "" {
		cert := &clientCertificate{certPath: cfg.TLSClientCertPath, keyPath: cfg.TLSClientKeyPath, logger: logger}
		if _, err := cert.load(); err != nil {
			return nil, fmt.Errorf("TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH: %w", err)
		}
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert.load() }
	}
	return conf, nil
}

// clientCertificate is the client certificate of mutual TLS, read from its files at each
// TLS handshake when they changed (size or modification time), so a rotated certificate
// is presented from the next connection on, without a restart.
type clientCertificate struct {
	certPath, keyPath string
	logger            *slog.Logger

	mu    sync.Mutex
	cert  *tls.Certificate
	stamp [2]fileStamp // of the files cert was read from
}

type fileStamp struct {
	size    int64
	modTime time.Time
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{size: fi.Size(), modTime: fi.ModTime()}, nil
}

func (s fileStamp) equal(o fileStamp) bool { return s.size == o.size && s.modTime.Equal(o.modTime) }

// load returns the certificate, read again when its files changed since the last read.
func (c *clientCertificate) load() (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	certStamp, err := stampOf(c.certPath)
	var keyStamp fileStamp
	if err == nil {
		keyStamp, err = stampOf(c.keyPath)
	}
	if err == nil && c.cert != nil && certStamp.equal(c.stamp[0]) && keyStamp.equal(c.stamp[1]) {
		return c.cert, nil
	}
	if err == nil {
		var cert tls.Certificate
		if cert, err = tls.LoadX509KeyPair(c.certPath, c.keyPath); err == nil {
			c.cert, c.stamp = &cert, [2]fileStamp{certStamp, keyStamp}
			return c.cert, nil
		}
	}
	if c.cert == nil {
		return nil, err
	}
	// A rotation writes two files, and between the writes they do not match. Present the
	// certificate read last; the files are read again at the next handshake.
	c.logger.Warn("cannot read the rotated Temporal client certificate; using the previous one",
		"cert", c.certPath, "key", c.keyPath, "error", err)
	return c.cert, nil
}

// dialFailures says what a failed Dial means, by the words gRPC and crypto/tls put in the
// error (gRPC passes the connection's error on as text only). The first match wins.
var dialFailures = []struct {
	marks     []string
	permanent bool // retrying cannot help: ErrSecurity
	plaintext bool // only when TLS is off
	what      string
}{
	{
		marks:     []string{"x509:", "tls: failed to verify certificate"},
		permanent: true,
		what:      "TLS handshake with Temporal at %s failed: the server's certificate is not trusted (check TEMPORAL_TLS_SERVER_CA_CERT_PATH and TEMPORAL_TLS_SERVER_NAME)",
	},
	{
		// The server's alerts on a client certificate: none, or one it does not trust.
		marks: []string{"tls: certificate required", "tls: bad certificate", "tls: unknown certificate authority",
			"tls: unknown certificate", "tls: unsupported certificate", "tls: certificate expired", "tls: certificate revoked", "tls: access denied"},
		permanent: true,
		what:      "TLS handshake with Temporal at %s failed: the server refused the client certificate (check TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH)",
	},
	{
		marks:     []string{"first record does not look like a TLS handshake"},
		permanent: true,
		what:      "TLS handshake with Temporal at %s failed: the server does not speak TLS (check TEMPORAL_TLS and the TEMPORAL_TLS_* variables)",
	},
	{
		// Anything else in the handshake, a broken connection among it, may pass.
		marks: []string{"tls:", "authentication handshake failed"},
		what:  "TLS handshake with Temporal at %s failed (check TEMPORAL_TLS_SERVER_CA_CERT_PATH and the client certificate)",
	},
	{
		// A plaintext client at a TLS port: the server hangs up before gRPC starts.
		marks:     []string{"server preface", "connection closed before"},
		plaintext: true,
		what:      "connect to Temporal at %s: the connection closed at once; if the server requires TLS, set TEMPORAL_TLS or the TEMPORAL_TLS_* variables",
	},
}

// brokenConnection are the words of a connection the server ended without a reason.
var brokenConnection = []string{"broken pipe", "connection reset", "EOF"}

// dialError turns a failed Dial into an error that says what failed and which variables to
// check. probe (nil without TLS) asks the server again why it ends our connections.
func dialError(cfg Config, err error, probe func() error) error {
	if refusedCredentials(err) {
		return explainDial(fmt.Sprintf("the Temporal server at %s refused the credentials (check TEMPORAL_API_KEY or the client certificate)", cfg.Address), true, err, "")
	}
	var extra string
	what, permanent, ok := matchDialFailure(err.Error(), probe == nil)
	if !ok && probe != nil && containsAny(err.Error(), brokenConnection) {
		// Under TLS 1.3 our side of the handshake ends before the server checks the client
		// certificate: a refusal comes as an alert after it, and gRPC's first write can
		// meet the closed connection ("broken pipe") before it reads the alert.
		if perr := probe(); perr != nil {
			extra = " (a new TLS connection: " + perr.Error() + ")"
			what, permanent, ok = matchDialFailure(extra, false)
		}
	}
	if !ok {
		what = "connect to Temporal at %s (namespace " + cfg.Namespace + ")"
	}
	return explainDial(fmt.Sprintf(what, cfg.Address), permanent, err, extra)
}

func matchDialFailure(text string, plaintext bool) (what string, permanent, ok bool) {
	for _, f := range dialFailures {
		if (!f.plaintext || plaintext) && containsAny(text, f.marks) {
			return f.what, f.permanent, true
		}
	}
	return "", false, false
}

func explainDial(what string, permanent bool, err error, extra string) error {
	e := fmt.Errorf("%s: %w%s", what, err, extra)
	if permanent {
		return securityError{e}
	}
	return e
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// probeTLS opens a TLS connection to address and reads from it until the server ends it or
// a second passes: an error says why the server ended it, nil that it kept it (the TLS
// settings are accepted). The probe writes nothing, so the server's alert is not lost.
func probeTLS(ctx context.Context, address string, conf *tls.Config) error {
	conf = conf.Clone()
	conf.NextProtos = []string{"h2"} // as gRPC offers
	dialer := tls.Dialer{NetDialer: &net.Dialer{Timeout: 2 * time.Second}, Config: conf}
	conn, err := dialer.DialContext(ctx, "tcp", address)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }() // only read from
	if err := conn.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	_, err = conn.Read(make([]byte, 1))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return err
}

// refusedCredentials reports whether err is the server's "unauthenticated" or "permission
// denied": the SDK converts the second into a serviceerror and leaves the first a gRPC
// status.
func refusedCredentials(err error) bool {
	if err == nil {
		return false
	}
	var denied *serviceerror.PermissionDenied
	code := status.Code(err)
	return errors.As(err, &denied) || code == codes.Unauthenticated || code == codes.PermissionDenied
}
