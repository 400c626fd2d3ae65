package api

import (
	"io"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// bodyDeadlineOnly limits Huma's body read deadline to the body. Huma sets the deadline
// on the connection before it reads the body and leaves it there; once it passes while
// the handler still works (placing an order waits up to ORDER_WAIT_MAX for its outcome),
// the server's idle read on the connection fails, the server takes the connection for
// dead and cancels its context: the waiting request ends in a 503 and so does every
// later request on that keep-alive connection. The deadline is lifted when the body has
// been read to its end.
func bodyDeadlineOnly(ctx huma.Context, next func(huma.Context)) {
	next(bodyDeadlineContext{wrapped: ctx})
}

// wrapped lets bodyDeadlineContext embed a huma.Context without its field name clashing
// with the interface's Context method.
type wrapped huma.Context

type bodyDeadlineContext struct{ wrapped }

func (c bodyDeadlineContext) BodyReader() io.Reader {
	r := c.wrapped.BodyReader()
	if r == nil {
		return nil
	}
	return &liftAtEOF{r: r, ctx: c.wrapped}
}

// Unwrap returns the wrapped context, as Huma's own context wrappers do.
func (c bodyDeadlineContext) Unwrap() huma.Context { return c.wrapped }

type liftAtEOF struct {
	r      io.Reader
	ctx    huma.Context
	lifted bool
}

func (l *liftAtEOF) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if err == io.EOF && !l.lifted {
		l.lifted = true
		_ = l.ctx.SetReadDeadline(time.Time{})
	}
	return n, err
}
