package testscripts_test

import (
	"net"
	"regexp"
	"testing"
	"time"
)

// TestBrokenScenarios runs the scripts of testdata/broken, each broken on
// purpose, and checks that each fails with a message that says which line
// and command failed, what was expected and what came instead, and that
// the servers they started are gone afterwards.
func TestBrokenScenarios(t *testing.T) {
	tests := []struct {
		file string
		want []string // in the failure log, in this order
	}{{
		file: "wrong_value",
		want: []string{
			`> rcmd -addr $R_ADDR GET k`,
			`[stdout]`,
			`"v"`,
			"FAIL: testdata/broken/wrong_value.txtar:6: no match for `^\"w\"$` found in stdout",
		},
	}, {
		file: "unexpected_error",
		want: []string{
			`> rcmd -addr $R_ADDR GET list`,
			`[stderr]`,
			`(error) WRONGTYPE Operation against a key holding the wrong kind of value`,
			`FAIL: testdata/broken/unexpected_error.txtar:5: rcmd GET list: (error) WRONGTYPE Operation against a key holding the wrong kind of value`,
		},
	}, {
		file: "wrong_golden",
		want: []string{
			`> cmp stdout want.golden`,
			`-2) (integer) 2`,
			`+2) (integer) 3`,
			`FAIL: testdata/broken/wrong_golden.txtar:5: stdout and want.golden differ`,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			out := failingScript(t, "testdata/broken/"+tt.file+".txtar", tt.want)
			t.Logf("the broken script failed as it should; its log:\n%s", out)
			checkServersGone(t, out)
		})
	}
}

// failingScript runs the script file, checks that it fails and that its
// log holds the lines want, in that order, and returns the log.
func failingScript(t *testing.T, file string, want []string) string {
	t.Helper()
	r := runScripts(t, file)
	checkLog(t, r, want)
	return r.Output()
}

// serverAddrs finds the servers a script started, in its log.
var serverAddrs = regexp.MustCompile(`redis-start: \w+ at (\S+)`)

// checkServersGone checks that the servers named in a script's log no
// longer accept connections: the script's cleanup stopped them.
func checkServersGone(t *testing.T, log string) {
	t.Helper()
	ms := serverAddrs.FindAllStringSubmatch(log, -1)
	if len(ms) == 0 {
		t.Fatalf("no server address in the log:\n%s", log)
	}
	for _, m := range ms {
		c, err := net.DialTimeout("tcp", m[1], time.Second)
		if err == nil {
			c.Close()
			t.Errorf("the server at %s still accepts connections after the script ended", m[1])
		}
	}
}
