package redisserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// killWait bounds the wait for a process to go after SIGKILL.
const killWait = 10 * time.Second

// findBinary returns the redis-server to run: name (a path or a name looked
// up in $PATH), else $REDIS_SERVER_BIN, else "redis-server" from $PATH.
func findBinary(name string) (string, error) {
	source := "Options.Binary"
	if name == "" {
		name, source = os.Getenv(BinaryEnv), "$"+BinaryEnv
	}
	if name == "" {
		name, source = "redis-server", "$PATH"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %s (from %s): %w; install Redis or set $%s",
			ErrBinaryNotFound, name, source, err, BinaryEnv)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrBinaryNotFound, path, err)
	}
	return abs, nil
}

// binaryBackend runs redis-server as a child process, in a process group of
// its own, in a private temporary directory that holds its redis.conf, its
// unix socket and its nodes.conf.
type binaryBackend struct {
	opts *Options   // the Server's; immutable
	logs *logBuffer // the Server's
	bin  string     // absolute path of redis-server; immutable
	dir  string     // private directory; immutable, removed by close

	run         *procRun // the current (or last) run, nil before the first; guarded by Server.mu
	confWritten bool     // redis.conf is written for the current port; guarded by Server.mu
}

// procRun is one redis-server process.
type procRun struct {
	proc *os.Process
	done chan struct{} // closed once the process is reaped and its output drained
	err  error         // cmd.Wait's result; read after done is closed
}

func (r *procRun) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

func newBinaryBackend(opts *Options, logs *logBuffer) (*binaryBackend, error) {
	bin, err := findBinary(opts.Binary)
	if err != nil {
		return nil, err
	}
	return &binaryBackend{opts: opts, logs: logs, bin: bin}, nil
}

func (b *binaryBackend) prepare(ctx context.Context) (string, error) {
	dir, err := makeServerDir()
	if err != nil {
		return "", fmt.Errorf("redisserver: %w", err)
	}
	b.dir = dir
	return "127.0.0.1", nil
}

// unixSocket is the socket path, or "" when Options.UnixSocket is false.
func (b *binaryBackend) unixSocket() string {
	if !b.opts.UnixSocket || b.dir == "" {
		return ""
	}
	return filepath.Join(b.dir, "redis.sock")
}

func (b *binaryBackend) start(ctx context.Context, port int) (<-chan struct{}, error) {
	p := placement{bind: "127.0.0.1", port: port, dir: b.dir, unixSocket: b.unixSocket()}
	if t := b.opts.TLS; t != nil {
		var err error
		if p.certFile, err = filepath.Abs(t.CertFile); err != nil {
			return nil, err
		}
		if p.keyFile, err = filepath.Abs(t.KeyFile); err != nil {
			return nil, err
		}
		if p.caFile, err = filepath.Abs(t.CAFile); err != nil {
			return nil, err
		}
	}
	// redis.conf is written by the first start (on each port it tries),
	// not by restarts: a CONFIG REWRITE survives Restart, as it does in a
	// container, whose file is written once.
	conf := filepath.Join(b.dir, "redis.conf")
	if !b.confWritten {
		if err := os.WriteFile(conf, renderConfig(b.opts, p), 0o600); err != nil {
			return nil, fmt.Errorf("redisserver: %w", err)
		}
		b.confWritten = true
	}

	// The log goes to stdout (logfile ""); stdout and stderr share one pipe,
	// read by a goroutine of ours until every writer (redis-server and
	// anything it forked) has closed it.
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("redisserver: %w", err)
	}
	cmd := exec.Command(b.bin, append([]string{conf}, b.opts.Args...)...)
	cmd.Dir = b.dir
	cmd.Stdout = w
	cmd.Stderr = w
	setProcAttrs(cmd)
	release, err := startProcess(cmd)
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("redisserver: start %s: %w", b.bin, err)
	}

	run := &procRun{proc: cmd.Process, done: make(chan struct{})}
	drained := make(chan struct{})
	go func() {
		lw := &lineWriter{log: b.logs}
		_, _ = io.Copy(lw, r)
		lw.flush()
		r.Close()
		close(drained)
	}()
	go func() {
		killLeftovers(cmd.Process)
		run.err = cmd.Wait()
		release()
		<-drained
		close(run.done)
	}()
	b.run = run
	return run.done, nil
}

func (b *binaryBackend) alive() bool { return b.run != nil && !b.run.exited() }

// discard makes the next start, on another port, write redis.conf again.
func (b *binaryBackend) discard(ctx context.Context) error {
	b.confWritten = false
	return nil
}

func (b *binaryBackend) stop(ctx context.Context, grace time.Duration) error {
	if !b.alive() {
		return nil
	}
	if err := terminate(b.run.proc); err != nil {
		return err
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-b.run.done:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	return b.killAndWait()
}

func (b *binaryBackend) kill(ctx context.Context) error {
	if !b.alive() {
		return nil
	}
	return b.killAndWait()
}

// killAndWait sends SIGKILL to the process group and waits for the end of
// the run. It does not stop waiting when a context ends: a process that got
// SIGKILL goes at once, and the caller must not start another run before.
func (b *binaryBackend) killAndWait() error {
	if err := killGroup(b.run.proc); err != nil {
		return err
	}
	t := time.NewTimer(killWait)
	defer t.Stop()
	select {
	case <-b.run.done:
		return nil
	case <-t.C:
		return fmt.Errorf("redisserver: process %d still there %v after SIGKILL", b.run.proc.Pid, killWait)
	}
}

func (b *binaryBackend) pause(ctx context.Context) error { return pauseGroup(b.run.proc) }

func (b *binaryBackend) resume(ctx context.Context) error { return resumeGroup(b.run.proc) }

func (b *binaryBackend) close(ctx context.Context) error {
	if b.dir == "" {
		return nil
	}
	err := os.RemoveAll(b.dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// pid returns the process ID of the running server, or 0.
func (b *binaryBackend) pid() int {
	if !b.alive() {
		return 0
	}
	return b.run.proc.Pid
}

// directory returns the server's private directory.
func (b *binaryBackend) directory() string { return b.dir }
