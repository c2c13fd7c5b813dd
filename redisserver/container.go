package redisserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }

// containerBackend runs redis-server in a Docker container created with
// testcontainers-go. The container listens on containerPort inside; Docker
// publishes it (and the cluster bus port) on the network's gateway address
// at the port redisserver chose, the same port on every restart. Servers
// announce that address to replicas and cluster peers, so the test process
// and the other containers use one address for each server.
type containerBackend struct {
	opts *Options   // the Server's; immutable
	logs *logBuffer // the Server's

	// Set by prepare; immutable after.
	cli     *testcontainers.DockerClient // shared client, released by close
	image   string
	network string // network name ("bridge" for Docker's default)
	gateway string // host address on the network, where ports are published
	sockDir string // host directory mounted at containerSockDir, or ""

	// Guarded by Server.mu.
	ctr    *testcontainers.DockerContainer // nil until created
	port   int                             // host port of ctr
	run    *ctrRun                         // the current (or last) run
	paused bool                            // docker pause is in effect
}

// ctrRun is one run of the container: from a start to its stop, as seen by
// following its log.
type ctrRun struct {
	cancel context.CancelFunc // stops following the log
	done   chan struct{}      // closed when the log stream ended
	lines  int                // log lines up to the end of this run; read after done
}

func (r *ctrRun) ended() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

func newContainerBackend(opts *Options, logs *logBuffer) (*containerBackend, error) {
	return &containerBackend{opts: opts, logs: logs}, nil
}

func (b *containerBackend) prepare(ctx context.Context) (string, error) {
	cli, err := acquireDocker(ctx)
	if err != nil {
		return "", err
	}
	b.cli = cli
	if b.image, err = containerImage(ctx, cli, b.opts); err != nil {
		return "", err
	}
	if b.network, b.gateway, err = networkGateway(ctx, cli, b.opts.Container.Network); err != nil {
		return "", err
	}
	if b.opts.UnixSocket {
		if b.sockDir, err = makeServerDir(); err != nil {
			return "", fmt.Errorf("redisserver: %w", err)
		}
		// redis-server in the container may run as another user.
		if err := os.Chmod(b.sockDir, 0o777); err != nil {
			return "", fmt.Errorf("redisserver: %w", err)
		}
	}
	return b.gateway, nil
}

// create creates (but does not start) the container for host port port.
func (b *containerBackend) create(ctx context.Context, port int) error {
	p := placement{
		bind:         "0.0.0.0",
		port:         containerPort,
		dir:          containerDataDir,
		announceIP:   b.gateway,
		announcePort: port,
	}
	if b.opts.Cluster {
		p.announceBusPort = port + ClusterBusPortOffset
	}
	if b.sockDir != "" {
		p.unixSocket = path.Join(containerSockDir, "redis.sock")
	}
	confPath := path.Join(containerConfDir, "redis.conf")
	files := []testcontainers.ContainerFile{{
		Reader:            bytes.NewReader(renderConfig(b.opts, p)),
		ContainerFilePath: confPath,
		FileMode:          0o644,
	}}
	if t := b.opts.TLS; t != nil {
		tlsDir := path.Join(containerConfDir, "tls")
		p.certFile, p.keyFile, p.caFile = path.Join(tlsDir, "cert.pem"), path.Join(tlsDir, "key.pem"), path.Join(tlsDir, "ca.pem")
		files[0].Reader = bytes.NewReader(renderConfig(b.opts, p))
		for _, f := range []struct{ host, ctr string }{{t.CertFile, p.certFile}, {t.KeyFile, p.keyFile}, {t.CAFile, p.caFile}} {
			body, err := os.ReadFile(f.host)
			if err != nil {
				return fmt.Errorf("%w: TLS: %w", ErrInvalidOptions, err)
			}
			// 0644: the server may run as a user other than root.
			files = append(files, testcontainers.ContainerFile{Reader: bytes.NewReader(body), ContainerFilePath: f.ctr, FileMode: 0o644})
		}
	}

	hostIP, err := netip.ParseAddr(b.gateway)
	if err != nil {
		return fmt.Errorf("redisserver: gateway %q: %w", b.gateway, err)
	}
	bindings := network.PortMap{}
	exposed := []string{strconv.Itoa(containerPort) + "/tcp"}
	bindings[network.MustParsePort(exposed[0])] = []network.PortBinding{{HostIP: hostIP, HostPort: strconv.Itoa(port)}}
	if b.opts.Cluster {
		bus := strconv.Itoa(containerPort+ClusterBusPortOffset) + "/tcp"
		exposed = append(exposed, bus)
		bindings[network.MustParsePort(bus)] = []network.PortBinding{{HostIP: hostIP, HostPort: strconv.Itoa(port + ClusterBusPortOffset)}}
	}
	req := testcontainers.ContainerRequest{
		Image:        b.image,
		Name:         "redisserver-" + strconv.Itoa(port) + "-" + randomHex(4),
		Cmd:          append([]string{confPath}, b.opts.Args...),
		Labels:       ownerLabels("server"),
		ExposedPorts: exposed,
		Files:        files,
		HostConfigModifier: func(hc *container.HostConfig) {
			hc.PortBindings = bindings
			hc.NetworkMode = container.NetworkMode(b.network)
			if b.sockDir != "" {
				hc.Binds = []string{b.sockDir + ":" + containerSockDir}
			}
		},
	}
	if b.network != "bridge" {
		req.Networks = []string{b.network}
	}
	ctr, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: req,
		Logger:           tclog.NewNoopLogger(),
	})
	if ctr != nil {
		b.ctr = ctr.(*testcontainers.DockerContainer)
	}
	if err != nil {
		return fmt.Errorf("redisserver: create container: %w", err)
	}
	b.port = port
	return nil
}

func (b *containerBackend) start(ctx context.Context, port int) (<-chan struct{}, error) {
	if b.ctr == nil {
		if err := b.create(ctx, port); err != nil {
			return nil, err
		}
	}
	skip := 0
	if b.run != nil {
		skip = b.run.lines
	}
	if _, err := b.cli.ContainerStart(ctx, b.ctr.GetContainerID(), client.ContainerStartOptions{}); err != nil {
		// The engine reports a published port that is taken in a few ways.
		msg := err.Error()
		if strings.Contains(msg, "address already in use") || strings.Contains(msg, "port is already allocated") {
			err = fmt.Errorf("%w: %w", ErrPortInUse, err)
		}
		return nil, fmt.Errorf("redisserver: start container: %w", err)
	}
	b.paused = false
	b.run = b.follow(skip)
	return b.run.done, nil
}

// follow follows the container's log from its beginning, skipping the
// lines of earlier runs, until the container stops. The engine replays the
// earlier runs' output byte for byte, so counting newlines finds where this
// run begins (unless the log driver rotated away more than the whole
// earlier output, which takes tens of megabytes of server log).
func (b *containerBackend) follow(skip int) *ctrRun {
	ctx, cancel := context.WithCancel(context.Background())
	run := &ctrRun{cancel: cancel, done: make(chan struct{}), lines: skip}
	id := b.ctr.GetContainerID()
	go func() {
		defer close(run.done)
		rc, err := b.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
		if err != nil {
			b.logs.add(fmt.Sprintf("redisserver: following the container log: %v", err))
			return
		}
		defer rc.Close()
		lw := &lineWriter{log: b.logs, skip: skip}
		_, _ = stdcopy.StdCopy(lw, lw, rc)
		lw.flush()
		run.lines = lw.n
	}()
	return run
}

func (b *containerBackend) alive() bool { return b.run != nil && !b.run.ended() }

// waitRun waits for the end of the run's log stream once the container is
// known to have stopped.
func (b *containerBackend) waitRun() error {
	t := time.NewTimer(killWait)
	defer t.Stop()
	select {
	case <-b.run.done:
		return nil
	case <-t.C:
		b.run.cancel()
		<-b.run.done
		return fmt.Errorf("redisserver: container %.12s: log stream still open %v after the stop", b.ctr.GetContainerID(), killWait)
	}
}

func (b *containerBackend) discard(ctx context.Context) error {
	if b.ctr == nil {
		return nil
	}
	if b.run != nil {
		b.run.cancel()
		<-b.run.done
		b.run = nil
	}
	err := b.ctr.Terminate(ctx)
	b.ctr = nil
	return err
}

func (b *containerBackend) stop(ctx context.Context, grace time.Duration) error {
	if !b.alive() {
		return nil
	}
	if b.paused {
		if err := b.resume(ctx); err != nil {
			return err
		}
	}
	secs := int(math.Ceil(grace.Seconds()))
	if _, err := b.cli.ContainerStop(ctx, b.ctr.GetContainerID(), client.ContainerStopOptions{Timeout: &secs}); err != nil {
		// A context that ended cuts the graceful stop short: kill.
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultDockerTimeout)
		defer cancel()
		if kerr := b.kill(kctx); kerr != nil {
			return errors.Join(err, kerr)
		}
		return nil
	}
	return b.waitRun()
}

func (b *containerBackend) kill(ctx context.Context) error {
	if !b.alive() {
		return nil
	}
	if _, err := b.cli.ContainerKill(ctx, b.ctr.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil && !isNotRunning(err) {
		return err
	}
	b.paused = false
	return b.waitRun()
}

// isNotRunning reports the engine's "container is not running" conflict.
func isNotRunning(err error) bool {
	return cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "not running")
}

func (b *containerBackend) pause(ctx context.Context) error {
	if _, err := b.cli.ContainerPause(ctx, b.ctr.GetContainerID(), client.ContainerPauseOptions{}); err != nil {
		return err
	}
	b.paused = true
	return nil
}

func (b *containerBackend) resume(ctx context.Context) error {
	if _, err := b.cli.ContainerUnpause(ctx, b.ctr.GetContainerID(), client.ContainerUnpauseOptions{}); err != nil {
		return err
	}
	b.paused = false
	return nil
}

func (b *containerBackend) close(ctx context.Context) error {
	var errs []error
	if b.ctr != nil {
		if b.run != nil {
			b.run.cancel()
			<-b.run.done
		}
		if err := b.ctr.Terminate(ctx); err != nil && !isNotFound(err) {
			// Kept, for the next Stop to try again.
			errs = append(errs, err)
		} else {
			b.ctr = nil
		}
	}
	if b.sockDir != "" {
		if err := os.RemoveAll(b.sockDir); err != nil {
			errs = append(errs, err)
		} else {
			b.sockDir = ""
		}
	}
	if b.cli != nil && b.ctr == nil {
		releaseDocker()
		b.cli = nil
	}
	return errors.Join(errs...)
}

// setConnected connects the container to its network, or disconnects it.
func (b *containerBackend) setConnected(ctx context.Context, connected bool) error {
	id := b.ctr.GetContainerID()
	if connected {
		_, err := b.cli.NetworkConnect(ctx, b.network, client.NetworkConnectOptions{Container: id})
		return err
	}
	_, err := b.cli.NetworkDisconnect(ctx, b.network, client.NetworkDisconnectOptions{Container: id, Force: true})
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
