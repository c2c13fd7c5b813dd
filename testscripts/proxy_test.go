package testscripts_test

import (
	"net"
	"strings"
	"testing"
)

// refusedAddr returns an address where nothing listens: one the kernel
// just gave to a listener that is closed again.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// checkLog checks that a script failed and that its log holds the lines
// want, in that order.
func checkLog(t *testing.T, r *recorder, want []string) {
	t.Helper()
	out := r.Output()
	if !r.Failed() {
		t.Fatalf("the script passed; its log:\n%s", out)
	}
	rest := out
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("the failure log lacks %q (after the previous expected lines); the log:\n%s", w, out)
		}
		rest = rest[i+len(w):]
	}
}

// TestProxyStartUpstream checks that proxy-start refuses an UPSTREAM that
// is not one host:port, saying why, instead of starting a proxy whose
// clients would only see their connection closed.
func TestProxyStartUpstream(t *testing.T) {
	tests := []struct {
		upstream string
		want     string
	}{
		{"not-an-address", `proxy-start: UPSTREAM "not-an-address": want host:port: address not-an-address: missing port in address`},
		{"127.0.0.1:7000,127.0.0.1:7001", `proxy-start: UPSTREAM "127.0.0.1:7000,127.0.0.1:7001" is a cluster's address list: give one node (see cluster-addr)`},
		{"127.0.0.1:", `proxy-start: UPSTREAM "127.0.0.1:": want host:port: missing port`},
	}
	for _, tt := range tests {
		t.Run(tt.upstream, func(t *testing.T) {
			r := runScript(t, "upstream", "proxy-start P "+tt.upstream+"\n")
			checkLog(t, r, []string{
				"> proxy-start P " + tt.upstream,
				"FAIL: ", tt.want,
				"usage: proxy-start NAME UPSTREAM",
			})
		})
	}
}

// TestProxyLogInScript checks that what a proxy logs reaches the script's
// log: during a command of the package (the failed dial of the upstream,
// which the client only sees as a closed connection), and at the cleanup
// (the connections the cleanup closes).
func TestProxyLogInScript(t *testing.T) {
	t.Run("during a command", func(t *testing.T) {
		up := refusedAddr(t)
		r := runScript(t, "dial", "proxy-start P "+up+"\nrcmd -addr $P_ADDR -timeout 2s PING\n")
		checkLog(t, r, []string{
			"> rcmd -addr $P_ADDR -timeout 2s PING",
			"FAIL: ",
			"proxy P: faultinject 127.0.0.1:",
			": conn 0: dial upstream " + up + ": ",
			"connection refused",
		})
	})
	t.Run("at the cleanup", func(t *testing.T) {
		// stdout is testscript's: the failure is not in a command of the
		// package; the client's connection closes at the cleanup.
		r := runScript(t, "cleanup", "redis-start R\nproxy-start P $R_ADDR\nrcmd -addr $P_ADDR PING\nstdout NOT-PONG\n")
		checkLog(t, r, []string{
			"> rcmd -addr $P_ADDR PING",
			"proxy P: faultinject 127.0.0.1:",
			": conn 0: 127.0.0.1:",
			"> stdout NOT-PONG",
			"FAIL: ",
			"proxy P: faultinject 127.0.0.1:",
			": conn 0 closed",
		})
	})
}

// TestProxyStop checks that a stopped proxy is forgotten: the commands
// that name it fail, and proxy-start may use the name again.
func TestProxyStop(t *testing.T) {
	for _, line := range []string{
		"proxy-stop P",
		"proxy-pause P",
		"proxy-resume P",
		"proxy-cut P",
		"proxy-cut P -reset",
		"proxy-refuse P on",
		"toxic-add P t latency upstream",
		"toxic-update P t",
		"toxic-remove P t",
	} {
		t.Run(line, func(t *testing.T) {
			cmd, _, _ := strings.Cut(line, " ")
			r := runScript(t, "stopped", "proxy-start P "+refusedAddr(t)+"\nproxy-stop P\n"+line+"\n")
			checkLog(t, r, []string{
				"> " + line,
				"FAIL: ", cmd + ": no proxy called P (start it with proxy-start)",
			})
		})
	}
	t.Run("restart", func(t *testing.T) {
		r := runScript(t, "restart", `redis-start R
proxy-start P $R_ADDR
rcmd -addr $P_ADDR SET k v
proxy-stop P
! rcmd -addr $P_ADDR -timeout 2s GET k
stderr 'connection refused'
proxy-start P $R_ADDR
rcmd -addr $P_ADDR GET k
stdout '^"v"$'
`)
		if r.Failed() {
			t.Fatalf("the script failed; its log:\n%s", r.Output())
		}
	})
}
