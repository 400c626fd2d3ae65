package order

import (
	"encoding/base64"
	"encoding/json"
	"time"
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
// (a cursorError).
func decodeCursor(s string) (*cursor, error) {
	if s == "" {
		return nil, nil
	}
	bad := &cursorError{Value: s}
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
