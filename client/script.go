package client

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"

	"github.com/justredis/justredis/resp"
)

// Script is a Lua script run by its SHA1 digest (EVALSHA), loaded into the
// server transparently: the client remembers, per server connection, which
// scripts it has loaded, sends SCRIPT LOAD together with the first EVALSHA,
// and on NOSCRIPT (after a restart or SCRIPT FLUSH) loads the script and runs
// it again. It is safe for concurrent use.
type Script struct {
	src string
	sha string
}

// NewScript returns a Script for the Lua source src.
func NewScript(src string) *Script {
	sum := sha1.Sum([]byte(src))
	return &Script{src: src, sha: hex.EncodeToString(sum[:])}
}

// SHA returns the script's SHA1 digest, as EVALSHA and SCRIPT LOAD use it.
func (s *Script) SHA() string { return s.sha }

// Source returns the Lua source.
func (s *Script) Source() string { return s.src }

// Run runs the script with keys and args (EVALSHA) in db. On a cluster it
// goes to the owner of its keys' slot, which must be one.
func (s *Script) Run(ctx context.Context, db Database, keys []string, args ...any) (resp.Value, error) {
	return s.run(ctx, db, "EVALSHA", keys, args, false)
}

// RunRO runs a read-only script (EVALSHA_RO, Redis 7): the server refuses it
// if it writes, and the client may retry it like any read-only command.
func (s *Script) RunRO(ctx context.Context, db Database, keys []string, args ...any) (resp.Value, error) {
	return s.run(ctx, db, "EVALSHA_RO", keys, args, true)
}

// Command queues the script in a transaction: a Multi, or the Tx of a
// Watch. The transaction sends its SCRIPT LOAD in the same write, ahead of
// MULTI, every time: a NOSCRIPT inside EXEC could not be retried, as the
// rest of the transaction runs. If the load fails (a script that does not
// compile), the rest of the transaction still runs, and this Future's error
// (NOSCRIPT) also wraps the load's.
func (s *Script) Command(tx Queue, keys []string, args ...any) *Future {
	m := tx.queue()
	f := m.Command(append([]any{"EVALSHA", s.sha}, scriptArgs(keys, args)...)...)
	m.useScript(s, f)
	return f
}

// Queue is a transaction that Script.Command queues in: a *Multi, or the
// *Tx of a Watch.
type Queue interface {
	queue() *Multi
}

func (tx *Multi) queue() *Multi { return tx }
func (tx *Tx) queue() *Multi    { return tx.multi }

// scriptArgs is numkeys, keys..., args...
func scriptArgs(keys []string, args []any) []any {
	out := make([]any, 0, 1+len(keys)+len(args))
	out = append(out, len(keys))
	for _, k := range keys {
		out = append(out, k)
	}
	return append(out, args...)
}

// run sends cmd (EVALSHA or EVALSHA_RO) with keys and args to the node
// that serves the keys. An unknown script goes with its SCRIPT LOAD in
// front, in one request; a NOSCRIPT reply makes the client forget it on the
// node that said so and try once more that way.
func (s *Script) run(ctx context.Context, db Database, cmd string, keys []string, args []any, readOnly bool) (resp.Value, error) {
	if db.db != 0 {
		if err := db.m.checkDB(ctx, db.db); err != nil {
			return resp.Value{}, err
		}
	}
	slot := NoSlot
	node := db.target()
	if node == nil {
		var err error
		if slot, err = db.m.slotOfKeys(keys, NoSlot, ""); err != nil {
			return resp.Value{}, &CommandError{Command: cmd, Err: err}
		}
	}
	rest := scriptArgs(keys, args)
	noScript := false // the last try was answered NOSCRIPT: load it this time
	for try := 0; ; try++ {
		n := node
		if n == nil {
			var err error
			if n, err = db.m.route(ctx, slot, readOnly); err != nil {
				return resp.Value{}, &RequestError{Exec: NotSent, Err: err}
			}
		}
		load := noScript || !n.scripts.known(s.sha)
		v, at, err := s.send(ctx, db, n, node != nil, cmd, rest, slot, readOnly, load)
		if at == nil {
			at = n
		}
		// What the answer says of the script, it says of the server that
		// gave it, which a redirection may have made another than n (the
		// importing node of a migrating slot, after ASK): the next try
		// loads the script wherever it goes.
		if e := replyError(err); e != nil && e.Prefix == "NOSCRIPT" && try == 0 {
			at.scripts.forget(s.sha)
			noScript = true
			continue
		}
		if err == nil || replyError(err) != nil {
			// The server has it now (a script error is still an answer;
			// a connection failure that wraps one is not).
			at.scripts.remember(s.sha)
		}
		return v, err
	}
}

// send builds and runs the request [SCRIPT LOAD src,] cmd sha rest..., on n
// (following redirects unless pinned), and returns the reply and the node
// that gave it (nil if none did).
func (s *Script) send(ctx context.Context, db Database, n *Node, pinned bool, cmd string, rest []any,
	slot int, readOnly, load bool) (resp.Value, *Node, error) {
	r := getRequest()
	r.buf = r.buf[:0]
	r.expect = 1
	if load {
		r.buf = resp.AppendCommandStrings(r.buf, "SCRIPT", "LOAD", s.src)
		r.expect = 2
		r.askAt = int32(len(r.buf)) // after ASK, ASKING goes right before the EVALSHA
	}
	var err error
	if r.buf, err = db.encode(r.buf, append([]any{cmd, s.sha}, rest...)); err != nil {
		putRequest(r)
		return resp.Value{}, nil, err
	}
	r.db, r.slot, r.readOnly = db.db, slot, readOnly
	r.safe, r.retries = readOnly || db.idempotent, db.retries
	var loadErr error
	cl := call{m: db.m, r: r, node: n, pinned: pinned, collect: func(r *request) {
		if load && len(r.replies) >= 2 {
			loadErr = r.replies[0].Err() // SCRIPT LOAD's: first, ASKING or not
		}
	}}
	cl.send(ctx)
	v, err := cl.result(ctx)
	if e := replyError(err); loadErr != nil && e != nil && e.Prefix == "NOSCRIPT" {
		return resp.Value{}, cl.node, loadErr // a compile error: say that, not NOSCRIPT
	}
	// SCRIPT LOAD may fail while EVALSHA runs (the server knew the script,
	// and an ACL denies SCRIPT LOAD): the script's own reply is the answer.
	return v, cl.node, err
}

// scriptCache remembers which scripts the current connection's server knows.
// A new shared connection (a reconnect, maybe to a restarted server) starts
// a new generation, in which nothing is known.
type scriptCache struct {
	mu     sync.Mutex
	gen    uint64            // guarded by mu: bumped for each new connection
	loaded map[string]uint64 // guarded by mu: sha -> generation it was loaded in
}

func newScriptCache() *scriptCache { return &scriptCache{loaded: map[string]uint64{}} }

func (c *scriptCache) known(sha string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.loaded[sha]
	return ok && g == c.gen
}

func (c *scriptCache) remember(sha string) {
	c.mu.Lock()
	c.loaded[sha] = c.gen
	c.mu.Unlock()
}

func (c *scriptCache) forget(sha string) {
	c.mu.Lock()
	delete(c.loaded, sha)
	c.mu.Unlock()
}

// newGeneration forgets everything (a new connection).
func (c *scriptCache) newGeneration() {
	c.mu.Lock()
	c.gen++
	clear(c.loaded)
	c.mu.Unlock()
}

// mayBeEval reports whether a command name argument may be EVAL or EVAL_RO
// (a cheap test before evalScript's).
func mayBeEval(name any) bool {
	var n int
	var c byte
	switch s := name.(type) {
	case string:
		if n = len(s); n > 0 {
			c = s[0]
		}
	case []byte:
		if n = len(s); n > 0 {
			c = s[0]
		}
	}
	return (n == 4 || n == 7) && c|0x20 == 'e'
}

// evalScript recognises EVAL and EVAL_RO passed to Do, which the client
// runs through a Script (EVALSHA first) as the seed did. It returns the
// script, the matching EVALSHA command, and the keys and arguments.
func evalScript(args []any) (s *Script, cmd string, keys []string, rest []any, ok bool) {
	if len(args) < 3 {
		return nil, "", nil, nil, false
	}
	name, _ := argString(args[0])
	switch {
	case strings.EqualFold(name, "EVAL"):
		cmd = "EVALSHA"
	case strings.EqualFold(name, "EVAL_RO"):
		cmd = "EVALSHA_RO"
	default:
		return nil, "", nil, nil, false
	}
	src, isString := args[1].(string)
	text, isText := argText(args[2])
	numkeys, err := strconv.Atoi(text)
	if !isString || !isText || err != nil || numkeys < 0 || 3+numkeys > len(args) {
		return nil, "", nil, nil, false // let the server say what is wrong
	}
	for _, k := range args[3 : 3+numkeys] {
		key, ok := argText(k)
		if !ok {
			return nil, "", nil, nil, false
		}
		keys = append(keys, key)
	}
	return NewScript(src), cmd, keys, args[3+numkeys:], true
}
