package order

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sagaflow/sagaflow/internal/problem"
)

// cursor is the keyset position of the last order of a page: the next page starts
// strictly after it in (created_at desc, id desc) order.
type cursor struct {
	CreatedAt time.Time `json:"t"`
	ID        string    `json:"id"`
}

// maxCursorLength bounds what we try to decode from a caller.
const maxCursorLength = 512

func (c cursor) encode() string {
	raw, _ := json.Marshal(c) // a time and a string always encode
	return base64.RawURLEncoding.EncodeToString(raw)
}

// decodeCursor parses a cursor from a caller; anything we did not produce is refused
// with a 400 problem.
func decodeCursor(s string) (*cursor, error) {
	if s == "" {
		return nil, nil
	}
	bad := problem.New(http.StatusBadRequest, problem.CodeValidation, "the cursor is not one this service issued",
		&huma.ErrorDetail{Location: "query.cursor", Message: "malformed cursor", Value: s})
	if len(s) > maxCursorLength {
		return nil, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	var c cursor
	if err := json.Unmarshal(raw, &c); err != nil || c.ID == "" || c.CreatedAt.IsZero() {
		return nil, bad
	}
	return &c, nil
}
