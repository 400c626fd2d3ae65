package faults

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sagaflow/sagaflow/internal/postgres"
	"github.com/sagaflow/sagaflow/tools/localinfra"
)

// Postgres is a private PostgreSQL cluster on a free port, so a scenario can stop and
// restart a service's database server without touching the machine's shared one.
type Postgres struct {
	dir     string
	dataDir string
	pgctl   string
	port    int
	// URL is the server-level DSN (database postgres).
	URL string
}

// StartPostgres creates a cluster in a fresh folder under the system temp dir and starts it.
// As root, the tools run as the postgres user (PostgreSQL refuses to run as root), which
// must own the folder; a temp folder of its own keeps that away from the test's folders.
func StartPostgres(ctx context.Context) (*Postgres, error) {
	initdb, err := postgresTool("initdb")
	if err != nil {
		return nil, err
	}
	pgctl, err := postgresTool("pg_ctl")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sagaflow-faults-pg-")
	if err != nil {
		return nil, err
	}
	port, err := localinfra.FreePort()
	if err != nil {
		return nil, err
	}
	p := &Postgres{dir: dir, dataDir: filepath.Join(dir, "data"), pgctl: pgctl, port: port,
		URL: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)}
	if uid, gid, ok := postgresUser(); ok && os.Geteuid() == 0 {
		if err := os.Chown(dir, int(uid), int(gid)); err != nil {
			return nil, err
		}
	}
	if out, err := asPostgres(exec.CommandContext(ctx, initdb, "-D", p.dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	if err := p.Start(ctx); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return p, nil
}

// Start starts the (stopped) server and waits until it accepts connections.
func (p *Postgres) Start(ctx context.Context) error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", p.port, p.dir)
	if out, err := asPostgres(exec.CommandContext(ctx, p.pgctl, "-D", p.dataDir, "-o", opts,
		"-l", filepath.Join(p.dir, "postgres.log"), "-w", "-t", "60", "start")); err != nil {
		return fmt.Errorf("pg_ctl start: %v: %s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		db, err := postgres.Open(ctx, p.URL, 1)
		if err == nil {
			db.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("private postgres: %w: %v", errNotReady, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Crash stops the server the way a crash does (pg_ctl's immediate mode: every server
// process of this cluster quits at once, without a checkpoint; the next start recovers).
func (p *Postgres) Crash(ctx context.Context) error {
	if out, err := asPostgres(exec.CommandContext(ctx, p.pgctl, "-D", p.dataDir, "-m", "immediate", "-w", "stop")); err != nil {
		return fmt.Errorf("pg_ctl stop: %v: %s", err, out)
	}
	return nil
}

// Close stops the server and removes its folder.
func (p *Postgres) Close() {
	_, _ = asPostgres(exec.Command(p.pgctl, "-D", p.dataDir, "-m", "immediate", "-w", "stop"))
	_ = os.RemoveAll(p.dir)
}

func asPostgres(cmd *exec.Cmd) ([]byte, error) {
	if os.Geteuid() == 0 {
		if uid, gid, ok := postgresUser(); ok {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
		}
	}
	return cmd.CombinedOutput()
}

func postgresUser() (uint32, uint32, bool) {
	ids := [2]uint32{}
	for i, flag := range []string{"-u", "-g"} {
		out, err := exec.Command("id", flag, "postgres").Output()
		if err != nil {
			return 0, 0, false
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(out)))
		if err != nil {
			return 0, 0, false
		}
		ids[i] = uint32(n)
	}
	return ids[0], ids[1], true
}

func postgresTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) > 0 {
		return matches[len(matches)-1], nil
	}
	return "", fmt.Errorf("%s not found: install PostgreSQL", name)
}

// Redis is a private redis-server on a free port that keeps nothing on disk, so a scenario
// can stop it and start it again empty (which is what a flush looks like to the API).
type Redis struct {
	bin  string
	port int
	log  string
	// URL is the server's redis:// URL.
	URL string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRedis starts a private redis-server writing its log into dir.
func StartRedis(ctx context.Context, dir string) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found: install Redis")
	}
	port, err := localinfra.FreePort()
	if err != nil {
		return nil, err
	}
	r := &Redis{bin: bin, port: port, log: filepath.Join(dir, "redis.log"), URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port)}
	return r, r.Start(ctx)
}

// Start runs the server (again, empty) and waits until it answers.
func (r *Redis) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	log, err := os.OpenFile(r.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(r.bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(r.port), "--save", "", "--appendonly", "no")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); log.Close(); close(done) }()
	r.cmd, r.done = cmd, done
	deadline := time.Now().Add(10 * time.Second)
	for r.ping(ctx) != nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("private redis-server: %w", errNotReady)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// Kill ends the server with SIGKILL (by the PID this harness started) and waits for it.
func (r *Redis) Kill() {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Flush empties the server, as FLUSHALL by an operator would.
func (r *Redis) Flush(ctx context.Context) error {
	c := r.client()
	defer c.Close()
	return c.FlushAll(ctx).Err()
}

// Close stops the server.
func (r *Redis) Close() { r.Kill() }

func (r *Redis) client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))})
}

func (r *Redis) ping(ctx context.Context) error {
	c := r.client()
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
}
