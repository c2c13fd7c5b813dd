package testscripts

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// Cmd is the type of a testscript command (testscript.Params.Cmds).
type Cmd = func(ts *testscript.TestScript, neg bool, args []string)

// Default bounds of the commands that take a -timeout flag, and of those
// that do not.
const (
	// DefaultTimeout bounds one client command (rcmd, rpipe, ...), a wait
	// (rwait, rreceive, rpoll, rload-wait) and a server or proxy operation.
	DefaultTimeout = 10 * time.Second
	// DefaultClusterTimeout bounds a cluster operation (cluster-start,
	// cluster-kill, cluster-migrate, ...): each waits until the cluster is
	// stable again.
	DefaultClusterTimeout = 2 * time.Minute
	// DefaultCleanupTimeout bounds the cleanup at the end of a script.
	DefaultCleanupTimeout = time.Minute
)

// command is one testscript command: its name, its usage line (the name
// and the arguments, as printed after "usage: ") and its implementation.
type command struct {
	name  string
	usage string
	run   func(ts *testscript.TestScript, st *state, neg bool, args []string)
}

// commands lists every command of the package, in the order of the
// README's reference. (It is set by init: the commands refer to it, through
// Usage.)
var commands []command

func init() {
	commands = allCommands()
}

func allCommands() []command {
	return []command{
		// redis-server instances (server.go)
		{"redis-start", "redis-start NAME [-pass PASSWORD] [-user NAME:PASSWORD[:RULES]]... [-tls] [-- SERVER-ARG...]", cmdRedisStart},
		{"redis-stop", "redis-stop NAME", serverOp("redis-stop")},
		{"redis-kill", "redis-kill NAME", serverOp("redis-kill")},
		{"redis-restart", "redis-restart NAME", serverOp("redis-restart")},
		{"redis-pause", "redis-pause NAME", serverOp("redis-pause")},
		{"redis-resume", "redis-resume NAME", serverOp("redis-resume")},
		{"redis-do", "redis-do NAME CMD [ARG...]", cmdRedisDo},

		// clusters (cluster.go)
		{"cluster-start", "cluster-start NAME [-pass PASSWORD] [MASTERS [REPLICAS]]", cmdClusterStart},
		{"cluster-stop", "cluster-stop NAME", cmdClusterStop},
		{"cluster-kill", "cluster-kill NAME NODE", clusterNodeOp("cluster-kill")},
		{"cluster-restart", "cluster-restart NAME NODE", clusterNodeOp("cluster-restart")},
		{"cluster-pause", "cluster-pause NAME NODE", clusterNodeOp("cluster-pause")},
		{"cluster-resume", "cluster-resume NAME NODE", clusterNodeOp("cluster-resume")},
		{"cluster-failover", "cluster-failover NAME REPLICA [default|force|takeover]", cmdClusterFailover},
		{"cluster-migrate", "cluster-migrate NAME SLOTKEY TO | cluster-migrate NAME -begin SLOTKEY TO | cluster-migrate NAME -keys [KEY...] | cluster-migrate NAME -finish | cluster-migrate NAME -abort", cmdClusterMigrate},
		{"cluster-addr", "cluster-addr NAME NODE VAR", cmdClusterAddr},
		{"cluster-role", "cluster-role NAME NODE", cmdClusterRole},

		// fault-injecting proxies (proxy.go)
		{"proxy-start", "proxy-start NAME UPSTREAM [-seed N]", cmdProxyStart},
		{"proxy-stop", "proxy-stop NAME", proxyOp("proxy-stop")},
		{"proxy-cut", "proxy-cut NAME [-reset]", cmdProxyCut},
		{"proxy-refuse", "proxy-refuse NAME on|off", cmdProxyRefuse},
		{"proxy-pause", "proxy-pause NAME", proxyOp("proxy-pause")},
		{"proxy-resume", "proxy-resume NAME", proxyOp("proxy-resume")},
		{"toxic-add", "toxic-add PROXY NAME TYPE upstream|downstream [toxicity=P] [ATTR=VALUE...]", cmdToxicAdd},
		{"toxic-update", "toxic-update PROXY NAME [toxicity=P] [ATTR=VALUE...]", cmdToxicUpdate},
		{"toxic-remove", "toxic-remove PROXY NAME", cmdToxicRemove},

		// our client (rcmd.go)
		{"rcmd", "rcmd [CLIENT-FLAGS] CMD [ARG...]", cmdRcmd},
		{"rpipe", "rpipe [CLIENT-FLAGS] [-n N] CMD [ARG...] [; [-db N] CMD [ARG...]]...", cmdRpipe},
		{"rmulti", "rmulti [CLIENT-FLAGS] CMD [ARG...] [; CMD [ARG...]]...", cmdRmulti},
		{"rscript", "rscript [CLIENT-FLAGS] [-ro] SOURCE NUMKEYS [KEY...] [ARG...]", cmdRscript},
		{"rpoll", "rpoll [CLIENT-FLAGS] REGEXP CMD [ARG...]", cmdRpoll},

		// background work (background.go, watch.go, load.go)
		{"rblock", "rblock NAME [CLIENT-FLAGS] CMD [ARG...]", cmdRblock},
		{"rwait", "rwait NAME [-timeout D]", cmdRwait},
		{"rsubscribe", "rsubscribe NAME [CLIENT-FLAGS] [-pattern|-shard] CHANNEL...", cmdRsubscribe},
		{"rreceive", "rreceive NAME [-timeout D]", cmdRreceive},
		{"rwatch", "rwatch NAME [CLIENT-FLAGS] KEY...", cmdRwatch},
		{"rwatch-exec", "rwatch-exec NAME [-timeout D] CMD [ARG...] [; CMD [ARG...]]...", cmdRwatchExec},
		{"rwatch-incr", "rwatch-incr [CLIENT-FLAGS] [-workers W] [-n N] KEY", cmdRwatchIncr},
		{"rload", "rload NAME [CLIENT-FLAGS] [-workers W] [-n N] [-rate R] [-prefix P]", cmdRload},
		{"rload-wait", "rload-wait NAME [-timeout D] N", cmdRloadWait},
		{"rload-mark", "rload-mark NAME", cmdRloadMark},
		{"rload-stop", "rload-stop NAME", cmdRloadStop},
		{"rload-check", "rload-check NAME [-since-mark]", cmdRloadCheck},
	}
}

// Cmds returns the package's commands, for testscript.Params.Cmds: a new
// map on every call, which the caller may change. They need Setup to have
// run for the script (Params does that).
func Cmds() map[string]Cmd {
	m := make(map[string]Cmd, len(commands))
	for _, c := range commands {
		m[c.name] = c.bind()
	}
	return m
}

// Usage returns the usage line of a command ("rcmd [CLIENT-FLAGS] CMD
// [ARG...]"), or "" when the package has no command of that name.
func Usage(name string) string {
	for _, c := range commands {
		if c.name == name {
			return c.usage
		}
	}
	return ""
}

// Names returns the names of the package's commands, sorted.
func Names() []string {
	names := make([]string, 0, len(commands))
	for _, c := range commands {
		names = append(names, c.name)
	}
	sort.Strings(names)
	return names
}

// Params returns p with the package's Setup and commands added: Setup runs
// before p.Setup (which may use the commands' environment), and a command
// that p.Cmds already defines keeps p's definition.
func Params(p testscript.Params) testscript.Params {
	user := p.Setup
	p.Setup = func(env *testscript.Env) error {
		if err := Setup(env); err != nil {
			return err
		}
		if user != nil {
			return user(env)
		}
		return nil
	}
	cmds := Cmds()
	maps.Copy(cmds, p.Cmds)
	p.Cmds = cmds
	return p
}

// Setup prepares a script for the package's commands: it stores the
// script's state (its servers, clusters, proxies, clients and background
// work) in env.Values and registers its cleanup with env.Defer, which stops
// and removes everything the script started, whatever way it ends. Call it
// from your Params.Setup, or use Params.
func Setup(env *testscript.Env) error {
	if env.Values == nil {
		env.Values = map[any]any{}
	}
	if _, ok := env.Values[stateKey{}]; ok {
		return fmt.Errorf("testscripts: Setup called twice for one script")
	}
	st := newState(env.WorkDir)
	env.Values[stateKey{}] = st
	t := env.T()
	env.Defer(func() {
		errs := st.close()
		if st.ts != nil {
			// The proxies are closed: nothing logs any more.
			st.proxyLog.flush(st.ts)
		}
		for _, err := range errs {
			t.Log("testscripts: cleanup: " + err.Error())
		}
	})
	return nil
}

// bind returns the testscript command: it finds the script's state, runs
// the command, and copies what the proxies logged into the script's log
// (see proxyLog).
func (c command) bind() Cmd {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		st, ok := ts.Value(stateKey{}).(*state)
		if !ok {
			ts.Fatalf("%s: the script was not set up: use testscripts.Params, or call testscripts.Setup from Params.Setup", c.name)
		}
		st.ts = ts
		// What the proxies logged before the command, and during it (also
		// when it fails: FailNow unwinds through the defer).
		st.proxyLog.flush(ts)
		defer st.proxyLog.flush(ts)
		c.run(ts, st, neg, args)
	}
}

// usage fails the script with the usage line of the command.
func usage(ts *testscript.TestScript, name string) {
	ts.Fatalf("usage: %s", Usage(name))
}

// usagef fails the script with a problem and the command's usage line.
func usagef(ts *testscript.TestScript, name, format string, args ...any) {
	ts.Fatalf("%s: %s\nusage: %s", name, fmt.Sprintf(format, args...), Usage(name))
}

// noNeg fails the script when a command that cannot be negated is.
func noNeg(ts *testscript.TestScript, neg bool, name string) {
	if neg {
		ts.Fatalf("unsupported: ! %s", name)
	}
}

// outcome ends a command that may fail, honouring the negation: without
// "!", a failure fails the script; with "!", a success does. msg says what
// failed (or what succeeded), and is in the script's log either way.
func outcome(ts *testscript.TestScript, neg bool, failed bool, msg string) {
	switch {
	case failed && !neg:
		ts.Fatalf("%s", msg)
	case !failed && neg:
		ts.Fatalf("unexpected success: %s", msg)
	}
}

// validName matches names usable in environment variables.
var validName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checkName fails the script when name cannot name a thing (or be part of
// an environment variable name).
func checkName(ts *testscript.TestScript, cmd, name string) {
	if !validName.MatchString(name) {
		usagef(ts, cmd, "invalid name %q: use letters, digits and _", name)
	}
}

// nameArg takes the NAME that starts a command's arguments.
func nameArg(ts *testscript.TestScript, cmd string, args []string) (string, []string) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		usage(ts, cmd)
	}
	checkName(ts, cmd, args[0])
	return args[0], args[1:]
}

// opContext returns a context for one operation of a script, bounded by d
// and ended by the script's cleanup.
func (st *state) opContext(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(st.ctx, d)
}
