package testscripts

import (
	"errors"
	"flag"
	"path/filepath"
	"strings"

	"github.com/justredis/justredis/redisserver"
	"github.com/justredis/justredis/resp"
	"github.com/rogpeppe/go-internal/testscript"
)

// userFlags collects repeated -user NAME:PASSWORD[:RULES] flags.
type userFlags []redisserver.User

func (u *userFlags) String() string { return "" }

func (u *userFlags) Set(s string) error {
	name, rest, ok := strings.Cut(s, ":")
	if !ok || name == "" {
		return errors.New("want NAME:PASSWORD[:RULES]")
	}
	pass, rules, hasRules := strings.Cut(rest, ":")
	user := redisserver.User{Name: name, Password: pass}
	if hasRules {
		user.Rules = strings.Fields(rules)
	}
	*u = append(*u, user)
	return nil
}

// cmdRedisStart: redis-start NAME [-pass PASSWORD] [-user NAME:PASSWORD[:RULES]]... [-tls] [-- SERVER-ARG...]
func cmdRedisStart(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "redis-start"
	noNeg(ts, neg, cmd)
	name, args := nameArg(ts, cmd, args)
	var (
		opts   redisserver.Options
		users  userFlags
		useTLS bool
	)
	fs := newFlagSet(cmd)
	fs.StringVar(&opts.Password, "pass", "", "requirepass")
	fs.Var(&users, "user", "an ACL user")
	fs.BoolVar(&useTLS, "tls", false, "TLS on the port, with a certificate from the script's CA")
	opts.Args = parseFlags(ts, cmd, fs, args)
	opts.Users = users
	if len(users) > 0 && opts.Password == "" {
		opts.AdminUser = users[0].Name
	}
	if useTLS {
		if st.ca == nil {
			ca, err := newCertAuthority(filepath.Join(st.workDir, "tls"))
			if err != nil {
				ts.Fatalf("%s: making the TLS CA: %v", cmd, err)
			}
			st.ca = ca
		}
		certFile, keyFile, err := st.ca.issue("server-" + name)
		if err != nil {
			ts.Fatalf("%s: making a certificate: %v", cmd, err)
		}
		opts.TLS = &redisserver.TLSOptions{CertFile: certFile, KeyFile: keyFile, CAFile: st.ca.caFile}
	}
	st.claimAddrName(ts, cmd, name, "server")
	ctx, cancel := st.opContext(redisserver.DefaultStartTimeout)
	defer cancel()
	s, err := redisserver.Start(ctx, opts)
	if err != nil {
		delete(st.addrNames, name)
		ts.Fatalf("%s %s: %v", cmd, name, err)
	}
	st.servers[name] = s
	ts.Setenv(name+"_ADDR", s.Addr())
	ts.Logf("%s: %s at %s", cmd, name, s.Addr())
}

// server returns the server called name.
func (st *state) server(ts *testscript.TestScript, cmd, name string) *redisserver.Server {
	checkName(ts, cmd, name)
	s := st.servers[name]
	if s == nil {
		ts.Fatalf("%s: no server called %s (start it with redis-start)", cmd, name)
	}
	return s
}

// serverOp returns redis-stop, -kill, -restart, -pause or -resume NAME.
func serverOp(cmd string) func(*testscript.TestScript, *state, bool, []string) {
	return func(ts *testscript.TestScript, st *state, neg bool, args []string) {
		noNeg(ts, neg, cmd)
		if len(args) != 1 {
			usage(ts, cmd)
		}
		s := st.server(ts, cmd, args[0])
		ctx, cancel := st.opContext(redisserver.DefaultStartTimeout)
		defer cancel()
		var err error
		switch cmd {
		case "redis-stop":
			err = s.Stop(ctx)
		case "redis-kill":
			err = s.Kill()
		case "redis-restart":
			err = s.Restart(ctx)
		case "redis-pause":
			err = s.Pause()
		case "redis-resume":
			err = s.Resume()
		}
		if err != nil {
			ts.Fatalf("%s %s: %v", cmd, args[0], err)
		}
	}
}

// cmdRedisDo: redis-do NAME CMD [ARG...]: one command on the harness's own
// admin connection (no justredis client involved): an independent view of
// what the server holds. It prints the reply like rcmd; an error reply is a
// failure.
func cmdRedisDo(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "redis-do"
	name, args := nameArg(ts, cmd, args)
	if len(args) == 0 {
		usage(ts, cmd)
	}
	s := st.server(ts, cmd, name)
	ctx, cancel := st.opContext(DefaultTimeout)
	defer cancel()
	v, err := s.Do(ctx, toAny(args)...)
	var se *resp.Error
	switch {
	case errors.As(err, &se):
		writeErr(ts, "(error) "+se.Msg)
	case err != nil:
		writeErr(ts, "(failed) "+err.Error())
	default:
		writeOut(ts, Render(v))
	}
	outcome(ts, neg, err != nil, cmd+" "+strings.Join(args, " ")+": "+resultText(v, err))
}

// resultText is the one-line summary of a call's result, for failure
// messages.
func resultText(v resp.Value, err error) string {
	if err != nil {
		return RenderError(err)
	}
	return strings.ReplaceAll(renderValue(v, 200), "\n", " ")
}

// writeOut prints a line on the command's stdout.
func writeOut(ts *testscript.TestScript, s string) {
	ts.Stdout().Write([]byte(s + "\n"))
}

// writeErr prints a line on the command's stderr.
func writeErr(ts *testscript.TestScript, s string) {
	ts.Stderr().Write([]byte(s + "\n"))
}

var _ flag.Value = (*userFlags)(nil)
