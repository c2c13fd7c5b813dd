package client

import (
	"context"

	"github.com/justredis/justredis/resp"
)

// Database is a handle for running commands in one database with a set of
// options (encoder, decoder, retry budget). It is a small value: copy it,
// derive variants with With, keep as many as you like; none of that
// allocates or affects other handles.
type Database struct {
	m          *Mux
	db         int
	enc        EncodeFunc // nil: DefaultEncode
	dec        DecodeFunc // nil: DecodeAuto
	retries    int
	idempotent bool
	pin        string // Pin's address; "" routes normally
	node       *Node  // a node to use without routing (Node.Do); nil routes normally
}

// Option changes a Database handle; see With.
type Option interface{ apply(Database) Database }

type retriesOption int
type encoderOption EncodeFunc
type decoderOption DecodeFunc
type idempotentOption bool
type pinOption string

func (o retriesOption) apply(d Database) Database    { d.retries = max(int(o), 0); return d }
func (o encoderOption) apply(d Database) Database    { d.enc = EncodeFunc(o); return d }
func (o decoderOption) apply(d Database) Database    { d.dec = DecodeFunc(o); return d }
func (o idempotentOption) apply(d Database) Database { d.idempotent = bool(o); return d }
func (o pinOption) apply(d Database) Database        { d.pin = string(o); return d }

// Retries sets the retry budget: how many times a command may be re-sent
// after a failure that allows it (never sent; or sent, with the outcome
// unknown, when the command is read-only or marked Idempotent). 0 disables
// retries.
func Retries(n int) Option { return retriesOption(n) }

// Encoder sets how arguments are encoded; nil restores DefaultEncode.
func Encoder(f EncodeFunc) Option { return encoderOption(f) }

// Decoder sets how Call and Future.Result decode replies; nil restores
// DecodeAuto.
func Decoder(f DecodeFunc) Option { return decoderOption(f) }

// Idempotent marks commands as safe to re-send even when they may already
// have run (for example SET without options, or DEL): a connection failure
// after sending is then retried like one before sending.
func Idempotent(on bool) Option { return idempotentOption(on) }

// Pin sends the handle's commands to the server at addr ("host:port"),
// whatever the router says (server= in Python justredis); a pinned command
// does not follow MOVED or ASK: the redirection comes back as its error.
// "" unpins.
func Pin(addr string) Option { return pinOption(addr) }

// pinned returns db bound to node n (no routing, no redirects).
func (db Database) pinned(n *Node) Database {
	db.node = n
	return db
}

// With returns a copy of db with the options applied.
func (db Database) With(opts ...Option) Database {
	for _, o := range opts {
		db = o.apply(db)
	}
	return db
}

// Number returns the database number.
func (db Database) Number() int { return db.db }

// Mux returns the multiplexer the handle belongs to.
func (db Database) Mux() *Mux { return db.m }

// Do sends a command and waits for its reply (commandreply in Python
// justredis). The first argument is the command name. A server error reply is
// returned as an error (*Error, with its Prefix), alongside the reply value;
// a null reply is a Value of type resp.TypeNull with a nil error. EVAL and
// EVAL_RO are run as EVALSHA (see Script), so the script's source is sent
// once per connection, not with every call.
//
// When ctx ends first, Do returns at once with an error wrapping ctx.Err()
// (NotExecuted tells whether it was never sent); the reply, if it comes, is
// read and dropped.
func (db Database) Do(ctx context.Context, args ...any) (v resp.Value, err error) {
	if len(args) >= 3 && mayBeEval(args[0]) && db.doEval(ctx, args, &v, &err) {
		return v, err
	}
	r, blocking, err := db.prepare(ctx, args)
	if err != nil {
		return v, err
	}
	if blocking {
		db.doBlocking(ctx, r, &v, &err)
		return v, err
	}
	cl := newCall(db.m, r, db.target())
	cl.send(ctx)
	if cl.sendErr == nil {
		// call.result, with its common case here: the reply goes from
		// the request straight into Do's results.
		if err = cl.wait(ctx); err != nil {
			return v, err
		}
		if r.plain() {
			v = r.value
			putRequest(r)
			return v, nil
		}
	}
	cl.settleInto(ctx, &v, &err)
	return v, err
}

// The rare paths of Do live in functions of their own, so that Do's frame,
// which every waiting caller keeps on its stack, stays small: after a wait
// the stack is cold, and each of its cache lines touched is a miss. For
// the same reason Do runs the common case of call.result itself: a reply
// returned through one frame more is copied once more, and resp.Value with
// an error is too large to be returned in registers.

// doEval runs an EVAL or EVAL_RO as a cached script; ok is false when the
// arguments do not make one (the server then says what is wrong).
//
//go:noinline
func (db *Database) doEval(ctx context.Context, args []any, v *resp.Value, err *error) (ok bool) {
	s, cmd, keys, rest, ok := evalScript(args)
	if !ok {
		return false
	}
	*v, *err = s.run(ctx, *db, cmd, keys, rest, cmd == "EVALSHA_RO")
	return true
}

// doBlocking runs r, a blocking command, on a dedicated connection.
//
//go:noinline
func (db *Database) doBlocking(ctx context.Context, r *request, v *resp.Value, err *error) {
	*v, *err = db.m.doBlocking(ctx, r, db.target())
	putRequest(r)
}

// target is the node the handle is pinned to, or nil to route.
func (db *Database) target() *Node {
	if db.node != nil {
		return db.node
	}
	if db.pin != "" {
		return db.m.Node(db.pin)
	}
	return nil
}

// Call is Do with the reply decoded by the handle's decoder (DecodeAuto by
// default: strings, int64, float64, bool, nil, []any, map[string]any).
func (db Database) Call(ctx context.Context, args ...any) (any, error) {
	v, err := db.Do(ctx, args...)
	if err != nil {
		return nil, err
	}
	return db.decoder()(v)
}

// Command sends a command without waiting for its reply (command in
// Python justredis): it returns at once with a Future. Commands are written in the
// order they are issued, pipelined with everyone else's: a lone goroutine
// that issues N commands pays about one round trip, not N (the first
// Command on a connection that served a lone caller by direct round trips
// switches it to pipelining). ctx bounds only the wait for room in a full
// queue; pass the context for the reply to Future.Reply.
func (db Database) Command(ctx context.Context, args ...any) *Future {
	f := newFuture(db.decoder())
	r, blocking, err := db.prepare(ctx, args)
	if err != nil {
		f.settle(resp.Value{}, err)
		return f
	}
	if blocking {
		f.startBlocking(db.m, r, db.target())
		return f
	}
	f.call = newCall(db.m, r, db.target())
	f.call.queued = true
	f.call.send(ctx)
	if f.call.sendErr != nil || r.state.Load() == stDone {
		// Done already (it failed to enter a connection, or its reply came
		// already): finish now, so that a re-send it needs happens before
		// the caller's next command.
		v, err := f.call.result(ctx)
		f.call = call{}
		f.settle(v, err)
	}
	return f
}

// prepare validates and encodes a command into a new request, and says
// whether it blocks (and so must run on a dedicated connection).
func (db *Database) prepare(ctx context.Context, args []any) (*request, bool, error) {
	ci, slot, err := analyze(db, ctx, args, argString, argText)
	if err != nil {
		return nil, false, err
	}
	r := getRequest()
	if err = db.encodeRequest(r, args); err != nil {
		putRequest(r)
		return nil, false, err
	}
	db.setup(r, ci, slot)
	blocking := blocks(ci, args, argText)
	if blocking {
		r.flatten() // dedicated connections write one buffer
	}
	return r, blocking, nil
}

// analyze checks a command and finds its slot, for arguments of any type A
// ([]any from Do, []string from DoStrings); name gives the text of a command
// or subcommand name, text any argument's bytes.
// (It must not pass args itself to a func value: for []string that would
// move the caller's variadic slice to the heap.)
func analyze[A any](db *Database, ctx context.Context, args []A, name, text func(A) (string, bool)) (*CommandInfo, int, error) {
	ci, err := check(db.m, args, name)
	if err != nil {
		return nil, NoSlot, err
	}
	if db.db != 0 {
		if err := db.m.checkDB(ctx, db.db); err != nil {
			return nil, NoSlot, err
		}
	}
	slot := NoSlot
	if db.node == nil && db.pin == "" {
		if slot, err = slotOf(ctx, db.m, ci, args, text); err != nil {
			return nil, NoSlot, err
		}
	}
	return ci, slot, nil
}

// setup sets a request's routing and retry fields.
func (db *Database) setup(r *request, ci *CommandInfo, slot int) {
	r.db, r.expect, r.slot, r.resend = db.db, 1, slot, true
	r.readOnly = ci.Is(FlagReadOnly)
	r.safe, r.retries = db.idempotent || r.readOnly, db.retries
}

// DoStrings is Do for string arguments. It encodes them as they are (the
// handle's encoder is not used) and, because nothing has to be converted
// to an interface, it allocates nothing but the reply: a SET costs no
// allocation at all when args is a slice you reuse. EVAL is sent as is
// (Do caches scripts; Script does too).
func (db Database) DoStrings(ctx context.Context, args ...string) (v resp.Value, err error) {
	r, blocking, err := db.prepareStrings(ctx, args)
	if err != nil {
		return v, err
	}
	if blocking {
		r.flatten()
		db.doBlocking(ctx, r, &v, &err)
		return v, err
	}
	cl := newCall(db.m, r, db.target())
	cl.send(ctx)
	if cl.sendErr == nil { // as Do
		if err = cl.wait(ctx); err != nil {
			return v, err
		}
		if r.plain() {
			v = r.value
			putRequest(r)
			return v, nil
		}
	}
	cl.settleInto(ctx, &v, &err)
	return v, err
}

// prepareStrings is prepare for DoStrings.
func (db *Database) prepareStrings(ctx context.Context, args []string) (*request, bool, error) {
	ci, slot, err := analyze(db, ctx, args, stringText, stringText)
	if err != nil {
		return nil, false, err
	}
	r := getRequest()
	r.encodeStrings(args)
	db.setup(r, ci, slot)
	return r, blocks(ci, args, stringText), nil
}

func (db Database) decoder() DecodeFunc {
	if db.dec == nil {
		return DecodeAuto
	}
	return db.dec
}

// check finds a command's info and refuses what the shared connection
// cannot run.
func (m *Mux) check(args []any) (*CommandInfo, error) {
	return check(m, args, argString)
}

// check is Mux.check for arguments of any type; name gives the text of the
// command name and subcommand (only strings and byte slices count).
func check[A any](m *Mux, args []A, name func(A) (string, bool)) (*CommandInfo, error) {
	if len(args) == 0 {
		return nil, &CommandError{Err: ErrEmptyCommand}
	}
	cmd, ok := name(args[0])
	if !ok || cmd == "" {
		return nil, &CommandError{Command: "?", Err: ErrEmptyCommand, Reason: "the command name must be a non-empty string"}
	}
	var sub string
	if len(args) > 1 {
		sub, _ = name(args[1])
	}
	_, isString := any(args[0]).(string)
	ci := m.lookupCommand(cmd, sub, isString)
	if ci == nil {
		return nil, nil
	}
	if ci.refuse != "" {
		return ci, &CommandError{Command: cmd, Err: ErrNotAllowed, Reason: ci.refuse}
	}
	return ci, nil
}

// blocks reports whether a command must run on a dedicated connection.
func blocks[A any](ci *CommandInfo, args []A, text func(A) (string, bool)) bool {
	if ci == nil {
		return false
	}
	if ci.dedicated {
		return true
	}
	if ci.blockArg {
		for _, a := range args[1:] {
			if s, ok := text(a); ok && len(s) == 5 && equalFold(s, "block") {
				return true
			}
		}
	}
	return false
}

// argString returns a string or []byte argument as a string, without
// copying a []byte (the result must not outlive the call).
func argString(a any) (string, bool) {
	switch v := a.(type) {
	case string:
		return v, true
	case []byte:
		return string(v), true
	}
	return "", false
}

func equalFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
