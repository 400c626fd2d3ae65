package httpserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sagaflow/sagaflow/internal/problem"
)

// cleanText reports whether s is text a resource id, query parameter or stored field can
// hold: valid UTF-8 without control characters (NUL, CR, LF, ESC ...). PostgreSQL text
// cannot store NUL or invalid UTF-8, and control characters forge log lines and headers.
func cleanText(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0
}

// cleanURL refuses a request whose path or query carries what no sagaflow resource or
// parameter can hold, before any handler passes it on to a database.
func cleanURL(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !cleanText(r.URL.Path) {
			writeProblem(w, problem.New(http.StatusBadRequest, problem.CodeValidation,
				"the path holds control characters or invalid UTF-8",
				&huma.ErrorDetail{Location: "path", Message: "control characters or invalid UTF-8"}))
			return
		}
		query, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			writeProblem(w, problem.New(http.StatusBadRequest, problem.CodeValidation, "the query string is malformed",
				&huma.ErrorDetail{Location: "query", Message: "malformed query string"}))
			return
		}
		for name, values := range query {
			if len(values) > 1 && cleanText(name) {
				// No sagaflow parameter takes a list: a repeat would silently drop values.
				writeProblem(w, problem.New(http.StatusBadRequest, problem.CodeValidation,
					"query parameter "+name+" appears more than once",
					&huma.ErrorDetail{Location: "query." + name, Message: "repeated query parameter"}))
				return
			}
			bad := !cleanText(name)
			for _, v := range values {
				bad = bad || !cleanText(v)
			}
			if bad {
				location := "query"
				if cleanText(name) {
					location += "." + name
				}
				writeProblem(w, problem.New(http.StatusBadRequest, problem.CodeValidation,
					"a query parameter holds control characters or invalid UTF-8",
					&huma.ErrorDetail{Location: location, Message: "control characters or invalid UTF-8"}))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// normalizeContentType writes a request's media type in lower case (media types are
// case-insensitive, RFC 9110, section 8.3.1), so Application/JSON finds the JSON format.
func normalizeContentType(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); ct != "" {
			if mediaType, params, err := mime.ParseMediaType(ct); err == nil {
				if normal := mime.FormatMediaType(mediaType, params); normal != "" {
					r.Header.Set("Content-Type", normal)
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// strictJSON returns the JSON format of every API. Huma validates a body decoded into `any`
// and then decodes it again into the operation's type; encoding/json matches member
// names case-insensitively and keeps the last of repeated members, so a body repeating a
// member (in any spelling) could pass validation with one value and be handled with
// another. Such bodies are refused, as are bodies that are not UTF-8 (RFC 8259) and
// strings holding NUL, which no stored text can contain.
func strictJSON() huma.Format {
	return huma.Format{Marshal: huma.DefaultJSONFormat.Marshal, Unmarshal: unmarshalStrict}
}

func unmarshalStrict(data []byte, v any) error {
	if !utf8.Valid(data) {
		return errors.New("the body is not valid UTF-8")
	}
	if _, ok := v.(*any); ok {
		if err := checkMembers(data); err != nil {
			return err
		}
	}
	return cleanDecodeError(json.Unmarshal(data, v))
}

// checkMembers walks a JSON document and refuses repeated member names and NUL characters.
func checkMembers(data []byte) error {
	// frame is one open container; names is nil for arrays.
	type frame struct {
		names   map[string]bool
		wantKey bool
	}
	var stack []*frame
	// valueDone notes that a value ended: inside an object, a member name comes next.
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].names != nil {
			stack[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return cleanDecodeError(err)
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, &frame{names: map[string]bool{}, wantKey: true})
			case '[':
				stack = append(stack, &frame{})
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			if strings.IndexByte(t, 0) >= 0 {
				return errors.New("strings must not contain NUL characters")
			}
			if n := len(stack); n > 0 && stack[n-1].names != nil && stack[n-1].wantKey {
				top := stack[n-1]
				folded := foldName(t)
				if top.names[folded] {
					return errors.New("a member name appears more than once (names match case-insensitively)")
				}
				top.names[folded] = true
				top.wantKey = false
				continue
			}
			valueDone()
		default:
			valueDone()
		}
	}
}

// foldName maps a member name to one spelling per case-insensitive class (each rune to the
// smallest rune of its simple case-folding orbit), the way encoding/json matches names.
func foldName(s string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, s)
}

// cleanDecodeError keeps decoding errors about the document and drops Go type names.
func cleanDecodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := typeErr.Field
		if field == "" {
			field = "the body"
		}
		return fmt.Errorf("%s cannot hold %s", field, typeErr.Value)
	}
	return err
}

// innerContext lets bodyContext embed a huma.Context without its field name clashing
// with the interface's Context method.
type innerContext huma.Context

// bodyContext hands the operation a body that was already read.
type bodyContext struct {
	innerContext
	body io.Reader
}

func (c bodyContext) BodyReader() io.Reader { return c.body }

// SetReadDeadline ignores the operation's body read deadline: the body is already in
// memory. Huma would set it on the connection and leave it there; once the body is read,
// Go's server keeps reading the idle connection to notice a client that went away, and
// when that deadline passed the read failed, the server cancelled the request's context
// and closed the connection, so a handler that waits longer (placing an order with
// Prefer: wait) answered 503 and took the keep-alive connection down with it.
func (c bodyContext) SetReadDeadline(time.Time) error { return nil }

// Unwrap returns the adapter's context, as huma.WithContext's wrapper does.
func (c bodyContext) Unwrap() huma.Context { return c.innerContext }

// readBodyFirst reads a request body (up to the operation's limit) before the operation
// does, so a body the client failed to send whole (malformed chunks, a connection closed
// early) is answered with a 400 instead of the generic 500 Huma gives read errors. The
// body is read under the server's ReadTimeout.
func readBodyFirst(ctx huma.Context, next func(huma.Context)) {
	op := ctx.Operation()
	reader := ctx.BodyReader()
	if op == nil || op.RequestBody == nil || op.MaxBodyBytes <= 0 || reader == nil {
		next(ctx)
		return
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(reader, op.MaxBodyBytes)); err != nil {
		p := problem.New(http.StatusBadRequest, problem.CodeValidation, "the request body could not be read whole")
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			p = problem.New(http.StatusRequestTimeout, problem.CodeRequestTimeout, "the request body did not arrive in time")
		}
		writeContextProblem(ctx, p)
		return
	}
	// A body at the limit is refused as too large by Huma; any other body must say it is JSON.
	if buf.Len() > 0 && int64(buf.Len()) < op.MaxBodyBytes {
		if err := checkJSONMediaType(ctx.Header("Content-Type")); err != nil {
			writeContextProblem(ctx, problem.New(http.StatusUnsupportedMediaType, problem.CodeUnsupportedMediaType, err.Error(),
				&huma.ErrorDetail{Location: "header.Content-Type", Message: err.Error(), Value: ctx.Header("Content-Type")}))
			return
		}
	}
	next(bodyContext{innerContext: ctx, body: &buf})
}

func writeContextProblem(ctx huma.Context, p *huma.ErrorModel) {
	ctx.SetHeader("Content-Type", "application/problem+json")
	ctx.SetStatus(p.Status)
	_ = json.NewEncoder(ctx.BodyWriter()).Encode(p)
}

// checkJSONMediaType accepts the one media type every operation declares for its body:
// application/json, with no parameter but charset=utf-8 (RFC 8259 JSON is UTF-8). A body
// without a Content-Type is refused rather than guessed at, and so are other JSON-based
// types such as application/merge-patch+json: the operations take whole documents, whose
// meaning a merge patch would change.
func checkJSONMediaType(header string) error {
	if header == "" {
		return errors.New("a request body needs Content-Type: application/json")
	}
	mediaType, params, err := mime.ParseMediaType(header)
	if err != nil || mediaType != "application/json" {
		return errors.New("the request body must be application/json")
	}
	for name, value := range params {
		if name != "charset" || !strings.EqualFold(value, "utf-8") {
			return errors.New("application/json takes no parameter but charset=utf-8")
		}
	}
	return nil
}
