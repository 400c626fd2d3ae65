package client_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sagaflow/sagaflow/services/order/client"
)

func TestStatusPredicates(t *testing.T) {
	tests := []struct {
		status   client.Status
		valid    bool
		terminal bool
	}{
		{client.StatusPending, true, false},
		{client.StatusReserved, true, false},
		{client.StatusAuthorized, true, false},
		{client.StatusAwaitingApproval, true, false},
		{client.StatusCaptured, true, false},
		{client.StatusCompensating, true, false},
		{client.StatusCompensationFailed, true, false},
		{client.StatusConfirmed, true, true},
		{client.StatusCancelled, true, true},
		{client.StatusFailed, true, true},
		{"", false, false},
		{"pending", false, false},
		{"SHIPPED", false, false},
	}
	for _, tc := range tests {
		t.Run(string(tc.status), func(t *testing.T) {
			if got := tc.status.Valid(); got != tc.valid {
				t.Errorf("Valid() = %v, want %v", got, tc.valid)
			}
			if got := tc.status.IsTerminal(); got != tc.terminal {
				t.Errorf("IsTerminal() = %v, want %v", got, tc.terminal)
			}
		})
	}
	if n := len(client.Statuses()); n != 10 {
		t.Errorf("Statuses() has %d entries, the table above 10: add the new status to the table", n)
	}
}

// TestStatusSchema checks the enums Huma derives from the type, and that validation
// refuses what the enum excludes with the message clients always got.
func TestStatusSchema(t *testing.T) {
	all := "PENDING, RESERVED, AUTHORIZED, AWAITING_APPROVAL, CAPTURED, COMPENSATING, COMPENSATION_FAILED, CONFIRMED, CANCELLED, FAILED"
	targets := strings.TrimPrefix(all, "PENDING, ")
	type withStatus struct {
		Status client.Status `json:"status"`
	}
	tests := []struct {
		name    string
		typ     reflect.Type
		enum    string
		value   string
		refusal string // "" when value is accepted
	}{
		{name: "any field", typ: reflect.TypeFor[withStatus](), enum: all, value: "FAILED"},
		{name: "any field, unknown", typ: reflect.TypeFor[withStatus](), enum: all, value: "SHIPPED",
			refusal: `expected value to be one of "` + all + `"`},
		{name: "transition", typ: reflect.TypeFor[client.TransitionRequest](), enum: targets, value: "RESERVED"},
		{name: "transition to PENDING", typ: reflect.TypeFor[client.TransitionRequest](), enum: targets, value: "PENDING",
			refusal: `expected value to be one of "` + targets + `"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			registry := huma.NewMapRegistry("#/components/schemas/", huma.DefaultSchemaNamer)
			s := registry.Schema(tc.typ, false, "")
			prop := s.Properties["status"]
			if prop == nil || prop.Type != huma.TypeString {
				t.Fatalf("status schema = %+v, want a string", prop)
			}
			if got := strings.Join(enumStrings(prop.Enum), ", "); got != tc.enum {
				t.Fatalf("enum = %s, want %s", got, tc.enum)
			}
			errs := huma.NewModelValidator().Validate(tc.typ, map[string]any{"status": tc.value})
			switch {
			case tc.refusal == "" && len(errs) > 0:
				t.Fatalf("%s refused: %v", tc.value, errs)
			case tc.refusal != "" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.refusal)):
				t.Fatalf("errors = %v, want one containing %s", errs, tc.refusal)
			}
		})
	}
}

func enumStrings(enum []any) []string {
	out := make([]string, len(enum))
	for i, v := range enum {
		s, ok := v.(string)
		if !ok {
			// Huma compares decoded JSON strings with the enum values by ==.
			return []string{fmt.Sprintf("non-string %T", v)}
		}
		out[i] = s
	}
	return out
}

// sqlStatuses returns the statuses of the last status CHECK in the migrations' up
// sections (a later migration replaces an earlier constraint; a down section restores
// an older one).
func sqlStatuses(migrations []string) ([]string, error) {
	checkList := regexp.MustCompile(`(?is)CHECK\s*\(\s*status\s+IN\s*\(([^)]*)\)`)
	var last string
	for _, m := range migrations {
		up, _, _ := strings.Cut(m, "-- +goose Down")
		for _, match := range checkList.FindAllStringSubmatch(up, -1) {
			last = match[1]
		}
	}
	if last == "" {
		return nil, fmt.Errorf("no CHECK (status IN (...)) constraint")
	}
	var out []string
	for item := range strings.SplitSeq(last, ",") {
		item = strings.TrimSpace(item)
		if len(item) < 2 || item[0] != '\'' || item[len(item)-1] != '\'' {
			return nil, fmt.Errorf("unexpected item %q in the status CHECK", item)
		}
		out = append(out, item[1:len(item)-1])
	}
	return out, nil
}

func TestSQLStatusCheckMatchesStatuses(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "..", "schema", "order", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("order migrations not found: %v", err)
	}
	slices.Sort(files)
	var migrations []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		migrations = append(migrations, string(b))
	}
	var want []string
	for _, s := range client.Statuses() {
		want = append(want, string(s))
	}

	tests := []struct {
		name       string
		migrations []string
		match      bool
	}{
		{name: "committed migrations", migrations: migrations, match: true},
		{name: "a status missing", migrations: []string{`status text CHECK (status IN ('` + strings.Join(want[1:], "', '") + `'))`}},
		{name: "an extra status", migrations: []string{`status text CHECK (status IN ('` + strings.Join(append(want, "SHIPPED"), "', '") + `'))`}},
		{name: "replaced by a later migration", migrations: append(slices.Clone(migrations),
			`ALTER TABLE orders ADD CONSTRAINT s CHECK (status IN ('PENDING'))`)},
		{name: "a down section restores the old list", match: true, migrations: append(slices.Clone(migrations),
			"-- +goose Up\nALTER TABLE orders ADD CONSTRAINT s CHECK (status IN ('"+strings.Join(want, "', '")+"'));\n"+
				"-- +goose Down\nALTER TABLE orders ADD CONSTRAINT s CHECK (status IN ('PENDING'));")},
		{name: "no constraint", migrations: []string{`status text NOT NULL`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sqlStatuses(tc.migrations)
			if err != nil && tc.match {
				t.Fatal(err)
			}
			slices.Sort(got)
			sorted := slices.Sorted(slices.Values(want))
			if match := err == nil && slices.Equal(got, sorted); match != tc.match {
				t.Fatalf("SQL statuses %v, Go statuses %v: match = %v, want %v", got, sorted, match, tc.match)
			}
		})
	}
}
