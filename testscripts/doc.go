// Package testscripts provides testscript commands
// (github.com/rogpeppe/go-internal/testscript) that start private Redis
// servers and clusters, put fault-injecting proxies in front of them, and
// run commands through justredis's client, printing the replies in a
// stable text form that "stdout" and "cmp" can check. Other projects
// register them in their own testscript runs; our own end-to-end scenarios
// are in testdata/*.txtar.
//
// Register them with Params, which adds Setup and the commands to your
// testscript.Params:
//
//	func TestScripts(t *testing.T) {
//		testscript.Run(t, testscripts.Params(testscript.Params{Dir: "testdata/scripts"}))
//	}
//
// or do it yourself: call Setup from your Params.Setup and merge Cmds()
// into your Params.Cmds. A script then reads:
//
//	redis-start R
//	rcmd -addr $R_ADDR SET greeting hello
//	stdout '^OK$'
//	rcmd -addr $R_ADDR GET greeting
//	stdout '^"hello"$'
//	redis-kill R
//	! rcmd -addr $R_ADDR -timeout 2s GET greeting
//	stderr '^\(not-executed\) .*connection refused'
//
// # Commands
//
// Servers: redis-start, -stop, -kill, -restart, -pause, -resume and
// redis-do (a command on the harness's own connection). Clusters:
// cluster-start, -stop, -kill, -restart, -pause, -resume, -failover,
// -migrate, -addr and -role. Proxies: proxy-start, -stop, -cut, -refuse,
// -pause, -resume, and toxic-add, -update and -remove. Our client: rcmd,
// rpipe (pipelined), rmulti (MULTI/EXEC), rscript (Lua scripts, cached),
// rpoll (wait for a condition). In the background: rblock and rwait
// (blocking commands), rsubscribe and rreceive (pub/sub), rwatch,
// rwatch-exec and rwatch-incr (WATCH transactions), rload, rload-wait,
// rload-mark, rload-stop and rload-check (a load generator that checks
// that acknowledged writes are readable). The README has the reference;
// Usage returns each command's usage line.
//
// Commands that start something called NAME set $NAME_ADDR to its address
// (a cluster's: every node's, separated by commas). Everything a script
// starts is stopped at its end (testscript's Defer), however it ends.
//
// # Output, failures and "!"
//
// A command that succeeds prints its result on stdout, rendered as Render
// does (OK, "bulk", (integer) 5, (nil), 1) ... as redis-cli prints
// replies). A command that fails prints the error on stderr, rendered as
// RenderError does, with its class first: "(error)" for an error reply of
// the server (the command ran and failed), "(not-executed)" when the
// client knows the server did not run it (never sent, or a reply such as
// MOVED or EXECABORT that says so), "(maybe-executed)" when it was
// sent and no reply came, "(failed)" for other errors. A failure fails the
// script unless the command is negated with "!", in which case success
// fails it. Misuse always fails the script with "usage: ...".
package testscripts
