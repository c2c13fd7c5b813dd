// Package redisserver starts private redis-server instances for tests: from
// the local redis-server binary (the default) or in a Docker container, with
// one API for both. A server listens on a free port of its own, keeps no
// data across restarts, and can be stopped, killed, restarted on the same
// port, paused and resumed, which makes it a harness for testing clients
// against crashes and hangs.
//
// The package speaks RESP through the resp module only (it never imports our
// client), so any project can use it in its tests.
//
// # Use
//
// In a test, Run starts a server and stops it when the test ends:
//
//	func TestSomething(t *testing.T) {
//		srv := redisserver.Run(t, redisserver.Options{Password: "secret"})
//		client := myclient.New(srv.Addr(), "secret")
//		...
//		srv.Kill()                   // a crash: connections are refused
//		srv.Restart(t.Context())     // back, same address, no data
//		srv.Pause()                  // accepts connections, answers nothing
//		srv.Resume()
//	}
//
// Elsewhere (a TestMain, a program), Start does the same and the caller calls
// Stop. Server.Do is a small administration call (one command on a short
// connection, authenticated) for setting up and checking state; Server.DoAll
// sends several in one round trip.
//
// # Choosing the binary and the backend
//
// The binary is Options.Binary, else $REDIS_SERVER_BIN, else redis-server on
// $PATH. The backend is Options.Backend; its zero value, BackendAuto, takes
// $REDISSERVER_BACKEND ("binary" or "container"), so a whole test suite can
// run against containers without a code change.
//
// # What a server is
//
// redisserver writes a redis.conf: loopback bind (for containers, everything
// inside the container, published on one host address, see below), the
// port, a private working directory, the log on stdout, no persistence
// (save "" and appendonly no), and DEBUG enabled (enable-debug-command yes:
// DEBUG SLEEP and friends are handy fault injectors). Options add a
// password (requirepass), ACL users ("user" directives), a unix socket, TLS
// on the port, cluster mode, and any other line (Options.Config, written
// last so it wins) or command-line argument (Options.Args).
//
// Redis has no "port 0", so redisserver chooses the port: a random one below
// the kernel's ephemeral port range (so that no outgoing connection takes a
// killed server's port as its local port), free when it checks, never one
// of this process's other servers (nor their cluster bus ports; cluster
// mode keeps Port+10000 free too, also below the ephemeral range). Another process can
// take the port before redis-server binds it; the start then fails with
// "Address already in use" in the log and Start tries another port, up to
// DefaultStartAttempts times. A server is ready when it answers a PING
// (anything but a LOADING error) while it runs, within the context; the log
// line "Ready to accept connections" only speeds the wait up, so a server
// configured to log less ("loglevel warning", a logfile) starts too: it is
// told from another process's server by the listening socket its process
// holds (Linux), or else by INFO's config_file. A TLS certificate that the
// probe rejects fails the start at once.
// A failed start returns a *StartError carrying the end of the server log.
//
// Restart keeps the port: if another process took it while the server was
// down, Restart fails with an error matching ErrPortInUse rather than move
// the server; it can be called again once the port is free. It keeps the
// redis.conf too, CONFIG REWRITE's changes included.
//
// # No leaks
//
// Every redis-server runs in a process group of its own; Stop sends SIGTERM,
// then SIGKILL to the group after Options.StopTimeout; Kill sends SIGKILL to
// the group. Each process is waited for (no zombies), and on Linux,
// when it exits, whatever it forked is killed too. On Linux every server is also started
// with Pdeathsig SIGKILL from one dedicated goroutine that holds its OS
// thread locked for as long as one of its servers lives (Pdeathsig fires
// when the parent thread exits), so servers die with the test binary even
// when it is killed with SIGKILL. A test checks exactly that. Elsewhere a
// killed test binary leaves its servers running.
//
// A test binary killed that way also leaves the servers' temporary
// directories, and its containers (see below); both carry the identity of
// the process that made them (host, boot ID, PID, process start time) and
// the next process that starts a server removes those whose creator is gone.
// Nothing of the package keeps running once all servers are stopped, so
// tests using go.uber.org/goleak pass.
//
// # The container backend
//
// Containers are created with testcontainers-go, and need a Docker engine
// on the local Linux host. redisserver never pulls an image:
//
//   - ContainerOptions.Image names an image that must be present locally;
//     it must run redis-server with the arguments it is given, as the
//     official redis images do.
//   - Otherwise redisserver builds one from the local redis-server binary,
//     FROM scratch: the binary, the shared libraries ldd lists for it (the
//     dynamic loader included), an empty /data directory writable by anyone
//     as the working directory, and nothing else. It is built once and
//     tagged DefaultImageRepository:<redis version>-<hash of the binary and
//     its libraries>; builds are serialised within the process and, with a
//     file lock, across processes (parallel test binaries), and the tag is
//     checked again under the lock. The image stays cached; remove it with
//     "docker image rm $(docker images -q justredis/redisserver)".
//
// Networking: a container listens on port 6379 inside, and Docker publishes
// it at the port redisserver chose on the gateway address of the container's
// network: the host's own address on that Docker bridge (172.17.0.1 on the
// default bridge). The test process reaches that address directly, and so
// do the other containers, so each server has one address that works from
// everywhere; it announces it to replicas (replica-announce-ip/port) and, in
// cluster mode, to its cluster peers (cluster-announce-ip, -port and
// -bus-port, the bus being published at Port+10000 too). Two container
// nodes can CLUSTER MEET each other at their Addr, and cluster redirections
// name addresses the test process can use. The port binding is explicit, so
// a restart keeps the address. Options.Container.Network attaches the
// container to a user-defined network (NewNetwork makes one);
// Server.DisconnectNetwork cuts a server off it, a network partition: its
// published ports go away and it reaches nobody, while the process lives on;
// ConnectNetwork heals it. Kill, Restart, Pause (docker pause, the cgroup
// freezer) and Resume behave as with a process.
//
// Ryuk, testcontainers-go's reaper container, is disabled: it needs an image
// of its own, which machines without a registry cannot pull. redisserver
// sets TESTCONTAINERS_RYUK_DISABLED=true before testcontainers-go reads its
// configuration, unless the variable is already set (set it to "false" to
// keep Ryuk where it can run; testcontainers-go reads its configuration once
// per process, so a process that used testcontainers-go before redisserver
// keeps its own setting). redisserver cleans up instead: Stop removes the
// container (under a context of its own, so that a Stop whose context ended
// still does, and again at the next Stop if the removal failed); every
// container and network it creates carries the owner labels (LabelOwnerPID
// and friends), and the first container start of a process calls
// ReapOrphans, which removes those whose creating process is known to be
// gone (on this host, in this PID namespace). The images carry LabelMarker.
//
// # Dependencies
//
// Beside the standard library and our resp module:
//
//   - github.com/testcontainers/testcontainers-go creates and removes the
//     containers and networks, and finds and configures the Docker engine
//     ($DOCKER_HOST, Docker contexts, ~/.testcontainers.properties).
//   - github.com/moby/moby/client, github.com/moby/moby/api and
//     github.com/containerd/errdefs come with it: they are the Docker API
//     client and types that testcontainers-go itself uses, called directly
//     for what it does not wrap (kill, pause, image builds, network
//     connection) and to classify the engine's errors.
//   - golang.org/x/sys (also required by testcontainers-go) provides waitid
//     on Linux, to kill a server's leftover children before reaping it.
//   - The tests use github.com/stretchr/testify and go.uber.org/goleak.
//
// # Platforms
//
// Linux has everything. Other Unix systems lack Pdeathsig (a test binary
// killed with SIGKILL leaves its servers) and the image build (use
// ContainerOptions.Image). Windows cannot pause a process. The container
// backend needs a Docker engine whose bridge gateway is an address of the
// test host: a local Docker Engine on Linux.
package redisserver
