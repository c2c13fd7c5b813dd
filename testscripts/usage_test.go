package testscripts_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/justredis/justredis/testscripts"
	"github.com/rogpeppe/go-internal/testscript"
)

// negatable lists the commands that accept "!" (expected failure).
var negatable = []string{
	"redis-do", "rcmd", "rpipe", "rmulti", "rscript", "rpoll", "rwait",
	"rsubscribe", "rreceive", "rwatch-exec", "rwatch-incr", "rload-wait",
	"rload-stop", "rload-check",
}

// namedWithFlags lists the commands of the form "CMD NAME [FLAGS]...".
var namedWithFlags = []string{
	"redis-start", "cluster-start", "cluster-migrate", "proxy-cut", "rblock",
	"rwait", "rsubscribe", "rreceive", "rwatch", "rwatch-exec", "rload",
	"rload-wait", "rload-check",
}

// TestUsage checks that every command, called without arguments or with an
// unknown flag, fails the script with its usage line, and that the
// commands that cannot be negated say so.
func TestUsage(t *testing.T) {
	for _, name := range testscripts.Names() {
		t.Run(name, func(t *testing.T) {
			usage := "usage: " + testscripts.Usage(name)
			misuses := []string{name, name + " -no-such-flag"}
			if slices.Contains(namedWithFlags, name) {
				misuses = append(misuses, name+" X -no-such-flag")
			}
			for _, line := range misuses {
				r := runScript(t, "misuse", line+"\n")
				if out := r.Output(); !r.Failed() || !strings.Contains(out, usage) {
					t.Errorf("%q: failed %t, want the failure to print %q; the log:\n%s", line, r.Failed(), usage, out)
				}
			}
			if slices.Contains(negatable, name) {
				return
			}
			r := runScript(t, "negated", "! "+name+" X\n")
			want := "unsupported: ! " + name
			if out := r.Output(); !r.Failed() || !strings.Contains(out, want) {
				t.Errorf("! %s: failed %t, want the failure to print %q; the log:\n%s", name, r.Failed(), want, out)
			}
		})
	}
}

// TestNoSetup checks the message when a project registers Cmds without
// Setup.
func TestNoSetup(t *testing.T) {
	file := filepath.Join(t.TempDir(), "nosetup.txtar")
	if err := os.WriteFile(file, []byte("rcmd PING\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		testscript.RunT(r, testscript.Params{Files: []string{file}, Cmds: testscripts.Cmds()})
	}()
	<-done
	want := "rcmd: the script was not set up: use testscripts.Params, or call testscripts.Setup from Params.Setup"
	if out := r.Output(); !r.Failed() || !strings.Contains(out, want) {
		t.Errorf("failed %t, want %q in the log:\n%s", r.Failed(), want, out)
	}
}

// TestParamsKeepsUserCommands checks that Params keeps the caller's Setup
// and commands, the caller's winning on a name clash.
func TestParamsKeepsUserCommands(t *testing.T) {
	ran := false
	mine := func(ts *testscript.TestScript, neg bool, args []string) {}
	p := testscripts.Params(testscript.Params{
		Setup: func(env *testscript.Env) error { ran = true; return nil },
		Cmds:  map[string]func(*testscript.TestScript, bool, []string){"rcmd": mine, "mine": mine},
	})
	if len(p.Cmds) != len(testscripts.Names())+1 || p.Cmds["mine"] == nil {
		t.Errorf("Params has %d commands, want ours and the caller's", len(p.Cmds))
	}
	file := filepath.Join(t.TempDir(), "user.txtar")
	// The caller's rcmd does nothing, so this passes without a server.
	if err := os.WriteFile(file, []byte("rcmd -no-such-flag\nmine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.Files = []string{file}
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		testscript.RunT(r, p)
	}()
	<-done
	if r.Failed() || !ran {
		t.Errorf("failed %t, user Setup ran %t; the log:\n%s", r.Failed(), ran, r.Output())
	}
}
