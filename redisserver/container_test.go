package redisserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
)

// Tests of what only the container backend does.

// assertNoContainer checks that the container id is gone, or going: a
// concurrent ReapOrphans (of another test, or of another test binary) may
// still be removing it.
func assertNoContainer(t testing.TB, id string) {
	t.Helper()
	cli, err := acquireDocker(testCtx(t))
	require.NoError(t, err)
	defer releaseDocker()
	eventually(t, 10*time.Second, func() error {
		_, err := cli.ContainerInspect(testCtx(t), id, client.ContainerInspectOptions{})
		if isNotFound(err) {
			return nil
		}
		return fmt.Errorf("container %.12s still there (%v)", id, err)
	})
}

func TestContainerGivenImage(t *testing.T) {
	t.Parallel()
	requireDocker(t)
	ctx := testCtx(t)
	cli, err := acquireDocker(ctx)
	require.NoError(t, err)
	defer releaseDocker()

	// A name that is not there: no pull, a clear error.
	_, err = Start(ctx, Options{Backend: BackendContainer, Container: ContainerOptions{Image: "justredis/no-such-image:" + randomHex(4)}})
	assert.ErrorIs(t, err, ErrImageNotFound)

	// An image that is there (ours, under another name) is used as is.
	opts := Options{}
	built, err := containerImage(ctx, cli, &opts)
	require.NoError(t, err)
	given := "justredis/redisserver-given:" + randomHex(4)
	_, err = cli.ImageTag(ctx, client.ImageTagOptions{Source: built, Target: given})
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := cli.ImageRemove(context.Background(), given, client.ImageRemoveOptions{})
		assert.NoError(t, err)
	})
	s := Run(t, Options{Backend: BackendContainer, Container: ContainerOptions{Image: given}})
	assert.Equal(t, "PONG", mustDo(t, s, "PING").Str)
	info, err := cli.ContainerInspect(ctx, s.ContainerID(), client.ContainerInspectOptions{})
	require.NoError(t, err)
	assert.Equal(t, given, info.Container.Config.Image)
	assert.Equal(t, "server", info.Container.Config.Labels[LabelMarker])
}

func TestContainerImageIsCached(t *testing.T) {
	t.Parallel()
	requireDocker(t)
	ctx := testCtx(t)
	cli, err := acquireDocker(ctx)
	require.NoError(t, err)
	defer releaseDocker()
	opts := Options{}
	first, err := containerImage(ctx, cli, &opts)
	require.NoError(t, err)
	assert.Regexp(t, `^justredis/redisserver:7\.[0-9.]+-[0-9a-f]{12}$`, first)
	again, err := containerImage(ctx, cli, &opts)
	require.NoError(t, err)
	assert.Equal(t, first, again)
	img, err := cli.ImageInspect(ctx, first)
	require.NoError(t, err)
	assert.Equal(t, "image", img.Config.Labels[LabelMarker])
	assert.Equal(t, []string{imageBinaryPath}, img.Config.Entrypoint)
}

func TestContainerNetworkPartition(t *testing.T) {
	t.Parallel()
	requireDocker(t)
	n, err := NewNetwork(testCtx(t))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, n.Remove(context.Background())) })

	opts := Options{Backend: BackendContainer, Container: ContainerOptions{Network: n.Name()}}
	a, b := Run(t, opts), Run(t, opts)
	assert.Equal(t, n.Name(), a.Network())
	mustDo(t, a, "SET", "k", "a")

	require.NoError(t, a.DisconnectNetwork(testCtx(t)))
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	_, err = a.Do(ctx, "GET", "k")
	cancel()
	assert.Error(t, err, "a disconnected server answered")
	assert.Equal(t, "PONG", mustDo(t, b, "PING").Str)
	assert.True(t, a.Running(), "the process keeps running")

	// The other container reaches a through the same address again.
	require.NoError(t, a.ConnectNetwork(testCtx(t)))
	eventually(t, 10*time.Second, func() error {
		_, err := a.Do(testCtx(t), "PING")
		return err
	})
	assert.Equal(t, "a", mustDo(t, a, "GET", "k").Str)
	mustDo(t, b, "REPLICAOF", a.Host(), a.Port())
	eventually(t, 10*time.Second, func() error {
		v, err := b.Do(testCtx(t), "GET", "k")
		if err == nil && v.Str != "a" {
			err = assert.AnError
		}
		return err
	})
}

func TestReapOrphans(t *testing.T) {
	t.Parallel()
	requireDocker(t)
	ctx := testCtx(t)
	cli, err := acquireDocker(ctx)
	require.NoError(t, err)
	defer releaseDocker()
	opts := Options{}
	img, err := containerImage(ctx, cli, &opts)
	require.NoError(t, err)

	// A container whose creator is gone (a PID with a start time that
	// cannot match), and one whose creator lives (this process).
	create := func(labels map[string]string) string {
		t.Helper()
		ctr, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
			ContainerRequest: testcontainers.ContainerRequest{Image: img, Labels: labels, Cmd: []string{"--port", "0"}},
			Logger:           tclog.NewNoopLogger(),
		})
		require.NoError(t, err)
		id := ctr.GetContainerID()
		t.Cleanup(func() {
			_, _ = cli.ContainerRemove(context.Background(), id, client.ContainerRemoveOptions{Force: true})
		})
		return id
	}
	dead := ownerLabels("server")
	dead[LabelOwnerStart] = "not-a-start-time"
	dead[LabelOwnerPID] = strconv.Itoa(self().pid)
	orphan := create(dead)
	live := create(ownerLabels("server"))

	// Other tests reap too (see TestNoLeakOnSIGKILL): what matters is that
	// the orphan goes and the live one stays.
	_, err = ReapOrphans(ctx)
	require.NoError(t, err)
	assertNoContainer(t, orphan)
	_, err = cli.ContainerInspect(ctx, live, client.ContainerInspectOptions{})
	assert.NoError(t, err, "a live process's container was reaped")
}

// TestAutomaticReapIsBestEffort: an orphan that cannot be removed (a dead
// process's network that a live container still uses) does not fail a
// process's first use of Docker, whose reap is best effort; ReapOrphans,
// called explicitly, reports it. Not parallel: it makes the next Docker use
// of the process reap again, as the first one of a fresh test binary does.
func TestAutomaticReapIsBestEffort(t *testing.T) {
	requireDocker(t)
	ctx := testCtx(t)
	dead := ownerLabels("network")
	dead[LabelOwnerStart] = "not-a-start-time"
	n, err := tcnetwork.New(ctx, tcnetwork.WithLabels(dead))
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := n.Remove(context.Background()); err != nil && !isNotFound(err) {
			t.Error(err)
		}
	})
	s := Run(t, Options{Backend: BackendContainer, Container: ContainerOptions{Network: n.Name}})

	_, err = ReapOrphans(ctx)
	require.Error(t, err, "the orphan network in use was removed: this test proves nothing")

	dockerState.mu.Lock()
	dockerState.reaped = false
	dockerState.mu.Unlock()
	require.NoError(t, CheckDocker(ctx), "the automatic reap failed the first use of Docker")
	dockerState.mu.Lock()
	reaped := dockerState.reaped
	dockerState.mu.Unlock()
	assert.True(t, reaped, "CheckDocker did not reap")
	assert.Equal(t, "PONG", mustDo(t, s, "PING").Str)
}

// buildChildEnv makes TestImageBuildChild run: it holds the tag to build.
const buildChildEnv = "REDISSERVER_BUILD_CHILD"

// testImage returns the description of the image of the local binary, under
// another tag.
func testImage(t testing.TB, tag string) *binaryImage {
	t.Helper()
	bin, err := findBinary("")
	require.NoError(t, err)
	bi, err := inspectBinary(testCtx(t), bin)
	require.NoError(t, err)
	c := *bi
	c.tag = tag
	return &c
}

// TestImageBuildChild is a child process of TestImageBuiltOnce.
func TestImageBuildChild(t *testing.T) {
	tag := os.Getenv(buildChildEnv)
	if tag == "" {
		t.Skip("helper process of TestImageBuiltOnce")
	}
	cli, err := acquireDocker(testCtx(t))
	require.NoError(t, err)
	defer releaseDocker()
	built, err := ensureImage(testCtx(t), cli, testImage(t, tag))
	require.NoError(t, err)
	fmt.Println("built", built)
}

// TestImageBuiltOnce builds an image under a fresh tag from three test
// binaries and two goroutines at once: exactly one of them builds it.
func TestImageBuiltOnce(t *testing.T) {
	t.Parallel()
	requireDocker(t)
	ctx := testCtx(t)
	cli, err := acquireDocker(ctx)
	require.NoError(t, err)
	defer releaseDocker()
	tag := "justredis/redisserver-buildtest:" + randomHex(6)
	t.Cleanup(func() {
		_, err := cli.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{})
		assert.NoError(t, err)
	})

	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		builds int
		errs   []error
	)
	record := func(built bool, err error) {
		mu.Lock()
		defer mu.Unlock()
		if built {
			builds++
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	for range 3 {
		wg.Go(func() {
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestImageBuildChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), buildChildEnv+"="+tag)
			out, err := cmd.CombinedOutput()
			if err != nil {
				record(false, fmt.Errorf("child: %w\n%s", err, out))
				return
			}
			record(strings.Contains(string(out), "built true"), nil)
		})
	}
	bi := testImage(t, tag)
	for range 2 {
		wg.Go(func() { record(ensureImage(ctx, cli, bi)) })
	}
	wg.Wait()
	require.Empty(t, errs)
	assert.Equal(t, 1, builds, "the image was built %d times", builds)
}

// TestStartRetriesOnPortRace takes the port the server is about to use, as
// another process could: the start fails with "Address already in use" and
// Start moves to another port.
func TestStartRetriesOnPortRace(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be Backend) {
		s, err := newServer(Options{Backend: be})
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, s.Stop(context.Background())) })
		var stolen []int
		s.portChosen = func(port int) {
			if len(stolen) > 0 {
				return
			}
			l, err := net.Listen("tcp", net.JoinHostPort(s.Host(), strconv.Itoa(port)))
			require.NoError(t, err)
			t.Cleanup(func() { l.Close() })
			stolen = append(stolen, port)
		}
		require.NoError(t, s.firstStart(testCtx(t)))
		require.Len(t, stolen, 1)
		assert.NotEqual(t, stolen[0], s.Port())
		assert.Equal(t, "PONG", mustDo(t, s, "PING").Str)
		if be == BackendBinary {
			assert.Contains(t, s.Logs(), portInUseLine)
		}
	})
}
