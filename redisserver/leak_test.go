package redisserver

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// leakChildEnv makes TestLeakChild run: "binary", or "container" to start a
// container as well.
const leakChildEnv = "REDISSERVER_LEAK_CHILD"

// TestLeakChild is the child process of TestNoLeakOnSIGKILL: it starts
// servers, reports them on stdout, and waits to be killed.
func TestLeakChild(t *testing.T) {
	mode := os.Getenv(leakChildEnv)
	if mode == "" {
		t.Skip("helper process of TestNoLeakOnSIGKILL")
	}
	for range 3 {
		s := Run(t, Options{Backend: BackendBinary, Cluster: true})
		fmt.Printf("pid %d\ndir %s\n", s.PID(), s.Dir())
	}
	if mode == "container" {
		s := Run(t, Options{Backend: BackendContainer})
		fmt.Printf("container %s\n", s.ContainerID())
	}
	fmt.Println("ready")
	// Wait to be killed (or for the parent to go away).
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// TestNoLeakOnSIGKILL starts servers from a child test binary, kills the
// child with SIGKILL, so none of its cleanup runs, and checks that none of
// its redis-server processes survives (Pdeathsig), that its directories
// and container are removed by the reaping of the next process.
func TestNoLeakOnSIGKILL(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("servers die with the test binary only on Linux (Pdeathsig)")
	}
	t.Parallel()
	mode := "binary"
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	if CheckDocker(ctx) == nil {
		mode = "container"
	} else {
		t.Log("no Docker engine: checking processes only")
	}
	cancel()

	ctx, cancel = context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestLeakChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), leakChildEnv+"="+mode)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	var pids []int
	var dirs, containers []string
	sc := bufio.NewScanner(stdout)
	ready := false
	for !ready && sc.Scan() {
		kind, val, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case "pid":
			pid, err := strconv.Atoi(val)
			require.NoError(t, err)
			pids = append(pids, pid)
		case "dir":
			dirs = append(dirs, val)
		case "container":
			containers = append(containers, val)
		case "ready":
			ready = true
		}
	}
	if !ready {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("the child did not start its servers: %v", sc.Err())
	}
	require.Len(t, pids, 3)
	for _, pid := range pids {
		require.False(t, processGone(pid), "server %d not running before the kill", pid)
	}

	// SIGKILL: no cleanup, no deferred call, nothing runs in the child.
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	_, _ = io.Copy(io.Discard, stdout)

	eventually(t, 10*time.Second, func() error {
		for _, pid := range pids {
			if !processGone(pid) {
				return fmt.Errorf("redis-server %d outlived its test binary", pid)
			}
		}
		if left := redisProcessesUnder(dirs); len(left) > 0 {
			return fmt.Errorf("redis-server processes of the child left: %v", left)
		}
		return nil
	})
	t.Logf("after SIGKILL of the test binary, its %d redis-server processes are gone", len(pids))

	// Its directories remain (nothing ran in the child), and are removed by
	// the next process that creates one: this one, simulated here.
	for _, d := range dirs {
		require.DirExists(t, d)
	}
	reapOrphanDirs()
	for _, d := range dirs {
		assert.NoDirExists(t, d)
	}

	// Its container remains (no Ryuk), and is reaped.
	if mode == "container" {
		require.Len(t, containers, 1)
		_, err := ReapOrphans(testCtx(t))
		require.NoError(t, err)
		assertNoContainer(t, containers[0])
		t.Logf("its container %.12s was left behind, and ReapOrphans removed it", containers[0])
	}
}

// redisProcessesUnder returns the PIDs of live processes whose working
// directory is one of dirs (a server runs in its directory; its command
// line is no help, as redis-server rewrites its process title).
func redisProcessesUnder(dirs []string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var found []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil {
			continue
		}
		for _, d := range dirs {
			if cwd == d && processAlive(pid, "") {
				found = append(found, pid)
			}
		}
	}
	return found
}
