package localinfra

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions say how to run a private redis-server.
type RedisOptions struct {
	// Port the server listens on, on 127.0.0.1 only; 0 picks a free one.
	Port int
}

// Redis is a private redis-server this process started. It keeps nothing on disk, so a
// Start after Kill or Stop brings it back empty (which is what a flush looks like to its
// clients). Its log is dir/redis.log.
type Redis struct {
	bin  string
	port int
	log  string
	// URL is the server's redis:// URL (database 0).
	URL string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRedis starts a private redis-server logging into dir and waits until it answers.
// The caller stops it with Stop or Kill.
func StartRedis(ctx context.Context, dir string, opts RedisOptions) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, &MissingToolError{Tool: "redis-server", Install: "Redis (e.g. apt-get install redis-server)"}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port := opts.Port
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	r := &Redis{bin: bin, port: port, log: filepath.Join(dir, "redis.log"), URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port)}
	// A new server starts a new log; restarts of this one append to it.
	f, err := os.Create(r.log)
	if err != nil {
		return nil, err
	}
	_ = f.Close()
	if err := r.Start(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Start runs the server (again, empty) on its port and waits until it answers; it must
// not be running. When it does not answer within 10 s, Start kills it.
func (r *Redis) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done != nil && !isClosed(r.done) {
		return errors.New("redis-server is already running")
	}
	log, err := os.OpenFile(r.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(r.bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(r.port), "--save", "", "--appendonly", "no")
	cmd.Stdout, cmd.Stderr = log, log
	// Own process group, so a Ctrl-C aimed at our terminal reaches us first and we stop it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = log.Close(); close(done) }()
	r.cmd, r.done = cmd, done
	const limit = 10 * time.Second
	deadline := time.Now().Add(limit)
	for pingRedis(ctx, r.URL) != nil {
		if isClosed(done) {
			return fmt.Errorf("redis-server exited during start; see %s", r.log)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("private redis-server did not answer within %s; see %s", limit, r.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// Kill ends the server at once with SIGKILL, as a crash would, and waits for it.
func (r *Redis) Kill() {
	cmd, done := r.running()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Stop ends the server with SIGTERM, and SIGKILL if it has not exited within 5 s.
func (r *Redis) Stop() error {
	cmd, done := r.running()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	return nil
}

// running returns the server's process, or nil when it is not running.
func (r *Redis) running() (*exec.Cmd, chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil || isClosed(r.done) {
		return nil, nil
	}
	return r.cmd, r.done
}

// PID is the server's process id, or 0 when it is not running.
func (r *Redis) PID() int {
	cmd, _ := r.running()
	if cmd == nil {
		return 0
	}
	return cmd.Process.Pid
}

// Flush empties the server, as FLUSHALL by an operator would.
func (r *Redis) Flush(ctx context.Context) error {
	opts, err := redis.ParseURL(r.URL)
	if err != nil {
		return err
	}
	c := redis.NewClient(opts)
	defer func() { _ = c.Close() }()
	return c.FlushAll(ctx).Err()
}

// LogPath is the server's log file.
func (r *Redis) LogPath() string { return r.log }

// EnsureRedis returns a Redis URL: redisURL when a server answers there (and no handle),
// else that of a private redis-server started in dir with opts, which the caller must
// stop. It says on log when it starts one.
func EnsureRedis(ctx context.Context, redisURL, dir string, opts RedisOptions, log io.Writer) (string, *Redis, error) {
	if pingRedis(ctx, redisURL) == nil {
		return redisURL, nil, nil
	}
	_, _ = fmt.Fprintf(log, "Redis does not answer at %s; starting a private redis-server\n", redactURL(redisURL))
	r, err := StartRedis(ctx, dir, opts)
	if err != nil {
		return "", nil, err
	}
	return r.URL, r, nil
}

func pingRedis(ctx context.Context, redisURL string) error {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return err
	}
	c := redis.NewClient(opts)
	defer func() { _ = c.Close() }()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
