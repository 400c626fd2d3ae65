// Package schema embeds the SQL migrations of each service's database, one folder per service.
package schema

import (
	"embed"
	"fmt"
	"io/fs"
)

//go:embed inventory/*.sql payment/*.sql order/*.sql
var migrations embed.FS

// Services lists the services that own a database, in the order `migrate` applies them.
func Services() []string { return []string{"inventory", "payment", "order"} }

// For returns the migrations of one service's database.
func For(service string) (fs.FS, error) {
	for _, s := range Services() {
		if s == service {
			return fs.Sub(migrations, service)
		}
	}
	return nil, fmt.Errorf("no schema for service %q", service)
}
