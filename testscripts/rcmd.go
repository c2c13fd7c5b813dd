package testscripts

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/justredis/justredis/client"
	"github.com/justredis/justredis/resp"
	"github.com/rogpeppe/go-internal/testscript"
)

// pollInterval is how often rpoll asks again.
const pollInterval = 20 * time.Millisecond

// MaxPipeCommands bounds what one rpipe sends: -n rounds times the
// commands of a round. A larger total fails the script with the usage.
const MaxPipeCommands = 1_000_000

// report prints the result of one call, the reply on stdout or the error
// on stderr, and ends the command (see outcome).
func report(ts *testscript.TestScript, neg bool, cmd string, args []string, v resp.Value, err error, trunc int) {
	if err != nil {
		writeErr(ts, RenderError(err))
	} else {
		writeOut(ts, renderValue(v, trunc))
	}
	outcome(ts, neg, err != nil, cmd+" "+strings.Join(args, " ")+": "+resultText(v, err))
}

// renderResult renders a reply, or the error in its place.
func renderResult(v resp.Value, err error, trunc int) string {
	if err != nil {
		return RenderError(err)
	}
	return renderValue(v, trunc)
}

// renderList renders results as a numbered list, as an array is.
func renderList(results []string) string {
	if len(results) == 0 {
		return "(empty array)"
	}
	var b strings.Builder
	width := len(strconv.Itoa(len(results)))
	for i, r := range results {
		if i > 0 {
			b.WriteByte('\n')
		}
		num := fmt.Sprintf("%*d) ", width, i+1)
		b.WriteString(num)
		b.WriteString(strings.ReplaceAll(r, "\n", "\n"+strings.Repeat(" ", len(num))))
	}
	return b.String()
}

// cmdRcmd: rcmd [CLIENT-FLAGS] CMD [ARG...] runs one command through our
// client. The reply goes to stdout (see Render); an error goes to stderr
// (see RenderError) and fails the command.
func cmdRcmd(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "rcmd"
	var f clientFlags
	fs := newFlagSet(cmd)
	f.register(fs)
	args = parseFlags(ts, cmd, fs, args)
	if len(args) == 0 {
		usage(ts, cmd)
	}
	m := st.mux(ts, cmd, &f)
	ctx, cancel := st.callContext(&f)
	defer cancel()
	v, err := f.database(m).Do(ctx, toAny(args)...)
	report(ts, neg, cmd, args, v, err, f.trunc)
}

// cmdRpipe: rpipe [CLIENT-FLAGS] [-n N] CMD [ARG...] [; [-db N] CMD
// [ARG...]]... sends the commands one after the other without waiting
// (Database.Command), N times over (at most MaxPipeCommands in all), then
// waits for the replies. It prints
// the replies of the last round as a numbered list, errors in place; it
// fails when any command of any round failed, and lists those on stderr.
func cmdRpipe(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "rpipe"
	var (
		f      clientFlags
		rounds int
	)
	fs := newFlagSet(cmd)
	f.register(fs)
	fs.IntVar(&rounds, "n", 1, "send the commands this many times")
	args = parseFlags(ts, cmd, fs, args)
	if len(args) == 0 {
		usage(ts, cmd)
	}
	split := splitCommands(ts, cmd, args)
	// rounds*len(split) could overflow: compare with a quotient instead.
	if rounds < 1 || rounds > MaxPipeCommands/len(split) {
		usagef(ts, cmd, "-n %d rounds of %d commands: want 1 to %d commands in all", rounds, len(split), MaxPipeCommands)
	}
	m := st.mux(ts, cmd, &f)
	base := f.database(m)
	type pcmd struct {
		db   client.Database
		args []any
	}
	var cmds []pcmd
	for _, c := range split {
		db := base
		if c[0] == "-db" {
			if len(c) < 3 {
				usagef(ts, cmd, "-db N needs a command after it")
			}
			n, err := strconv.Atoi(c[1])
			if err != nil {
				usagef(ts, cmd, "-db %q: not a number", c[1])
			}
			db = m.Database(n)
			c = c[2:]
		}
		cmds = append(cmds, pcmd{db, toAny(c)})
	}
	ctx, cancel := st.callContext(&f)
	defer cancel()
	futures := make([]*client.Future, 0, rounds*len(cmds))
	for range rounds {
		for _, c := range cmds {
			futures = append(futures, c.db.Command(ctx, c.args...))
		}
	}
	var (
		last   []string
		failed []string
	)
	for i, fut := range futures {
		v, err := fut.Reply(ctx)
		if err != nil {
			failed = append(failed, fmt.Sprintf("round %d, command %d: %s", i/len(cmds)+1, i%len(cmds)+1, RenderError(err)))
		}
		if i >= len(futures)-len(cmds) {
			last = append(last, renderResult(v, err, f.trunc))
		}
	}
	writeOut(ts, renderList(last))
	const maxShown = 10
	for i, s := range failed {
		if i == maxShown {
			writeErr(ts, fmt.Sprintf("... and %d more", len(failed)-maxShown))
			break
		}
		writeErr(ts, s)
	}
	msg := fmt.Sprintf("%s: %d commands, %d failed", cmd, len(futures), len(failed))
	if len(failed) > 0 {
		msg += ": " + failed[0]
	}
	outcome(ts, neg, len(failed) > 0, msg)
}

// cmdRmulti: rmulti [CLIENT-FLAGS] CMD [ARG...] [; CMD [ARG...]]... runs
// the commands as one MULTI/EXEC transaction (Database.Multi) and prints
// their replies as a numbered list, as EXEC returns them (a command that
// failed inside the transaction shows as "(error) ..."). It fails when the
// transaction did not run.
func cmdRmulti(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "rmulti"
	var f clientFlags
	fs := newFlagSet(cmd)
	f.register(fs)
	args = parseFlags(ts, cmd, fs, args)
	if len(args) == 0 {
		usage(ts, cmd)
	}
	cmds := splitCommands(ts, cmd, args)
	m := st.mux(ts, cmd, &f)
	ctx, cancel := st.callContext(&f)
	defer cancel()
	tx := f.database(m).Multi()
	futures := make([]*client.Future, len(cmds))
	for i, c := range cmds {
		futures[i] = tx.Command(toAny(c)...)
	}
	if err := tx.Exec(ctx); err != nil {
		writeErr(ts, RenderError(err))
		outcome(ts, neg, true, cmd+": "+RenderError(err))
		return
	}
	writeOut(ts, renderList(collect(ctx, futures, f.trunc)))
	outcome(ts, neg, false, cmd+" "+strings.Join(args, " "))
}

// collect renders the results of settled futures.
func collect(ctx context.Context, futures []*client.Future, trunc int) []string {
	out := make([]string, len(futures))
	for i, fut := range futures {
		v, err := fut.Reply(ctx)
		out[i] = renderResult(v, err, trunc)
	}
	return out
}

// cmdRscript: rscript [CLIENT-FLAGS] [-ro] SOURCE NUMKEYS [KEY...] [ARG...]
// runs a Lua script with client.Script (EVALSHA, loaded transparently: it
// survives SCRIPT FLUSH and restarts). The script's client.Script is kept
// for the whole script, by source, as a program keeps one.
func cmdRscript(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "rscript"
	var (
		f  clientFlags
		ro bool
	)
	fs := newFlagSet(cmd)
	f.register(fs)
	fs.BoolVar(&ro, "ro", false, "run it read-only (EVALSHA_RO)")
	args = parseFlags(ts, cmd, fs, args)
	if len(args) < 2 {
		usage(ts, cmd)
	}
	src := args[0]
	nkeys, err := strconv.Atoi(args[1])
	if err != nil || nkeys < 0 || nkeys > len(args)-2 {
		usagef(ts, cmd, "NUMKEYS %q: want a number of the arguments that follow", args[1])
	}
	keys, rest := args[2:2+nkeys], args[2+nkeys:]
	s := st.scripts[src]
	if s == nil {
		s = client.NewScript(src)
		st.scripts[src] = s
	}
	m := st.mux(ts, cmd, &f)
	ctx, cancel := st.callContext(&f)
	defer cancel()
	run := s.Run
	if ro {
		run = s.RunRO
	}
	v, err := run(ctx, f.database(m), keys, toAny(rest)...)
	report(ts, neg, cmd, args, v, err, f.trunc)
}

// cmdRpoll: rpoll [CLIENT-FLAGS] REGEXP CMD [ARG...] runs the command
// every 20 ms until its result, rendered as rcmd prints it (an error as
// RenderError does), matches REGEXP, then prints that result. It fails with
// the last result when -timeout passes first. It is how a script waits for
// a condition: "rpoll 'blocked_clients:1' INFO clients".
func cmdRpoll(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "rpoll"
	var f clientFlags
	fs := newFlagSet(cmd)
	f.register(fs)
	args = parseFlags(ts, cmd, fs, args)
	if len(args) < 2 {
		usage(ts, cmd)
	}
	re, err := regexp.Compile("(?m)" + args[0])
	if err != nil {
		usagef(ts, cmd, "REGEXP: %v", err)
	}
	m := st.mux(ts, cmd, &f)
	db := f.database(m)
	ctx, cancel := st.callContext(&f)
	defer cancel()
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	var last string
	for tries := 1; ; tries++ {
		v, err := db.Do(ctx, toAny(args[1:])...)
		if ctx.Err() != nil && last != "" {
			// The deadline cut this call short: keep the last real result.
			tries--
		} else {
			last = renderResult(v, err, f.trunc)
		}
		if re.MatchString(last) {
			writeOut(ts, last)
			outcome(ts, neg, false, fmt.Sprintf("%s: %q matched after %d tries: %s", cmd, args[0], tries, last))
			return
		}
		select {
		case <-ctx.Done():
			writeErr(ts, last)
			outcome(ts, neg, true, fmt.Sprintf("%s: %q did not match within %s (%d tries); last result:\n%s", cmd, args[0], f.timeout, tries, last))
			return
		case <-ticker.C:
		}
	}
}
