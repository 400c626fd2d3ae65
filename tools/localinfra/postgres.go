package localinfra

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sagaflow/sagaflow/internal/postgres"
)

// MissingToolError says a server program is not installed on this machine, so a caller
// can tell it from a server that failed (tests skip on it, `make run` adds its own hint).
type MissingToolError struct {
	Tool    string // the program looked for
	Install string // what provides it
}

func (e *MissingToolError) Error() string { return e.Tool + " not found: install " + e.Install }

// FindPostgresTool returns the path of a PostgreSQL server program (initdb, pg_ctl, ...):
// from PATH, else from the newest /usr/lib/postgresql/<version>/bin, where Debian puts
// them without linking them into PATH.
func FindPostgresTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	sort.Slice(matches, func(i, j int) bool { return pgVersion(matches[i]) < pgVersion(matches[j]) })
	if len(matches) > 0 {
		return matches[len(matches)-1], nil
	}
	return "", &MissingToolError{Tool: name, Install: "PostgreSQL (e.g. apt-get install postgresql)"}
}

// pgVersion is the version folder of a Debian PostgreSQL path as a number, so 15 sorts
// after 9.6.
func pgVersion(path string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(path))), 64)
	return v
}

// PostgresOptions say how to run a private cluster.
type PostgresOptions struct {
	// Port the server listens on, on 127.0.0.1 only; 0 picks a free one.
	Port int
	// NoSync skips every fsync (initdb --no-sync, fsync=off). A crash of the server still
	// loses nothing committed, only a crash of the machine may: for clusters that are
	// thrown away after a run.
	NoSync bool
	// Settings are extra server settings, name → value (e.g. max_connections).
	Settings map[string]string
}

// Postgres is a private PostgreSQL cluster: its data in dir/postgres, its log in
// dir/postgres.log and its socket in dir.
type Postgres struct {
	dir     string
	dataDir string
	pgctl   string
	port    int
	opts    string // the server's command-line options, for pg_ctl -o
	// URL is the server-level DSN (database postgres, user postgres, no password).
	URL string
}

// StartPostgres starts a private cluster in dir, creating it first unless dir already
// holds one (so `make run` keeps its data between runs), and waits until it accepts
// connections. The caller stops it with Stop or Crash; the folder stays.
//
// PostgreSQL refuses to run as root, so as root the tools run as the postgres user, which
// is given dir: dir's parents must let that user through (a folder of its own under the
// system temp dir does; t.TempDir() does not).
func StartPostgres(ctx context.Context, dir string, opts PostgresOptions) (*Postgres, error) {
	pgctl, err := FindPostgresTool("pg_ctl")
	if err != nil {
		return nil, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	p := &Postgres{dir: dir, dataDir: filepath.Join(dir, "postgres"), pgctl: pgctl, port: opts.Port}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(p.dataDir, 0o700); err != nil {
		return nil, err
	}
	if uid, gid, ok := postgresUser(); ok && os.Geteuid() == 0 {
		for _, d := range []string{dir, p.dataDir} {
			if err := os.Chown(d, uid, gid); err != nil {
				return nil, err
			}
		}
	}
	if _, err := os.Stat(filepath.Join(p.dataDir, "PG_VERSION")); err != nil {
		initdb, err := FindPostgresTool("initdb")
		if err != nil {
			return nil, err
		}
		args := []string{"-D", p.dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8"}
		if opts.NoSync {
			args = append(args, "--no-sync")
		}
		if out, err := asPostgres(exec.CommandContext(ctx, initdb, args...)); err != nil {
			return nil, fmt.Errorf("initdb: %w: %s", err, out)
		}
	}
	if p.port == 0 {
		if p.port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	p.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
	p.opts = serverOptions(p.port, dir, opts)
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// serverOptions are the postgres command-line options; pg_ctl passes them through a
// shell, hence the quoted socket folder.
func serverOptions(port int, socketDir string, opts PostgresOptions) string {
	o := []string{"-p", strconv.Itoa(port), "-k", shellQuote(socketDir), "-c", "listen_addresses=127.0.0.1"}
	if opts.NoSync {
		o = append(o, "-c", "fsync=off")
	}
	keys := make([]string, 0, len(opts.Settings))
	for k := range opts.Settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		o = append(o, "-c", shellQuote(k+"="+opts.Settings[k]))
	}
	return strings.Join(o, " ")
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Start starts the (stopped) server and waits until it accepts connections. When it
// does not, Start stops what it started, so no caller is left with a server it does not
// know is running.
func (p *Postgres) Start(ctx context.Context) error {
	if out, err := asPostgres(exec.CommandContext(ctx, p.pgctl, "-D", p.dataDir, "-o", p.opts,
		"-l", p.LogPath(), "-w", "-t", "60", "start")); err != nil {
		return fmt.Errorf("pg_ctl start: %w: %s", err, out)
	}
	// pg_ctl -w returns once the server accepts connections on its socket; wait for TCP,
	// which is what every caller uses.
	const limit = 30 * time.Second
	deadline := time.Now().Add(limit)
	for {
		db, err := postgres.Open(ctx, p.URL, 1)
		if err == nil {
			_ = db.Close()
			return nil
		}
		if time.Now().After(deadline) {
			_ = p.Crash(context.Background())
			return fmt.Errorf("private PostgreSQL at 127.0.0.1:%d not ready within %s: %w", p.port, limit, err)
		}
		select {
		case <-ctx.Done():
			_ = p.Crash(context.Background())
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Crash stops the server the way a crash does: pg_ctl's immediate mode makes every server
// process of this cluster quit at once, without a checkpoint; the next Start recovers.
func (p *Postgres) Crash(ctx context.Context) error {
	return p.stop(ctx, "immediate")
}

// Stop shuts the server down cleanly (pg_ctl's fast mode: open sessions are ended, then
// a checkpoint).
func (p *Postgres) Stop() error {
	return p.stop(context.Background(), "fast")
}

// stop goes through pg_ctl, which signals the postmaster whose PID this cluster's own
// data folder records, so it can only ever stop this cluster.
func (p *Postgres) stop(ctx context.Context, mode string) error {
	if out, err := asPostgres(exec.CommandContext(ctx, p.pgctl, "-D", p.dataDir, "-m", mode, "-w", "stop")); err != nil {
		return fmt.Errorf("pg_ctl stop: %w: %s", err, out)
	}
	return nil
}

// Dir is the cluster's folder.
func (p *Postgres) Dir() string { return p.dir }

// Port is the TCP port the server listens on.
func (p *Postgres) Port() int { return p.port }

// LogPath is the server's log file.
func (p *Postgres) LogPath() string { return filepath.Join(p.dir, "postgres.log") }

// EnsurePostgres returns a server-level DSN: adminURL when a server answers there (and
// no handle), else that of a private cluster started in dir with opts, which the caller
// must stop. It says on log when it starts one.
func EnsurePostgres(ctx context.Context, adminURL, dir string, opts PostgresOptions, log io.Writer) (string, *Postgres, error) {
	if db, err := postgres.Open(ctx, adminURL, 1); err == nil {
		_ = db.Close()
		return adminURL, nil, nil
	}
	_, _ = fmt.Fprintf(log, "PostgreSQL does not answer at %s; starting a private cluster\n", redactURL(adminURL))
	p, err := StartPostgres(ctx, dir, opts)
	if err != nil {
		return "", nil, err
	}
	return p.URL, p, nil
}

// asPostgres runs a PostgreSQL tool and returns its output. As root it runs the tool as
// the postgres system user when there is one (the tools refuse to run as root).
func asPostgres(cmd *exec.Cmd) ([]byte, error) {
	if os.Geteuid() == 0 {
		if uid, gid, ok := postgresUser(); ok {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		}
	}
	return cmd.CombinedOutput()
}

func postgresUser() (uid, gid int, ok bool) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return 0, 0, false
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return uid, gid, true
}
