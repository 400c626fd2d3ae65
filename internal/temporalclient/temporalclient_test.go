package temporalclient_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kelseyhightower/envconfig"
	"go.temporal.io/sdk/client"

	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/temporalclient"
)

var variables = append([]string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE"}, temporalclient.SecurityVariables()...)

// TestSecurityVariables: the list the local tools drop is every variable of Config but the
// address, the namespace and the payload keys (a local run encrypts too).
func TestSecurityVariables(t *testing.T) {
	var tags []string
	fields := reflect.TypeFor[temporalclient.Config]()
	for i := range fields.NumField() {
		if fields.Field(i).Anonymous {
			continue
		}
		tags = append(tags, fields.Field(i).Tag.Get("envconfig"))
	}
	slices.Sort(tags)
	want := slices.Sorted(slices.Values(variables))
	if !slices.Equal(tags, want) {
		t.Fatalf("Config reads %q, SecurityVariables and the address and namespace are %q", tags, want)
	}
}

// load reads the configuration from exactly env, as a component does.
func load(t *testing.T, env map[string]string) (temporalclient.Config, error) {
	t.Helper()
	for _, v := range variables {
		t.Setenv(v, env[v]) // registers the restore
		if _, ok := env[v]; !ok {
			if err := os.Unsetenv(v); err != nil {
				t.Fatal(err)
			}
		}
	}
	var cfg temporalclient.Config
	if err := envconfig.Process("", &cfg); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func TestConfigFromEnvironment(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		wantTLS bool
		check   func(temporalclient.Config) bool
		wantErr string // the variable the error must name; "" means the config loads
	}{
		{name: "defaults: plaintext to a local server", check: func(c temporalclient.Config) bool {
			return c.Address == "127.0.0.1:7233" && c.Namespace == "default" && !c.TLSDisableHostVerification
		}},
		{name: "TEMPORAL_TLS alone", env: map[string]string{"TEMPORAL_TLS": "true"}, wantTLS: true},
		{name: "a CA turns TLS on", env: map[string]string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH": "/ca.pem"}, wantTLS: true},
		{name: "a server name turns TLS on", env: map[string]string{"TEMPORAL_TLS_SERVER_NAME": "temporal.internal"}, wantTLS: true},
		{name: "an API key turns TLS on", env: map[string]string{"TEMPORAL_API_KEY": "key"}, wantTLS: true,
			check: func(c temporalclient.Config) bool { return c.APIKey == "key" }},
		{name: "skipping verification turns TLS on", env: map[string]string{"TEMPORAL_TLS_DISABLE_HOST_VERIFICATION": "true"}, wantTLS: true},
		{name: "a client certificate and its key", wantTLS: true,
			env: map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": "/c.pem", "TEMPORAL_TLS_CLIENT_KEY_PATH": "/c.key"},
			check: func(c temporalclient.Config) bool {
				return c.TLSClientCertPath == "/c.pem" && c.TLSClientKeyPath == "/c.key"
			}},
		{name: "Temporal Cloud with mutual TLS", wantTLS: true,
			env: map[string]string{
				"TEMPORAL_ADDRESS": "ns.acct.tmprl.cloud:7233", "TEMPORAL_NAMESPACE": "ns.acct",
				"TEMPORAL_TLS_CLIENT_CERT_PATH": "/c.pem", "TEMPORAL_TLS_CLIENT_KEY_PATH": "/c.key",
			},
			check: func(c temporalclient.Config) bool {
				return c.Address == "ns.acct.tmprl.cloud:7233" && c.Namespace == "ns.acct"
			}},
		{name: "a certificate without its key", env: map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": "/c.pem"},
			wantErr: "TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH must be set together"},
		{name: "a key without its certificate", env: map[string]string{"TEMPORAL_TLS_CLIENT_KEY_PATH": "/c.key"},
			wantErr: "TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH must be set together"},
		{name: "an API key with its newline", env: map[string]string{"TEMPORAL_API_KEY": "key\n"}, wantErr: "TEMPORAL_API_KEY"},
		{name: "a server name with a space", env: map[string]string{"TEMPORAL_TLS_SERVER_NAME": "a b"}, wantErr: "TEMPORAL_TLS_SERVER_NAME"},
		{name: "an empty address", env: map[string]string{"TEMPORAL_ADDRESS": " "}, wantErr: "TEMPORAL_ADDRESS"},
		{name: "an empty namespace", env: map[string]string{"TEMPORAL_NAMESPACE": " "}, wantErr: "TEMPORAL_NAMESPACE"},
		{name: "TEMPORAL_TLS not a bool", env: map[string]string{"TEMPORAL_TLS": "sometimes"}, wantErr: "TEMPORAL_TLS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := load(t, tc.env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.TLSEnabled() != tc.wantTLS {
				t.Errorf("TLSEnabled() = %v, want %v", cfg.TLSEnabled(), tc.wantTLS)
			}
			if tc.check != nil && !tc.check(cfg) {
				t.Errorf("config = %+v", cfg)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	base := temporalclient.Config{Address: "temporal:7233", Namespace: "ns"}
	cases := []struct {
		name    string
		mutate  func(*temporalclient.Config)
		check   func(t *testing.T, o client.Options)
		wantErr []string
	}{
		{name: "plaintext", mutate: func(*temporalclient.Config) {}, check: func(t *testing.T, o client.Options) {
			if o.ConnectionOptions.TLS != nil || o.Credentials != nil {
				t.Errorf("TLS %v, credentials %v", o.ConnectionOptions.TLS, o.Credentials)
			}
		}},
		{name: "TLS with the system's roots and a server name",
			mutate: func(c *temporalclient.Config) { c.TLS, c.TLSServerName = true, "temporal.internal" },
			check: func(t *testing.T, o client.Options) {
				conf := o.ConnectionOptions.TLS
				if conf == nil || conf.ServerName != "temporal.internal" || conf.RootCAs != nil || conf.InsecureSkipVerify || conf.GetClientCertificate != nil {
					t.Errorf("TLS %+v", conf)
				}
			}},
		{name: "skipping verification", mutate: func(c *temporalclient.Config) { c.TLSDisableHostVerification = true },
			check: func(t *testing.T, o client.Options) {
				if conf := o.ConnectionOptions.TLS; conf == nil || !conf.InsecureSkipVerify {
					t.Errorf("TLS %+v", conf)
				}
			}},
		{name: "an API key: credentials and TLS", mutate: func(c *temporalclient.Config) { c.APIKey = "key" },
			check: func(t *testing.T, o client.Options) {
				if o.Credentials == nil || o.ConnectionOptions.TLS == nil {
					t.Errorf("credentials %v, TLS %v", o.Credentials, o.ConnectionOptions.TLS)
				}
			}},
		{name: "a missing CA file", mutate: func(c *temporalclient.Config) { c.TLSServerCACertPath = missing },
			wantErr: []string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH", "no such file"}},
		{name: "a CA file without a certificate", mutate: func(c *temporalclient.Config) { c.TLSServerCACertPath = notPEM },
			wantErr: []string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH", "holds no PEM certificate"}},
		{name: "a missing client certificate",
			mutate:  func(c *temporalclient.Config) { c.TLSClientCertPath, c.TLSClientKeyPath = missing, notPEM },
			wantErr: []string{"TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH", "no such file"}},
		{name: "a client certificate that is none",
			mutate:  func(c *temporalclient.Config) { c.TLSClientCertPath, c.TLSClientKeyPath = notPEM, notPEM },
			wantErr: []string{"TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.mutate(&cfg)
			o, err := temporalclient.Options(cfg, logging.Discard())
			if tc.wantErr != nil {
				if err == nil {
					t.Fatal("Options succeeded")
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// What every process keeps, secured or not.
			if o.HostPort != cfg.Address || o.Namespace != cfg.Namespace || o.Logger == nil || len(o.ContextPropagators) != 1 {
				t.Errorf("options %+v", o)
			}
			if _, ok := o.ConnectionOptions.GrpcCompression.(*client.GrpcCompressionNone); !ok {
				t.Errorf("compression %T, want none", o.ConnectionOptions.GrpcCompression)
			}
			tc.check(t, o)
		})
	}
}

// TestDialNamesAnUnusableFile: Dial fails at once, before any connection, on a TLS file it
// cannot use, and says it is no use retrying.
func TestDialNamesAnUnusableFile(t *testing.T) {
	cfg := temporalclient.Config{Address: "127.0.0.1:1", Namespace: "default", TLSServerCACertPath: filepath.Join(t.TempDir(), "ca.pem")}
	_, err := temporalclient.Dial(cfg, logging.Discard())
	if err == nil || !strings.Contains(err.Error(), "TEMPORAL_TLS_SERVER_CA_CERT_PATH") {
		t.Fatalf("Dial = %v, want an error naming TEMPORAL_TLS_SERVER_CA_CERT_PATH", err)
	}
	if !errors.Is(err, temporalclient.ErrSecurity) {
		t.Errorf("not ErrSecurity: %v", err)
	}
}
