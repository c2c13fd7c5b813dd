package clusterharness

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/justredis/justredis/redisserver"
	"github.com/stretchr/testify/require"
)

// opTimeout bounds one operation of a test (a failover included).
const opTimeout = 60 * time.Second

// opCtx returns a context for one operation of a test.
func opCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	t.Cleanup(cancel)
	return ctx
}

// requireDocker skips the test when no Docker engine answers.
func requireDocker(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := redisserver.CheckDocker(ctx); err != nil {
		t.Skipf("container backend not tested: no Docker engine answers: %v", err)
	}
}

// cliKeys returns n keys spread evenly over the slots, each tagged with
// prefix.
func cliKeys(prefix string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		slot := (i*SlotCount/n + 7*i) % SlotCount
		keys[i] = "{" + KeyInSlot(slot) + "}" + prefix
	}
	return keys
}

// redisCLI runs redis-cli -c against addr with one command per line on its
// standard input and returns its answers, one per command (redirection
// notices dropped). It skips the test when redis-cli is missing.
func redisCLI(t testing.TB, c *Cluster, addr string, commands []string) []string {
	t.Helper()
	bin, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redis-cli not found on $PATH: the independent check needs it (scripts/ensure-redis.sh installs redis-tools)")
	}
	host, port, _ := strings.Cut(addr, ":")
	args := []string{"-c", "-h", host, "-p", port}
	if pw := c.Options().Node.Password; pw != "" {
		args = append(args, "-a", pw, "--no-auth-warning")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(strings.Join(commands, "\n") + "\n")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "redis-cli: %s", out)
	var answers []string
	for line := range strings.SplitSeq(strings.TrimRight(string(out), "\n"), "\n") {
		if !strings.HasPrefix(line, "-> Redirected") {
			answers = append(answers, line)
		}
	}
	return answers
}

// cliCheck proves the cluster serves every slot to a client nobody here
// wrote: redis-cli -c, connected to one live node, SETs 64 keys spread
// over the slots to values unique to step, and GETs them back, following
// MOVED and ASK redirections.
func cliCheck(t testing.TB, c *Cluster, step string) {
	t.Helper()
	addrs := c.Addrs()
	require.NotEmpty(t, addrs)
	keys := cliKeys(step, 64)
	var cmds, want []string
	for i, k := range keys {
		cmds = append(cmds, fmt.Sprintf("SET %s %s-%d", k, step, i))
		want = append(want, "OK")
	}
	for i, k := range keys {
		cmds = append(cmds, "GET "+k)
		want = append(want, step+"-"+strconv.Itoa(i))
	}
	// The last live node: a replica when there is one, so that redis-cli
	// is redirected at once.
	got := redisCLI(t, c, addrs[len(addrs)-1], cmds)
	require.Equal(t, want, got, "redis-cli -c against %s after %s", addrs[len(addrs)-1], step)
}

// startCluster runs a cluster for the test with the given backend and a
// short node timeout.
func startCluster(t *testing.T, be redisserver.Backend, opts Options) *Cluster {
	t.Helper()
	opts.Node.Backend = be
	return Run(t, opts)
}

// masterWithReplica returns a live master and its first live replica.
func masterWithReplica(t testing.TB, c *Cluster) (master, replica *Node) {
	t.Helper()
	for _, m := range c.Masters() {
		if rs := c.ReplicasOf(m); len(rs) > 0 && len(m.Slots()) > 0 {
			return m, rs[0]
		}
	}
	t.Fatal("no master with a live replica")
	return nil, nil
}

// requireCoverage checks that the live masters own every slot, once.
func requireCoverage(t testing.TB, c *Cluster) {
	t.Helper()
	seen := make([]bool, SlotCount)
	for _, m := range c.Masters() {
		for _, r := range m.Slots() {
			for s := r.Start; s <= r.End; s++ {
				require.False(t, seen[s], "slot %d owned twice", s)
				seen[s] = true
			}
		}
	}
	for s, ok := range seen {
		require.True(t, ok, "slot %d owned by no live master", s)
	}
}
