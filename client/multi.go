package client

import (
	"context"
	"fmt"

	"github.com/justredis/justredis/resp"
)

// Multi is a transaction: commands queued with Command are sent as one unit,
// MULTI ... EXEC, that no other caller's commands can interleave with, and
// run atomically by the server. Build it on one goroutine.
type Multi struct {
	db       Database
	buf      []byte              // the queued commands, encoded
	futures  []*Future           // one per queued command
	safe     bool                // every command is read-only or idempotent
	err      error               // the first command that could not be queued
	scripts  []*Script           // scripts the transaction runs (loaded before MULTI, every time)
	scriptOf map[*Future]*Script // the futures of Script.Command, and their scripts
	loadErr  map[string]error    // by SHA: scripts whose SCRIPT LOAD failed, this try
	slot     int                 // the hash slot of its keys (NoSlot: none yet, or not sharded)
	anchor   string              // a key of the transaction, to check others' slots against
	keyed    []bool              // under a sharded router: which queued commands have keys
	state    txState
}

// txState is where a Multi is in its life.
type txState uint8

const (
	txOpen txState = iota
	txExecuted
	txDiscarded
)

// Multi starts a transaction in db.
func (db Database) Multi() *Multi {
	return &Multi{db: db, safe: true, slot: NoSlot}
}

// Command queues a command in the transaction and returns its Future, which
// settles when Exec returns. A command the client cannot encode makes Exec
// fail without sending anything.
func (tx *Multi) Command(args ...any) *Future {
	f := newFuture(tx.db.decoder())
	f.tx = tx
	tx.futures = append(tx.futures, f)
	if tx.state != txOpen || tx.err != nil {
		return f
	}
	ci, err := tx.db.m.check(args) // blocking commands do not block inside MULTI: they run here
	if err != nil {
		tx.err = err
		return f
	}
	if err := tx.route(ci, args); err != nil {
		tx.err = err
		return f
	}
	if tx.buf, err = tx.db.encode(tx.buf, args); err != nil {
		tx.err = err
		return f
	}
	tx.safe = tx.safe && (tx.db.idempotent || ci.Is(FlagReadOnly))
	return f
}

// route checks, under a sharded router, that the command's keys share the
// transaction's slot.
func (tx *Multi) route(ci *CommandInfo, args []any) error {
	m := tx.db.m
	if !m.router.Sharded() || tx.db.target() != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(m.ctx, m.s.connectTimeout) // only for COMMAND GETKEYS, rarely needed
	defer cancel()
	keys, err := m.keysOf(ctx, ci, args)
	tx.keyed = append(tx.keyed, len(keys) > 0)
	if err != nil || len(keys) == 0 {
		return err
	}
	slot, err := m.slotOfKeys(keys, tx.slot, tx.anchor)
	if err != nil {
		name, _ := argString(args[0])
		return &CommandError{Command: name, Err: err, Reason: "every key of a transaction must be in one slot"}
	}
	if tx.anchor == "" {
		tx.anchor = keys[0]
	}
	tx.slot = slot
	return nil
}

// Exec sends the transaction and waits for it. It returns an error when the
// transaction did not run: ErrTxAborted (the server refused a command when
// it was queued), a connection error (NotExecuted and MaybeExecuted tell
// whether it may have run), or an encoding error; ErrTxNotExecuted when
// called again, or after Discard. When it ran, Exec returns nil and each
// Future holds its command's reply, which may itself be a server error (a
// command that failed inside the transaction). When the server refused
// MULTI itself, it ran the commands one by one, not as a transaction:
// Exec returns ErrTxNotAtomic, and each Future holds its command's reply.
// An empty transaction sends nothing and returns nil. A reply the server sent malformed (see the
// package doc) fails Exec and every Future with its protocol error, even
// though the transaction may have run.
func (tx *Multi) Exec(ctx context.Context) error {
	if tx.state != txOpen {
		return ErrTxNotExecuted
	}
	tx.state = txExecuted
	if tx.err != nil {
		tx.settleAll(tx.err)
		return tx.err
	}
	n := len(tx.futures)
	if n == 0 {
		return nil
	}
	if err := tx.db.m.checkDB(ctx, tx.db.db); err != nil {
		tx.settleAll(err)
		return err
	}
	pin := tx.db.target()
	var askNode *Node // an ASK redirection: the next try goes there with ASKING
	for try := 0; ; try++ {
		node := pin
		if askNode != nil {
			node = askNode
		} else if node == nil {
			var err error
			if node, err = tx.db.m.route(ctx, tx.slot, false); err != nil {
				err = &RequestError{Exec: NotSent, Err: err}
				tx.settleAll(err)
				return err
			}
		}
		replies, err := tx.send(ctx, node, pin != nil || askNode != nil, askNode != nil)
		askNode = nil
		if err != nil {
			tx.settleAll(err)
			return err
		}
		// A slot moving under the transaction aborts it before it runs:
		// follow the redirection and send it again.
		if e := movedAbort(replies); e != nil && pin == nil && try < maxRedirects && ctx.Err() == nil {
			switch e.Prefix {
			case "MOVED":
				tx.db.m.router.Moved(e.Slot, redirectAddr(e.Addr, node))
				continue
			case "ASK":
				// The slot is migrating. When every keyed command was
				// answered ASK, all the keys have left: send the whole block
				// to the target, ASKING first (its effect lasts through
				// MULTI until EXEC). When some keys are still here, sending
				// it there would run those commands on keys the target does
				// not have yet: wait for the migration instead. When EXEC
				// itself was answered ASK, the server found at EXEC that
				// the keys had left (some left, some here: TRYAGAIN).
				if execRedirect(replies) != nil || tx.allAsked(replies) {
					if askNode = tx.db.m.Node(redirectAddr(e.Addr, node)); askNode != nil {
						continue
					}
				}
				if sleepCtx(ctx, tryAgainWait) == nil {
					continue
				}
			default: // TRYAGAIN: the keys are split mid-migration; wait
				if sleepCtx(ctx, tryAgainWait) == nil {
					continue
				}
			}
		}
		return tx.finish(replies)
	}
}

// send writes the transaction to node and returns the replies of its
// block. The scripts it runs are loaded in the same write, ahead of MULTI,
// every time, whatever the client believes the server knows: the request
// may go out on a new connection (to a restarted or failed-over server
// that forgot them), and a NOSCRIPT inside EXEC could not be retried, as
// the rest of the block runs. A failed SCRIPT LOAD does not stop the block,
// which the server runs anyway: it is kept in tx.loadErr for the script's
// futures. With asking, ASKING goes right before MULTI, after the loads:
// outside a transaction the server's ASKING covers only the next command,
// and a SCRIPT LOAD would use it up.
func (tx *Multi) send(ctx context.Context, node *Node, pinned, asking bool) ([]resp.Value, error) {
	n := len(tx.futures)
	r := getRequest()
	r.buf = tx.appendLoads(r.buf[:0])
	extra := 0
	if asking {
		r.buf = append(r.buf, askingCommand...)
		extra = 1
	}
	r.buf = tx.appendBlock(r.buf)
	r.db, r.expect, r.slot = tx.db.db, extra+len(tx.scripts)+n+2, tx.slot
	r.safe, r.retries = tx.safe, tx.db.retries
	var replies []resp.Value
	cl := call{m: tx.db.m, r: r, node: node, pinned: pinned, noRedirect: true,
		collect: func(r *request) { replies = append(replies, r.replies...) }}
	cl.send(ctx)
	if _, err := cl.result(ctx); err != nil && replyError(err) == nil {
		return nil, err // the connection failed (or failed to come up), or ctx ended
	}
	// Where it went: a re-send may re-route; nil after a CLUSTERDOWN
	// whose pause ctx cut short (the next send would have asked).
	replies = tx.loaded(cl.node, replies)
	if extra > 0 && len(replies) > 0 {
		replies = replies[1:] // ASKING's +OK
	}
	return replies, nil
}

// appendLoads appends a SCRIPT LOAD of each script the transaction runs.
func (tx *Multi) appendLoads(dst []byte) []byte {
	for _, s := range tx.scripts {
		dst = resp.AppendCommandStrings(dst, "SCRIPT", "LOAD", s.src)
	}
	return dst
}

// loaded takes the replies to appendLoads' commands off the front of
// replies: it keeps each failed load's error for the script's futures
// (scriptErr), and tells node's cache of the others (none when node is
// nil: the cache then learns at the next run).
func (tx *Multi) loaded(node *Node, replies []resp.Value) []resp.Value {
	clear(tx.loadErr)
	if len(replies) < len(tx.scripts) {
		return replies
	}
	for i, s := range tx.scripts {
		if e := replies[i].Err(); e != nil {
			if tx.loadErr == nil {
				tx.loadErr = map[string]error{}
			}
			tx.loadErr[s.sha] = e
			continue
		}
		if node != nil {
			node.scripts.remember(s.sha)
		}
	}
	return replies[len(tx.scripts):]
}

// allAsked reports whether every command of the transaction that has keys
// was refused with ASK when queued.
func (tx *Multi) allAsked(replies []resp.Value) bool {
	if len(replies) != len(tx.futures)+2 || len(tx.keyed) != len(tx.futures) {
		return false
	}
	for i, keyed := range tx.keyed {
		if keyed && resp.ErrorPrefix(replies[i+1].Err()) != "ASK" {
			return false
		}
	}
	return true
}

// movedAbort returns the redirection (MOVED, ASK) or TRYAGAIN that made the
// server abort a transaction when it was queued, or that EXEC itself was
// answered with (the keys moved between queueing and EXEC: the server
// discarded the transaction), if that is why it did not run.
func movedAbort(replies []resp.Value) *resp.Error {
	if len(replies) < 2 {
		return nil
	}
	if e := execRedirect(replies); e != nil {
		return e
	}
	if resp.ErrorPrefix(replies[len(replies)-1].Err()) != "EXECABORT" {
		return nil
	}
	for _, v := range replies[1 : len(replies)-1] {
		if e, ok := v.Err().(*resp.Error); ok {
			switch {
			case e.IsRedirect(), e.Prefix == "TRYAGAIN":
				return e
			}
		}
	}
	return nil
}

// useScript records that the transaction runs s, in the future f.
func (tx *Multi) useScript(s *Script, f *Future) {
	if tx.scriptOf == nil {
		tx.scriptOf = map[*Future]*Script{}
	}
	tx.scriptOf[f] = s
	for _, have := range tx.scripts {
		if have.sha == s.sha {
			return
		}
	}
	tx.scripts = append(tx.scripts, s)
}

// scriptErr is the error of the future f, whose reply inside EXEC was err:
// for a script whose SCRIPT LOAD failed, and which therefore did not run
// (NOSCRIPT), it says why the load failed.
func (tx *Multi) scriptErr(f *Future, err error) error {
	if err == nil || resp.ErrorPrefix(err) != "NOSCRIPT" {
		return err
	}
	if s := tx.scriptOf[f]; s != nil {
		if le := tx.loadErr[s.sha]; le != nil {
			return fmt.Errorf("%w (SCRIPT LOAD: %w)", err, le)
		}
	}
	return err
}

// appendBlock appends MULTI, the queued commands and EXEC.
func (tx *Multi) appendBlock(dst []byte) []byte {
	dst = resp.AppendCommandStrings(dst, "MULTI")
	dst = append(dst, tx.buf...)
	return resp.AppendCommandStrings(dst, "EXEC")
}

// finish settles the futures from the replies to the block: MULTI's +OK,
// one +QUEUED (or queueing error) per command, and EXEC's reply.
func (tx *Multi) finish(replies []resp.Value) error {
	n := len(tx.futures)
	if len(replies) != n+2 {
		err := fmt.Errorf("%w: %d replies to a transaction of %d commands", ErrUnexpectedReply, len(replies), n)
		tx.settleAll(err)
		return err
	}
	if e := replies[0].Err(); e != nil {
		// MULTI refused: the server ran each command as it came, and
		// refused EXEC ("without MULTI"); the replies are the commands'.
		for i, f := range tx.futures {
			v := replies[i+1]
			f.settle(v, tx.scriptErr(f, v.Err()))
		}
		return fmt.Errorf("%w: MULTI: %w", ErrTxNotAtomic, e)
	}
	exec := replies[n+1]
	switch {
	case exec.Type == resp.TypeArray && len(exec.Elems) == n:
		for i, f := range tx.futures {
			v := exec.Elems[i]
			f.settle(v, tx.scriptErr(f, v.Err()))
		}
		return nil
	case exec.IsError(): // EXECABORT: each future gets its queueing error, or the abort
		abort := fmt.Errorf("%w: %w", ErrTxAborted, exec.Err())
		for i, f := range tx.futures {
			if e := replies[i+1].Err(); e != nil {
				f.settle(replies[i+1], e)
			} else {
				f.settle(resp.Value{}, abort)
			}
		}
		return abort
	case exec.Type == resp.TypeNull: // a watched key changed
		tx.settleAll(ErrTxFailed)
		return ErrTxFailed
	}
	err := fmt.Errorf("%w: EXEC returned %v", ErrUnexpectedReply, exec)
	tx.settleAll(err)
	return err
}

// Discard drops the transaction without sending anything; its futures
// report ErrTxNotExecuted.
func (tx *Multi) Discard() {
	if tx.state == txOpen {
		tx.state = txDiscarded
		tx.settleAll(ErrTxNotExecuted)
	}
}

func (tx *Multi) settleAll(err error) {
	for _, f := range tx.futures {
		f.settle(resp.Value{}, err)
	}
}

// execRedirect returns the redirection (MOVED, ASK) or TRYAGAIN that EXEC
// itself was answered with, or nil.
func execRedirect(replies []resp.Value) *resp.Error {
	if len(replies) == 0 {
		return nil
	}
	e, ok := replies[len(replies)-1].Err().(*resp.Error)
	if ok && (e.IsRedirect() || e.Prefix == "TRYAGAIN") {
		return e
	}
	return nil
}
