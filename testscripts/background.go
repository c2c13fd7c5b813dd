package testscripts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/justredis/justredis/client"
	"github.com/justredis/justredis/resp"
	"github.com/rogpeppe/go-internal/testscript"
)

// bgCall is a command running in the background (rblock). Its goroutine
// writes v and err, then closes done; the script's goroutine reads them
// only after done.
type bgCall struct {
	args  []string
	trunc int
	done  chan struct{}
	v     resp.Value
	err   error
}

// cmdRblock: rblock NAME [CLIENT-FLAGS] CMD [ARG...] starts a command
// (typically a blocking one: BLPOP, XREAD BLOCK, WAIT...) in the
// background, through the same client as rcmd with the same flags; rwait
// NAME collects its result. -timeout bounds the command.
func cmdRblock(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "rblock"
	noNeg(ts, neg, cmd)
	name, args := nameArg(ts, cmd, args)
	var f clientFlags
	fs := newFlagSet(cmd)
	f.register(fs)
	args = parseFlags(ts, cmd, fs, args)
	if len(args) == 0 {
		usage(ts, cmd)
	}
	if st.blocks[name] != nil {
		ts.Fatalf("%s: %s is already running (rwait %s first)", cmd, name, name)
	}
	db := f.database(st.mux(ts, cmd, &f))
	call := &bgCall{args: args, trunc: f.trunc, done: make(chan struct{})}
	st.blocks[name] = call
	ctx, cancel := st.callContext(&f)
	st.goBackground(func() {
		defer cancel()
		defer close(call.done)
		call.v, call.err = db.Do(ctx, toAny(args)...)
	})
}

// cmdRwait: rwait NAME [-timeout D] waits for the command started by rblock
// NAME and prints its result as rcmd would (the name can then be used
// again). It fails when that command failed, and always when it is still
// running after D.
func cmdRwait(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "rwait"
	name, args := nameArg(ts, cmd, args)
	var d time.Duration
	fs := newFlagSet(cmd)
	fs.DurationVar(&d, "timeout", DefaultTimeout, "how long to wait")
	if rest := parseFlags(ts, cmd, fs, args); len(rest) != 0 {
		usage(ts, cmd)
	}
	call := st.blocks[name]
	if call == nil {
		ts.Fatalf("%s: nothing called %s is running (start it with rblock)", cmd, name)
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-call.done:
	case <-timer.C:
		ts.Fatalf("%s %s: %s is still running after %s", cmd, name, strings.Join(call.args, " "), d)
	}
	delete(st.blocks, name)
	report(ts, neg, cmd+" "+name+":", call.args, call.v, call.err, call.trunc)
}

// cmdRsubscribe: rsubscribe NAME [CLIENT-FLAGS] [-pattern|-shard]
// CHANNEL... makes a subscriber (Mux.PubSub) and subscribes it to the
// channels (patterns with -pattern, shard channels with -shard); it returns
// once the server confirmed them. rreceive NAME reads its messages.
func cmdRsubscribe(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "rsubscribe"
	name, args := nameArg(ts, cmd, args)
	var (
		f              clientFlags
		pattern, shard bool
	)
	fs := newFlagSet(cmd)
	f.register(fs)
	fs.BoolVar(&pattern, "pattern", false, "subscribe to patterns (PSUBSCRIBE)")
	fs.BoolVar(&shard, "shard", false, "subscribe to shard channels (SSUBSCRIBE)")
	args = parseFlags(ts, cmd, fs, args)
	if len(args) == 0 || (pattern && shard) {
		usage(ts, cmd)
	}
	if st.subs[name] != nil {
		ts.Fatalf("%s: there is already a subscriber called %s", cmd, name)
	}
	ps := st.mux(ts, cmd, &f).PubSub(client.PubSubOptions{})
	ctx, cancel := st.callContext(&f)
	defer cancel()
	var err error
	switch {
	case pattern:
		err = ps.PSubscribe(ctx, args...)
	case shard:
		err = ps.SSubscribe(ctx, args...)
	default:
		err = ps.Subscribe(ctx, args...)
	}
	if err != nil {
		ps.Close()
		writeErr(ts, RenderError(err))
	} else {
		st.subs[name] = ps
	}
	outcome(ts, neg, err != nil, cmd+" "+name+" "+strings.Join(args, " ")+": "+resultText(resp.SimpleString("OK"), err))
}

// cmdRreceive: rreceive NAME [-timeout D] prints the next message of the
// subscriber NAME:
//
//	message "CHANNEL" "PAYLOAD"
//	pmessage "PATTERN" "CHANNEL" "PAYLOAD"
//	smessage "CHANNEL" "PAYLOAD"
//	reconnected        (the connection was re-established: messages may have been missed)
//	overflow N         (the subscriber fell behind: N messages were dropped)
//
// It fails when no message comes within D: "! rreceive S -timeout 200ms"
// checks that nothing more arrived.
func cmdRreceive(ts *testscript.TestScript, st *state, neg bool, args []string) {
	const cmd = "rreceive"
	name, args := nameArg(ts, cmd, args)
	var d time.Duration
	fs := newFlagSet(cmd)
	fs.DurationVar(&d, "timeout", DefaultTimeout, "how long to wait for a message")
	if rest := parseFlags(ts, cmd, fs, args); len(rest) != 0 {
		usage(ts, cmd)
	}
	ps := st.subs[name]
	if ps == nil {
		ts.Fatalf("%s: no subscriber called %s (make it with rsubscribe)", cmd, name)
	}
	ctx, cancel := context.WithTimeout(st.ctx, d)
	defer cancel()
	msg, err := ps.Receive(ctx)
	var oe *client.OverflowError
	switch {
	case errors.As(err, &oe):
		msg, err = client.Message{Kind: client.KindOverflow, Dropped: oe.Dropped}, nil
	case err != nil && ctx.Err() != nil:
		err = fmt.Errorf("no message within %s", d)
		writeErr(ts, "(no message within "+d.String()+")")
		outcome(ts, neg, true, cmd+" "+name+": "+err.Error())
		return
	}
	if err != nil {
		writeErr(ts, RenderError(err))
		outcome(ts, neg, true, cmd+" "+name+": "+RenderError(err))
		return
	}
	out := renderMessage(msg)
	writeOut(ts, out)
	outcome(ts, neg, false, cmd+" "+name+": "+out)
}
