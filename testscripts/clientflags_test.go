package testscripts_test

import (
	"strings"
	"testing"
)

// TestClientConfigError checks the message when our client refuses the
// client flags: the command's name, then the client's error, with its
// package named once.
func TestClientConfigError(t *testing.T) {
	r := runScript(t, "resp", "rcmd -addr 127.0.0.1:1 -resp 7 PING\n")
	checkLog(t, r, []string{
		"> rcmd -addr 127.0.0.1:1 -resp 7 PING",
		"FAIL: ", "rcmd: client: Protocol must be 0, 2 or 3",
	})
	if out := r.Output(); strings.Contains(out, "client: client:") {
		t.Errorf("the package is named twice; the log:\n%s", out)
	}
}
