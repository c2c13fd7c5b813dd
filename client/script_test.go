package client

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/justredis/justredis/redisserver"
	"github.com/justredis/justredis/resp"
)

// commandCalls returns how many times the server ran each command (INFO
// commandstats), to see what the client really sent.
func commandCalls(t *testing.T, srv *redisserver.Server, names ...string) map[string]int64 {
	t.Helper()
	info, err := String(srv.Do(testCtx(t), "INFO", "commandstats"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, line := range strings.Split(info, "\r\n") {
		for _, n := range names {
			if rest, ok := strings.CutPrefix(line, "cmdstat_"+n+":calls="); ok {
				v, _ := Int64(resp.Bulk(strings.SplitN(rest, ",", 2)[0]), nil)
				out[n] = v
			}
		}
	}
	return out
}

func TestScriptCaching(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}})
	ctx := testCtx(t)
	db := m.Database(0)
	incrBy := NewScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")

	run := func(want int64) {
		t.Helper()
		if n, err := Int64(incrBy.Run(ctx, db, []string{"n"}, 5)); err != nil || n != want {
			t.Fatalf("Run = %d, %v; want %d", n, err, want)
		}
	}
	run(5)  // unknown: SCRIPT LOAD + EVALSHA in one write
	run(10) // known: EVALSHA alone
	if calls := commandCalls(t, srv, "script|load", "evalsha", "eval"); calls["script|load"] != 1 || calls["evalsha"] != 2 || calls["eval"] != 0 {
		t.Fatalf("commands run: %v", calls)
	}
	// SCRIPT FLUSH behind the client's back: NOSCRIPT, load, run again.
	if _, err := srv.Do(ctx, "SCRIPT", "FLUSH"); err != nil {
		t.Fatal(err)
	}
	run(15)
	// A restart (scripts and data gone, new connection): still works.
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Do(ctx, "PING"); err != nil {
		t.Fatal(err)
	}
	run(5)

	// EVAL through Do is cached the same way: after the first call the
	// source is not sent again.
	for i := 0; i < 3; i++ {
		if s, err := String(db.Do(ctx, "EVAL", "return ARGV[1]", 0, "echo")); err != nil || s != "echo" {
			t.Fatalf("EVAL = %q, %v", s, err)
		}
	}
	if calls := commandCalls(t, srv, "eval"); calls["eval"] != 0 {
		t.Fatalf("EVAL was sent %d times; the client should have used EVALSHA", calls["eval"])
	}

	// A script that does not compile says so (not NOSCRIPT).
	if _, err := NewScript("this is not lua").Run(ctx, db, nil); resp.ErrorPrefix(err) != "ERR" || !strings.Contains(err.Error(), "compil") && !strings.Contains(err.Error(), "Error") {
		t.Fatalf("bad script: %v", err)
	}
	// Read-only scripts: EVALSHA_RO runs reads and refuses writes.
	get := NewScript("return redis.call('GET', KEYS[1])")
	if n, err := Int64(get.RunRO(ctx, db, []string{"n"})); err != nil || n != 5 {
		t.Fatalf("RunRO = %d, %v", n, err)
	}
	if _, err := incrBy.RunRO(ctx, db, []string{"n"}, 1); err == nil {
		t.Fatal("a writing script ran read-only")
	}
	// FUNCTION / FCALL pass through.
	lib := "#!lua name=jr\nredis.register_function('jr_echo', function(keys, args) return args[1] end)"
	if _, err := db.Do(ctx, "FUNCTION", "LOAD", "REPLACE", lib); err != nil {
		t.Fatal(err)
	}
	if s, err := String(db.Do(ctx, "FCALL", "jr_echo", 0, "hi")); err != nil || s != "hi" {
		t.Fatalf("FCALL = %q, %v", s, err)
	}
}

// Inside MULTI a NOSCRIPT could not be retried, so the transaction loads
// the script first, in the same write.
func TestScriptInMulti(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}})
	ctx := testCtx(t)
	db := m.Database(0)
	s := NewScript("return redis.call('INCR', KEYS[1])")
	if _, err := s.Run(ctx, db, []string{"x"}); err != nil {
		t.Fatal(err)
	}
	for i, flush := range []bool{false, true} {
		if flush {
			if _, err := srv.Do(ctx, "SCRIPT", "FLUSH"); err != nil {
				t.Fatal(err)
			}
			m.single.scripts.forget(s.SHA()) // as a restart would: the client cannot know about a flush
		}
		tx := db.Multi()
		f := s.Command(tx, []string{"x"})
		g := tx.Command("GET", "x")
		if err := tx.Exec(ctx); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if n, err := Int64(f.Reply(ctx)); err != nil || n != int64(i+2) {
			t.Fatalf("round %d: script in MULTI = %d, %v", i, n, err)
		}
		if n, err := Int64(g.Reply(ctx)); err != nil || n != int64(i+2) {
			t.Fatalf("round %d: GET in MULTI = %d, %v", i, n, err)
		}
	}
	// Flushed without the client knowing (as a restart or a failover to a
	// new node would): the transaction loads it anyway, so the script runs
	// with the rest of the block.
	if _, err := srv.Do(ctx, "SCRIPT", "FLUSH"); err != nil {
		t.Fatal(err)
	}
	tx := db.Multi()
	f := s.Command(tx, []string{"x"})
	if err := tx.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := Int64(f.Reply(ctx)); err != nil || n != 4 {
		t.Fatalf("script in MULTI after a flush the client did not see = %d, %v", n, err)
	}
}

// A restarted server has forgotten every script, and the client's
// connection to it is new: a transaction running a script the client
// loaded before the restart must load it again, not run the rest of the
// block without it.
func TestScriptInMultiAfterRestart(t *testing.T) {
	srv, m := serverMux(t)
	ctx := testCtx(t)
	db := m.Database(0)
	s := NewScript("return redis.call('INCR', KEYS[1])")
	for round := range 2 {
		if round == 1 {
			if err := srv.Restart(ctx); err != nil {
				t.Fatal(err)
			}
		}
		tx := db.Multi()
		plain := tx.Command("INCR", "plain")
		scripted := s.Command(tx, []string{"scripted"})
		if err := tx.Exec(ctx); err != nil {
			t.Fatalf("round %d: Exec: %v", round, err)
		}
		for name, f := range map[string]*Future{"INCR": plain, "script": scripted} {
			if n, err := Int64(f.Reply(ctx)); err != nil || n != 1 {
				t.Fatalf("round %d: %s in MULTI = %d, %v; want 1 (a fresh server each round)", round, name, n, err)
			}
		}
	}
}

// A script that does not compile fails its SCRIPT LOAD, sent in the same
// write as the block; the server runs the block anyway. Exec must say it
// ran (nil: never ErrTxAborted, which says it did not, inviting a retry
// that would run INCR twice), the script's future says why it did not run,
// and the other commands' futures hold their replies.
func TestScriptInMultiThatDoesNotCompile(t *testing.T) {
	_, m := serverMux(t)
	ctx := testCtx(t)
	db := m.Database(0)
	bad := NewScript("return +")
	tx := db.Multi()
	incr := tx.Command("INCR", "counter")
	f := bad.Command(tx, nil)
	if err := tx.Exec(ctx); err != nil {
		t.Fatalf("Exec = %v (NotExecuted %v); the block ran", err, NotExecuted(err))
	}
	if n, err := Int64(incr.Reply(ctx)); err != nil || n != 1 {
		t.Fatalf("INCR in the transaction = %d, %v", n, err)
	}
	_, err := f.Reply(ctx)
	var rerr *Error
	if !errors.As(err, &rerr) || rerr.Prefix != "NOSCRIPT" || !strings.Contains(err.Error(), "SCRIPT LOAD") || !strings.Contains(err.Error(), "compiling") {
		t.Fatalf("the script's future: %v; want NOSCRIPT wrapping the load's compile error", err)
	}
	if v, err := db.Do(ctx, "GET", "counter"); err != nil || v.Str != "1" {
		t.Fatalf("counter = %q, %v", v.Str, err)
	}
}

// TestMayBeEval: the cheap test in front of evalScript lets through every
// spelling evalScript recognises (so Do never sends EVAL itself), and
// turns away the common commands.
func TestMayBeEval(t *testing.T) {
	for _, name := range []any{"EVAL", "eval", "Eval", []byte("EVAL"), []byte("eVaL"), "EVAL_RO", "eval_ro", []byte("Eval_Ro")} {
		args := []any{name, "return 1", 0}
		if !mayBeEval(name) {
			t.Errorf("mayBeEval(%q) = false", name)
		}
		if _, _, _, _, ok := evalScript(args); !ok {
			t.Errorf("evalScript does not recognise %q", name)
		}
	}
	for _, name := range []any{"GET", "SET", "", "E", "HGETALL", "EVALSHA_RO", 42, nil, []byte{}} {
		if mayBeEval(name) {
			t.Errorf("mayBeEval(%v) = true", name)
		}
	}
}

// Replies Redis 7.0 really sends for some scripts, which the parser used
// to refuse as malformed over RESP3 (a sticky protocol error that failed
// every command in flight on the shared connection), and Float64 over
// RESP2: a negative NaN ("-nan", the C library's "%.17g" of Lua's 0/0 on
// x86) and big numbers that are not digits (Redis passes {big_number=...}
// through unchecked). They decode, and the connection carries on.
func TestScriptRepliesRedisFormatsLoosely(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	for _, proto := range []int{2, 3} {
		m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, Protocol: proto})
		ctx := testCtx(t)
		db := m.Database(0)
		id, err := db.Do(ctx, "CLIENT", "ID")
		if err != nil {
			t.Fatal(err)
		}
		isNaN := func(v resp.Value) bool { f, err := Float64(v, nil); return err == nil && math.IsNaN(f) }
		text := func(want string) func(resp.Value) bool {
			return func(v resp.Value) bool { s, err := String(v, nil); return err == nil && s == want }
		}
		for _, tc := range []struct {
			script string
			check  func(resp.Value) bool
		}{
			{"return {double=0/0}", isNaN},
			{"return {double=-(0/0)}", isNaN},
			{"return {big_number='abc'}", text("abc")},
			{"return {big_number=''}", text("")},
		} {
			v, err := db.Do(ctx, "EVAL", tc.script, "0")
			if err != nil || !tc.check(v) {
				t.Errorf("RESP%d: EVAL %q = %v, %v", proto, tc.script, v, err)
			}
			if v, err := db.Do(ctx, "CLIENT", "ID"); err != nil || v.Int != id.Int {
				t.Fatalf("RESP%d: CLIENT ID after EVAL %q = %v, %v; want %d: the same connection", proto, tc.script, v, err, id.Int)
			}
		}
	}
}
