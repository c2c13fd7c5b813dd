// Package client is justredis's Redis client: an auto-pipelining
// multiplexer. Every goroutine's commands share one connection per server;
// a writer goroutine batches whatever is queued into each write, and a
// reader goroutine hands each reply to the oldest waiting command. There is
// no connection pool to size, and throughput grows with concurrency.
//
//	mux, err := client.New(client.Config{Endpoints: []string{"127.0.0.1:6379"}})
//	defer mux.Close()
//	db := mux.Database(0)
//	_, err = db.Do(ctx, "SET", "Hello", "World!")
//	s, err := client.String(db.Do(ctx, "GET", "Hello"))
//
// # Failures and retries
//
// Every error answers one question: did the server run the command? A
// *RequestError says NotSent (provably not: safe to retry) or MaybeSent
// (written, outcome unknown); NotExecuted and MaybeExecuted ask it through
// any wrapping. The client re-sends a command itself only when that cannot
// run it twice: never sent, or read-only (from the server's COMMAND table),
// or marked Idempotent, within the handle's retry budget and the ctx. A
// server error reply is an *Error (resp.Error): the command ran and failed;
// it is never retried, except LOADING, which means it did not run.
//
// A reply the server sends malformed, in a frame that is still sound (a
// number that does not parse, on a line that ends in CRLF: see
// resp.ProtocolError.Framed), fails that command alone, with a
// *RequestError (MaybeSent) wrapping the *resp.ProtocolError; the shared
// connection reads on. Any other malformed reply fails the connection
// (ErrConnection), as the replies after it can no longer be matched to
// their callers. A Conn lent by Mux.Dedicated treats it the same way; the
// connections of blocking commands, of Watch and of pub/sub are dropped on
// either (pub/sub re-subscribes).
//
// A caller whose ctx ends gets its error at once; its reply, if one comes,
// is read and dropped, so replies never shift onto the wrong caller. A
// command still queued when its ctx ends is never written at all. Sharing
// one ctx among many goroutines (workers under a shutdown context) costs
// nothing extra: a context the client sees often gets its own list of
// waiting callers, woken together when it ends, so that the callers do not
// all contend for the context's Done channel.
//
// # Databases
//
// Mux.Database(n) is a cheap handle; handles for different databases share
// the one connection, and the writer injects SELECT when the database
// changes. Database numbers are checked once (on a connection of their own)
// before first use, so a refused SELECT can never leave commands running in
// the wrong database.
//
// # Blocking commands, WATCH, anything stateful
//
// Blocking commands (BLPOP, BRPOP, BLMOVE, BZPOPMIN, XREAD ... BLOCK and the
// like, known from the server's COMMAND table) run on dedicated connections
// from a small bounded per-server set, so they never stall the shared one;
// cancelling their ctx closes that connection. Database.Watch runs
// optimistic transactions (WATCH, reads, MULTI...EXEC) on one, and
// Mux.Dedicated lends one for anything else; both reset the connection
// before it is reused. WAIT and WAITAOF run on the shared connection: they
// wait for the replication of the writes made on the connection they run on
// (here, everything written before them through this client), and hold its
// pipeline for up to their timeout, so keep that short.
//
// # Pub/sub and scripts
//
// Mux.PubSub gives subscribers that share one pub/sub connection per server,
// each with its own bounded buffer (a slow one loses messages and is told how
// many, never stalling others), re-subscribed after a reconnect (with a
// KindReconnected message, after the messages already buffered). An idle
// pub/sub connection is checked with a PING, so that a peer gone silent is
// noticed within 1.5 to 2 SocketTimeouts (see Config.SocketTimeout) rather
// than when TCP gives up. Script runs Lua by SHA (EVALSHA), loading it when
// the server does not know it; EVAL through Do is cached the same way.
//
// # What the shared connection refuses
//
// Commands that change the connection's state for everyone are refused with
// ErrNotAllowed, before anything is sent: WATCH (use Database.Watch),
// SUBSCRIBE and friends (use Mux.PubSub), MONITOR and CLIENT
// TRACKING/CACHING (use Mux.Dedicated), raw MULTI/EXEC/DISCARD (use
// Database.Multi), SELECT (use Mux.Database), AUTH, HELLO, RESET, QUIT,
// CLIENT REPLY, READONLY, READWRITE and ASKING.
//
// # Allocations
//
// Do takes ...any: each argument that is not a constant is converted to an
// interface, which Go allocates (16 bytes for a string). DoStrings takes
// ...string and allocates nothing but the reply; a SET with a reused
// argument slice allocates nothing at all.
//
// Arguments are encoded on the calling goroutine. A []byte argument is
// always copied when the command is issued, so changing it afterwards
// cannot change what is sent, even for a Future or a caller whose ctx
// ended. A string argument of 2 KiB or more sent by Do, DoStrings or
// Command on the shared connection, with no Encoder set on the handle, is
// not copied at all: Go strings cannot change, so the writer sends it
// straight from the caller's string, with one writev per batch on TCP and
// unix sockets (through TLS it is copied once, into the write buffer).
// Everywhere else (Multi, scripts, blocking commands, Dedicated, Watch, a
// handle with an Encoder) string arguments are copied like the rest. A
// string made with unsafe.String over bytes you go on changing is not
// immutable: as for a []byte, leave those bytes alone until the reply came
// (or copy them first).
//
// # Clusters
//
// The cluster module plugs a Router into this package (NewWithRouter): the
// same API then works on a Redis Cluster, with redirections, topology
// refresh and sharded pub/sub handled here and there.
package client
