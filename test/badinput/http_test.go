package badinput

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/test/testenv"
)

// answer is an HTTP answer as a client sees it.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// unsized hides a reader's length, so the request goes out with chunked transfer encoding.
type unsized struct{ r io.Reader }

func (u unsized) Read(p []byte) (int, error) { return u.r.Read(p) }

// send issues one request built by hand: body bytes as given, headers exactly as given.
func send(t *testing.T, method, target string, header http.Header, body []byte, chunked bool) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
		if chunked {
			rd = unsized{rd}
		}
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		t.Fatalf("build %s %s: %v", method, target, err)
	}
	if chunked {
		req.ContentLength = -1
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	_ = resp.Body.Close() // the answer is read; closing has nothing left to report
	if err != nil {
		t.Fatalf("read answer of %s %s: %v", method, target, err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: raw}
}

// sendRaw writes request bytes on a TCP connection as they are (for what net/http refuses
// to send, such as CR or LF inside a header) and reads the answer.
func sendRaw(t *testing.T, base string, raw string, halfClose bool) answer {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer testenv.Close(t, conn)
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatalf("write raw request: %v", err)
	}
	if halfClose {
		if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: strings.Fields(raw)[0]})
	if err != nil {
		t.Fatalf("read raw answer: %v", err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	_ = resp.Body.Close() // the answer is read; closing has nothing left to report
	if err != nil {
		t.Fatalf("read raw answer body: %v", err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: body}
}
