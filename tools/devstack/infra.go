// Package devstack runs the whole system on one machine for development: it finds or
// starts PostgreSQL, Redis and the Temporal dev server, then runs every component.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sagaflow/sagaflow/internal/postgres"
)

// process is an infrastructure server this run started and must stop.
type process struct {
	name string
	stop func() error
}

// ensurePostgres returns a server-level DSN: the configured one when it answers, else a
// private cluster created under stateDir with the machine's initdb/pg_ctl.
func ensurePostgres(ctx context.Context, adminURL, stateDir string, log io.Writer) (string, *process, error) {
	if db, err := postgres.Open(ctx, adminURL, 1); err == nil {
		db.Close()
		return adminURL, nil, nil
	}
	fmt.Fprintf(log, "PostgreSQL does not answer at %s; starting a private cluster\n", redactURL(adminURL))
	initdb, err := findPostgresTool("initdb")
	if err != nil {
		return "", nil, err
	}
	pgctl, err := findPostgresTool("pg_ctl")
	if err != nil {
		return "", nil, err
	}
	dataDir := filepath.Join(stateDir, "postgres")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", nil, err
	}
	if os.Geteuid() == 0 {
		// The cluster runs as the postgres user, which must own its folders.
		if uid, gid, ok := postgresUser(); ok {
			_ = os.Chown(stateDir, int(uid), int(gid))
			_ = os.Chown(dataDir, int(uid), int(gid))
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); err != nil {
		if out, err := runAsPostgresCapable(exec.CommandContext(ctx, initdb, "-D", dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8")); err != nil {
			return "", nil, fmt.Errorf("initdb: %v: %s", err, out)
		}
	}
	const port = 55432
	socketDir, _ := filepath.Abs(stateDir)
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", port, socketDir)
	if out, err := runAsPostgresCapable(exec.CommandContext(ctx, pgctl, "-D", dataDir, "-o", opts, "-l", filepath.Join(stateDir, "postgres.log"), "-w", "start")); err != nil {
		return "", nil, fmt.Errorf("pg_ctl start: %v: %s", err, out)
	}
	stop := func() error {
		_, err := runAsPostgresCapable(exec.Command(pgctl, "-D", dataDir, "-m", "fast", "-w", "stop"))
		return err
	}
	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	return dsn, &process{name: "PostgreSQL", stop: stop}, nil
}

// runAsPostgresCapable runs a PostgreSQL tool; PostgreSQL refuses to run as root, so as
// root it runs the tool as the postgres system user when that user exists.
func runAsPostgresCapable(cmd *exec.Cmd) ([]byte, error) {
	if os.Geteuid() == 0 {
		if uid, gid, ok := postgresUser(); ok {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
		}
	}
	return cmd.CombinedOutput()
}

func postgresUser() (uint32, uint32, bool) {
	out, err := exec.Command("id", "-u", "postgres").Output()
	if err != nil {
		return 0, 0, false
	}
	uid, err := strconv.Atoi(string(trimNL(out)))
	if err != nil {
		return 0, 0, false
	}
	out, err = exec.Command("id", "-g", "postgres").Output()
	if err != nil {
		return 0, 0, false
	}
	gid, err := strconv.Atoi(string(trimNL(out)))
	if err != nil {
		return 0, 0, false
	}
	return uint32(uid), uint32(gid), true
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func findPostgresTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) > 0 {
		return matches[len(matches)-1], nil
	}
	return "", fmt.Errorf("%s not found: install PostgreSQL (e.g. apt-get install postgresql) or set DEV_POSTGRES_URL", name)
}

// ensureRedis returns a Redis URL: the configured one when it answers, else a private
// redis-server started on a spare port that keeps nothing on disk.
func ensureRedis(ctx context.Context, redisURL, stateDir string, log io.Writer) (string, *process, error) {
	if pingRedis(ctx, redisURL) == nil {
		return redisURL, nil, nil
	}
	fmt.Fprintf(log, "Redis does not answer at %s; starting a private redis-server\n", redactURL(redisURL))
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, errors.New("redis-server not found: install Redis (e.g. apt-get install redis-server) or set REDIS_URL")
	}
	const port = 56379
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return "", nil, err
	}
	logFile, err := os.Create(filepath.Join(stateDir, "redis.log"))
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return "", nil, fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logFile.Close(); close(done) }()
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	deadline := time.Now().Add(10 * time.Second)
	for pingRedis(ctx, url) != nil {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return "", nil, errors.New("private redis-server did not answer within 10s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		return nil
	}
	return url, &process{name: "Redis", stop: stop}, nil
}

func pingRedis(ctx context.Context, redisURL string) error {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return err
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
}

// ensureDatabase creates database name on the server unless it exists, and returns its DSN.
func ensureDatabase(ctx context.Context, adminURL, name string) (string, error) {
	db, err := postgres.Open(ctx, adminURL, 1)
	if err != nil {
		return "", err
	}
	defer db.Close()
	var exists bool
	if err := db.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name); err != nil {
		return "", err
	}
	if !exists {
		if _, err := db.ExecContext(ctx, `CREATE DATABASE "`+name+`"`); err != nil && !postgres.IsUniqueViolation(err) {
			return "", fmt.Errorf("create database %s: %w", name, err)
		}
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Redacted()
}
