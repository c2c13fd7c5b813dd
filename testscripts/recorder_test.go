package testscripts_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/justredis/justredis/testscripts"
	"github.com/rogpeppe/go-internal/testscript"
)

// recorder is a testscript.T that records what a run logs and whether it
// failed, instead of failing the test: how we check that a broken script
// fails, and with what message.
type recorder struct {
	mu     sync.Mutex
	log    strings.Builder
	failed bool
	subs   []*recorder
}

var _ testscript.T = (*recorder)(nil)

func (r *recorder) Skip(args ...any) {
	r.Log(args...)
	runtime.Goexit()
}

func (r *recorder) Fatal(args ...any) {
	r.Log(args...)
	r.FailNow()
}

func (r *recorder) Parallel() {}

func (r *recorder) Log(args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintln(&r.log, args...)
}

func (r *recorder) FailNow() {
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Run(name string, f func(testscript.T)) {
	sub := &recorder{}
	r.mu.Lock()
	r.subs = append(r.subs, sub)
	r.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(sub)
	}()
	<-done
	if sub.Failed() {
		r.mu.Lock()
		r.failed = true
		r.mu.Unlock()
	}
}

func (r *recorder) Verbose() bool { return false }

// Failed reports whether the run (or one of its scripts) failed.
func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// Output returns everything logged, the scripts' logs included.
func (r *recorder) Output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.log.String()
	for _, s := range r.subs {
		out += s.Output()
	}
	return out
}

// runScripts runs scripts through testscript with our commands, on a
// recorder, and returns it once the run is over.
func runScripts(t *testing.T, files ...string) *recorder {
	t.Helper()
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		testscript.RunT(r, testscripts.Params(testscript.Params{Files: files}))
	}()
	<-done
	return r
}

// runScript writes a script to a temporary file and runs it (see
// runScripts).
func runScript(t *testing.T, name, script string) *recorder {
	t.Helper()
	file := filepath.Join(t.TempDir(), name+".txtar")
	if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	return runScripts(t, file)
}
