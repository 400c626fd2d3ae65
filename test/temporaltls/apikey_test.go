package temporaltls_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/temporalclient"
	"github.com/sagaflow/sagaflow/tools/localinfra"
)

// frontend is a gRPC server with Temporal's WorkflowService that records the Authorization
// header of every call: Temporal Cloud's API keys cannot be checked by a server of our own,
// but what the client sends can.
type frontend struct {
	workflowservice.UnimplementedWorkflowServiceServer
	address string
	// key, when set, is the only API key accepted; other calls get Unauthenticated.
	key string

	mu    sync.Mutex
	calls map[string][]string // method → its Authorization values
}

// startFrontend serves on 127.0.0.1 with TLS when cert is set, in the clear otherwise.
func startFrontend(t *testing.T, cert *tls.Certificate, key string) *frontend {
	t.Helper()
	f := &frontend{key: key, calls: map[string][]string{}}
	opts := []grpc.ServerOption{grpc.UnaryInterceptor(f.record)}
	if cert != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*cert}})))
	}
	server := grpc.NewServer(opts...)
	workflowservice.RegisterWorkflowServiceServer(server, f)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.address = ln.Addr().String()
	go func() { _ = server.Serve(ln) }() // ends with Stop
	t.Cleanup(server.Stop)
	return f
}

func (f *frontend) record(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	auth := md.Get("authorization")
	f.mu.Lock()
	f.calls[info.FullMethod] = append(f.calls[info.FullMethod], auth...)
	f.mu.Unlock()
	if f.key != "" && !slices.Equal(auth, []string{"Bearer " + f.key}) {
		return nil, status.Error(codes.Unauthenticated, "invalid API key")
	}
	return handler(ctx, req)
}

func (f *frontend) authorization(method string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls["/temporal.api.workflowservice.v1.WorkflowService/"+method]
}

func (f *frontend) GetSystemInfo(context.Context, *workflowservice.GetSystemInfoRequest) (*workflowservice.GetSystemInfoResponse, error) {
	return &workflowservice.GetSystemInfoResponse{Capabilities: &workflowservice.GetSystemInfoResponse_Capabilities{}}, nil
}

func (f *frontend) DescribeNamespace(context.Context, *workflowservice.DescribeNamespaceRequest) (*workflowservice.DescribeNamespaceResponse, error) {
	return &workflowservice.DescribeNamespaceResponse{}, nil
}

func testPKI(t *testing.T) (*localinfra.TestPKI, *tls.Certificate) {
	t.Helper()
	pki, err := localinfra.NewTestPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(pki.ServerCert, pki.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	return pki, &cert
}

// TestAPIKey checks what TEMPORAL_API_KEY sends, on the connection Dial opens and on the
// calls after it.
func TestAPIKey(t *testing.T) {
	pki, cert := testPKI(t)
	cases := []struct {
		name      string
		serverKey string // the key the server accepts ("" any)
		clientKey string
		// want is the Authorization header of each call (nil: none).
		want    []string
		wantErr []string
	}{
		{name: "the key as a bearer token", clientKey: "k3y-one", want: []string{"Bearer k3y-one"}},
		{name: "no key, no header", want: nil},
		{name: "the accepted key", serverKey: "right", clientKey: "right", want: []string{"Bearer right"}},
		{name: "a refused key", serverKey: "right", clientKey: "wrong", want: []string{"Bearer wrong"},
			wantErr: []string{"refused the credentials", "TEMPORAL_API_KEY"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := startFrontend(t, cert, tc.serverKey)
			cfg := temporalclient.Config{Address: f.address, Namespace: "default", TLSServerCACertPath: pki.CA, APIKey: tc.clientKey}
			c, err := temporalclient.Dial(cfg, logging.Discard())
			if got := f.authorization("GetSystemInfo"); !slices.Equal(got, tc.want) {
				t.Errorf("GetSystemInfo Authorization = %q, want %q", got, tc.want)
			}
			if tc.wantErr != nil {
				if err == nil {
					c.Close()
					t.Fatal("Dial succeeded")
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				if !errors.Is(err, temporalclient.ErrSecurity) {
					t.Errorf("a refused key is not ErrSecurity: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"}); err != nil {
				t.Fatal(err)
			}
			if got := f.authorization("DescribeNamespace"); !slices.Equal(got, tc.want) {
				t.Errorf("DescribeNamespace Authorization = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestTLSAtAPlaintextServer: TLS on against a server without it fails at once and says so.
func TestTLSAtAPlaintextServer(t *testing.T) {
	pki, _ := testPKI(t)
	f := startFrontend(t, nil, "")
	_, err := temporalclient.Dial(temporalclient.Config{Address: f.address, Namespace: "default", TLSServerCACertPath: pki.CA}, logging.Discard())
	if err == nil || !strings.Contains(err.Error(), "does not speak TLS") || !errors.Is(err, temporalclient.ErrSecurity) {
		t.Fatalf("Dial = %v, want a security error saying the server does not speak TLS", err)
	}
}
