package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/justredis/justredis/resp"
)

// Conn is a dedicated connection lent by Mux.Dedicated: anything may run on
// it, stateful commands included (CLIENT TRACKING, SUBSCRIBE, MONITOR...).
// It starts in database 0. It is not safe for concurrent use, and only
// valid inside the function.
type Conn struct {
	m      *Mux
	dc     *dconn
	pushes []resp.Value // out-of-band values read while waiting for a reply
	broken error        // the failure that left its state unknown: it sends no more, and will be closed
}

// Dedicated runs fn with a connection of its own, taken from a small bounded
// set (waiting, with ctx, when all are busy). When fn returns (or panics),
// the connection is reset (RESET, then the handshake again) before it is
// reused, or closed if that fails or its state is unknown.
func (m *Mux) Dedicated(ctx context.Context, fn func(c *Conn) error) (err error) {
	if m.closed.Load() {
		return &RequestError{Exec: NotSent, Err: ErrClosed}
	}
	node, err := m.route(ctx, NoSlot, false)
	if err != nil {
		return &RequestError{Exec: NotSent, Err: err}
	}
	return node.Dedicated(ctx, fn)
}

// Dedicated is Mux.Dedicated on this node.
func (n *Node) Dedicated(ctx context.Context, fn func(c *Conn) error) (err error) {
	m := n.m
	p := n.pool
	dc, err := p.get(ctx)
	if err != nil {
		return &RequestError{Addr: n.addr(), Exec: NotSent, Err: err}
	}
	// A blocking command or a Watch in another database may have left it
	// there: fn starts in database 0, as Conn says.
	if err := dc.selectDB(ctx, 0); err != nil {
		p.put(dc, false)
		return &RequestError{Addr: n.addr(), Exec: NotSent, Err: err}
	}
	c := &Conn{m: m, dc: dc}
	defer func() {
		if r := recover(); r != nil {
			p.put(dc, false)
			c.dc = nil
			panic(r)
		}
		p.put(dc, c.broken == nil && c.reset())
		c.dc = nil
	}()
	return fn(c)
}

// Do sends one command and waits for its reply. Push frames that arrive
// meanwhile are kept for Receive, except that the reply to a SUBSCRIBE-like
// command is its first confirmation (a push frame on RESP3; read the others
// with Receive). A reply malformed in a sound frame (see the package doc) is
// that command's error alone. Any other failure (or ctx ending) leaves the
// connection's state unknown: later Sends and Dos fail with ErrConnBroken (a
// late reply would be taken for theirs), Receive still reads, and the
// connection is closed when fn returns.
func (c *Conn) Do(ctx context.Context, args ...any) (resp.Value, error) {
	if err := c.Send(ctx, args...); err != nil {
		return resp.Value{}, err
	}
	name, _ := argString(args[0])
	subscribing := strings.HasSuffix(strings.ToLower(name), "subscribe")
	for {
		v, err := c.read(ctx)
		if re := (*RequestError)(nil); err != nil && !subscribing && errors.As(err, &re) && framedType(re.Err) == resp.TypePush {
			continue // a malformed push: nobody's reply
		}
		if err != nil {
			return resp.Value{}, err
		}
		if v.Type == resp.TypePush && !subscribing {
			c.pushes = append(c.pushes, v)
			continue
		}
		return v, v.Err()
	}
}

// Send writes one command without reading its reply (use Receive): for
// pipelining by hand, or commands such as MONITOR that stream replies.
func (c *Conn) Send(ctx context.Context, args ...any) error {
	if c.dc == nil {
		return ErrConnDone
	}
	if len(args) == 0 {
		return &CommandError{Err: ErrEmptyCommand}
	}
	if c.broken != nil {
		return brokenErr(c.dc.rc.addr, c.broken)
	}
	if c.dc.closed() {
		return &RequestError{Addr: c.dc.rc.addr, Exec: NotSent, Err: ErrClosed}
	}
	db := Database{m: c.m}
	buf, err := db.encode(nil, args)
	if err != nil {
		return err
	}
	stop := c.deadline(ctx)
	defer stop()
	if _, err := c.dc.rc.nc.Write(buf); err != nil {
		err = c.dc.ioErr(ctx, "write", err)
		c.broken = err
		return &RequestError{Addr: c.dc.rc.addr, Exec: MaybeSent, Err: err}
	}
	return nil
}

// Receive returns the next value the server sends: a kept push frame, or
// the next reply or push on the wire.
func (c *Conn) Receive(ctx context.Context) (resp.Value, error) {
	if c.dc == nil {
		return resp.Value{}, ErrConnDone
	}
	if len(c.pushes) > 0 {
		v := c.pushes[0]
		c.pushes = c.pushes[1:]
		return v, nil
	}
	return c.read(ctx)
}

func (c *Conn) read(ctx context.Context) (resp.Value, error) {
	if c.dc == nil {
		return resp.Value{}, ErrConnDone
	}
	stop := c.deadline(ctx)
	defer stop()
	v, err := c.dc.rc.rd.ReadValue()
	if err != nil && badReply(err) {
		// Malformed in a sound frame: this value's error alone (the
		// stream is in step, so the connection is not broken).
		return resp.Value{}, &RequestError{Addr: c.dc.rc.addr, Exec: MaybeSent, Err: err}
	}
	if err != nil {
		err = c.dc.ioErr(ctx, "read", err)
		c.broken = err
		return resp.Value{}, &RequestError{Addr: c.dc.rc.addr, Exec: MaybeSent, Err: err}
	}
	return v, nil
}

// deadline bounds the next I/O by ctx (and the Mux's closing); the returned
// func undoes it.
func (c *Conn) deadline(ctx context.Context) func() {
	d, _ := ctx.Deadline()
	_ = c.dc.rc.nc.SetDeadline(d)
	return c.dc.interruptible(ctx)
}

// reset returns the connection to a fresh state (RESET undoes MULTI, WATCH,
// subscriptions, tracking, the database, the user and the protocol), then
// handshakes again; it reports whether the connection may be reused.
// Whatever was still on the wire (unread replies, a MONITOR stream, pushes)
// is skipped up to RESET's reply; a PING with a random nonce at the end
// proves that the replies were matched up right (a stale "+RESET" from a
// script cannot fool it: the nonce would not come where it should).
func (c *Conn) reset() bool {
	s := c.m.s
	ctx, cancel := context.WithTimeout(context.Background(), s.connectTimeout)
	defer cancel()
	var nb [8]byte
	_, _ = rand.Read(nb[:])
	nonce := "justredis-reset-" + hex.EncodeToString(nb[:])
	hs := handshakeCommands(s, c.dc.rc.proto)
	buf := resp.AppendCommandStrings(nil, "RESET")
	for _, args := range hs {
		buf = resp.AppendCommandStrings(buf, args...)
	}
	buf = resp.AppendCommandStrings(buf, "PING", nonce)
	stop := c.deadline(ctx)
	defer stop()
	if _, err := c.dc.rc.nc.Write(buf); err != nil {
		return false
	}
	for {
		v, err := c.dc.rc.rd.ReadValue()
		if err != nil {
			return false
		}
		if v.Type == resp.TypeSimpleString && v.Str == "RESET" {
			break
		}
	}
	for range hs {
		v, err := c.dc.rc.rd.ReadValue()
		if err != nil || v.IsError() {
			return false
		}
	}
	v, err := c.dc.rc.rd.ReadValue()
	if err != nil || v.Type != resp.TypeBulkString || v.Str != nonce {
		return false
	}
	c.dc.db = 0
	c.pushes = nil
	return true
}

// Tx is a WATCH transaction in progress (see Database.Watch): Do runs
// commands now, on the watched connection; Command queues commands for the
// MULTI...EXEC block sent when the function returns.
type Tx struct {
	db    Database
	dc    *dconn
	multi *Multi
	err   error // a failure that leaves the connection unusable
}

// Watch runs an optimistic transaction: it WATCHes keys on a dedicated
// connection, calls fn (which reads with tx.Do and queues writes with
// tx.Command), then sends the queued commands as MULTI...EXEC. If a watched
// key changed meanwhile, nothing runs and Watch returns ErrTxFailed: call it
// again. An error from fn discards the transaction and is returned as is.
// The connection is reset (UNWATCH) or closed before reuse, even when fn
// panics or ctx ends.
func (db Database) Watch(ctx context.Context, keys []string, fn func(tx *Tx) error) error {
	m := db.m
	if m.closed.Load() {
		return &RequestError{Exec: NotSent, Err: ErrClosed}
	}
	if err := m.checkDB(ctx, db.db); err != nil {
		return err
	}
	for redirects := 0; ; redirects++ {
		node, slot := db.target(), NoSlot
		if node == nil {
			var err error
			if slot, err = m.slotOfKeys(keys, NoSlot, ""); err != nil {
				return &CommandError{Command: "WATCH", Err: err}
			}
			if node, err = m.route(ctx, slot, false); err != nil {
				return &RequestError{Exec: NotSent, Err: err}
			}
		}
		moved, err := db.watchOn(ctx, node, slot, keys, fn)
		if moved == nil || db.target() != nil || redirects >= maxRedirects {
			return err
		}
		// The slot has moved, and the router did not know: WATCH was
		// refused, so nothing ran (fn was not called). Learn, and go there.
		m.router.Moved(moved.Slot, redirectAddr(moved.Addr, node))
	}
}

// watchOn is Watch on node, for keys in slot (NoSlot: not sharded). When
// the node refuses WATCH with MOVED, it returns that redirection (and the
// error), and fn has not been called.
func (db Database) watchOn(ctx context.Context, node *Node, slot int, keys []string, fn func(tx *Tx) error) (moved *resp.Error, err error) {
	m := db.m
	p := node.pool
	dc, err := p.get(ctx)
	if err != nil {
		if ctx.Err() == nil {
			m.router.Trouble(node, err)
		}
		return nil, &RequestError{Addr: node.addr(), Exec: NotSent, Err: err}
	}
	tx := &Tx{db: db, dc: dc, multi: db.Multi()}
	if slot != NoSlot {
		// The queued commands' keys must be in the watched keys' slot.
		tx.multi.slot, tx.multi.anchor = slot, keys[0]
	}
	clean := false // the connection is known to hold no WATCH or MULTI
	defer func() {
		r := recover()
		if !clean && tx.err == nil {
			clean = tx.unwatch()
		}
		p.put(dc, clean && tx.err == nil)
		tx.dc = nil
		if r != nil {
			panic(r)
		}
	}()
	if err := dc.selectDB(ctx, db.db); err != nil {
		var refused *CommandError
		if !errors.As(err, &refused) {
			// The connection failed: nothing of the transaction ran.
			err = &RequestError{Addr: dc.rc.addr, Exec: NotSent, Err: err}
		}
		tx.err = err
		return nil, err
	}
	args := append([]string{"WATCH"}, keys...)
	vs, err := tx.roundTrip(ctx, resp.AppendCommandStrings(nil, args...), 1, dc.quick)
	if err != nil {
		if ctx.Err() == nil {
			m.router.Trouble(node, err)
		}
		// WATCH changes no data and fn has not run: nothing of the
		// transaction ran, whatever became of WATCH.
		var re *RequestError
		if errors.As(err, &re) {
			err = &RequestError{Addr: re.Addr, Exec: NotSent, Err: re.Err}
		}
		return nil, err
	}
	if err := vs[0].Err(); err != nil {
		if e := movedReply(err); e != nil {
			return e, err
		}
		return nil, err // refused (NOPERM, LOADING...): nothing would guard EXEC
	}
	if err := fn(tx); err != nil {
		tx.multi.Discard()
		return nil, err
	}
	if len(tx.multi.futures) == 0 {
		return nil, nil
	}
	if tx.multi.err != nil {
		tx.multi.settleAll(tx.multi.err)
		return nil, tx.multi.err
	}
	tx.multi.state = txExecuted
	// The scripts queued with Script.Command are loaded ahead of MULTI, as
	// Multi.Exec does (SCRIPT LOAD changes no key: WATCH does not mind).
	block := tx.multi.appendBlock(tx.multi.appendLoads(nil))
	replies, err := tx.roundTrip(ctx, block, len(tx.multi.scripts)+len(tx.multi.futures)+2, dc.quick)
	if err != nil {
		tx.multi.settleAll(err)
		return nil, err
	}
	replies = tx.multi.loaded(node, replies)
	// EXEC (or its abort) ends both MULTI and WATCH; not when MULTI was
	// refused: then WATCH is still on (unwatch, deferred, clears it).
	clean = len(replies) > 0 && !replies[0].IsError()
	return nil, tx.multi.finish(replies)
}

// Do runs a command now on the transaction's connection (typically a read of
// a watched key) and returns its reply. It refuses (ErrNotAllowed, nothing
// sent) the commands Watch runs itself (WATCH, MULTI, EXEC, SELECT...) and
// those that would turn the connection into a stream (SUBSCRIBE and the
// like, MONITOR, SYNC).
func (tx *Tx) Do(ctx context.Context, args ...any) (resp.Value, error) {
	if tx.dc == nil {
		return resp.Value{}, ErrConnDone
	}
	if len(args) == 0 {
		return resp.Value{}, &CommandError{Err: ErrEmptyCommand}
	}
	if name, _ := argString(args[0]); txRefused(name) {
		return resp.Value{}, &CommandError{Command: name, Err: ErrNotAllowed,
			Reason: "Watch manages WATCH, MULTI and EXEC itself; queue commands with Tx.Command"}
	} else if txStreams(name) {
		return resp.Value{}, &CommandError{Command: name, Err: ErrNotAllowed,
			Reason: "it would turn Watch's connection into a stream of pushes; use Subscribe, or Dedicated"}
	}
	buf, err := tx.db.encode(nil, args)
	if err != nil {
		return resp.Value{}, err
	}
	timeout := tx.dc.quick // Config.SocketTimeout, as on the shared connection...
	if ci, err := tx.db.m.check(args); err == nil && blocks(ci, args, argText) {
		timeout = 0 // ...but a blocking command may wait as long as it says
	}
	vs, err := tx.roundTrip(ctx, buf, 1, timeout)
	if err != nil {
		return resp.Value{}, err
	}
	return vs[0], vs[0].Err()
}

// Command queues a command for the MULTI...EXEC block; its Future settles
// when Watch sends the block.
func (tx *Tx) Command(args ...any) *Future {
	return tx.multi.Command(args...)
}

func txRefused(name string) bool {
	switch strings.ToLower(name) {
	case "multi", "exec", "discard", "watch", "unwatch", "select", "reset", "hello", "auth":
		return true
	}
	return false
}

// txStreams reports whether a command would leave the connection sending
// what nobody asked for (subscriptions, MONITOR, replication), which
// Watch's clean-up (UNWATCH) would not undo.
func txStreams(name string) bool {
	switch strings.ToLower(name) {
	case "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe",
		"monitor", "sync", "psync":
		return true
	}
	return false
}

// roundTrip runs buf on the transaction's connection, failing it if no
// reply has come within timeout (0: none); a failure marks the connection
// unusable.
func (tx *Tx) roundTrip(ctx context.Context, buf []byte, n int, timeout time.Duration) ([]resp.Value, error) {
	if tx.err != nil {
		// Not tx.err itself: it would say that this command, too, may
		// have run, and, say, timed out under a ctx that is still live.
		return nil, brokenErr(tx.dc.rc.addr, tx.err)
	}
	vs, exec, err := tx.dc.roundTrip(ctx, buf, n, timeout)
	if err != nil {
		tx.err = &RequestError{Addr: tx.dc.rc.addr, Exec: exec, Err: err}
		return nil, tx.err
	}
	return vs, nil
}

// brokenErr is the error of a command not sent on a Conn or Tx because of
// an earlier failure on it.
func brokenErr(addr string, earlier error) error {
	return &RequestError{Addr: addr, Exec: NotSent, Err: fmt.Errorf("%w (the earlier failure: %v)", ErrConnBroken, earlier)}
}

// unwatch clears the connection's WATCH; it reports success.
func (tx *Tx) unwatch() bool {
	ctx, cancel := context.WithTimeout(context.Background(), tx.db.m.s.connectTimeout)
	defer cancel()
	vs, _, err := tx.dc.roundTrip(ctx, resp.AppendCommandStrings(nil, "UNWATCH"), 1, tx.dc.quick)
	return err == nil && !vs[0].IsError()
}
