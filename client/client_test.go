package client

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/justredis/justredis/redisserver"
	"github.com/justredis/justredis/resp"
)

// Python justredis's walkthrough, in Go, against a real server.
func TestBasics(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}})
	ctx := testCtx(t)
	db := m.Database(0)

	if _, err := db.Do(ctx, "SET", "Hello", "World!"); err != nil {
		t.Fatal(err)
	}
	if s, err := String(db.Do(ctx, "GET", "Hello")); err != nil || s != "World!" {
		t.Fatalf("GET = %q, %v", s, err)
	}
	// Missing key: ErrNil from the typed helper, a null Value from Do.
	if _, err := String(db.Do(ctx, "GET", "missing")); !errors.Is(err, ErrNil) {
		t.Fatalf("GET missing: %v, want ErrNil", err)
	}
	if v, err := db.Do(ctx, "GET", "missing"); err != nil || !v.IsNull() {
		t.Fatalf("Do GET missing = %v, %v", v, err)
	}
	if _, err := db.Do(ctx, "SET", "empty", ""); err != nil {
		t.Fatal(err)
	}
	if s, err := String(db.Do(ctx, "GET", "empty")); err != nil || s != "" {
		t.Fatalf("GET empty = %q, %v", s, err)
	}
	// Pipelined: issue now, resolve later.
	f1 := db.Command(ctx, "INCR", "counter")
	f2 := db.Command(ctx, "INCR", "counter")
	f3 := db.Command(ctx, "GET", "Hello")
	if n, err := Int64(f2.Reply(ctx)); err != nil || n != 2 {
		t.Fatalf("second INCR = %d, %v", n, err)
	}
	if n, err := Int64(f1.Reply(ctx)); err != nil || n != 1 {
		t.Fatalf("first INCR = %d, %v", n, err)
	}
	if s, err := f3.Result(ctx); err != nil || s != "World!" {
		t.Fatalf("pipelined GET = %v, %v", s, err)
	}
	// A server error reply: the *Error with its prefix, and the value.
	_, err := db.Do(ctx, "LPUSH", "Hello", "x")
	var rerr *Error
	if !errors.As(err, &rerr) || rerr.Prefix != "WRONGTYPE" || NotExecuted(err) || MaybeExecuted(err) {
		t.Fatalf("LPUSH on a string: %v", err)
	}
	// Typed decoding through the handle's decoder.
	n, err := db.With(Decoder(DecodeInt64)).Call(ctx, "GET", "counter")
	if err != nil || n != int64(2) {
		t.Fatalf("Call with DecodeInt64 = %v, %v", n, err)
	}
	// Two databases on the one connection.
	db1 := m.Database(1)
	if _, err := db1.Do(ctx, "SET", "Hello", "from db 1"); err != nil {
		t.Fatal(err)
	}
	if s, _ := String(db.Do(ctx, "GET", "Hello")); s != "World!" {
		t.Fatalf("db 0 sees %q", s)
	}
	if s, _ := String(db1.Do(ctx, "GET", "Hello")); s != "from db 1" {
		t.Fatalf("db 1 sees %q", s)
	}
	if _, err := m.Database(1000).Do(ctx, "GET", "x"); !errors.Is(err, ErrInvalidDB) || resp.ErrorPrefix(err) != "ERR" {
		t.Fatalf("database 1000: %v", err)
	}
	if _, err := m.Database(-1).Do(ctx, "GET", "x"); !errors.Is(err, ErrInvalidDB) {
		t.Fatalf("database -1: %v", err)
	}
	// The command table came from the server.
	if ci := m.CommandInfo("get", ""); !ci.Is(FlagReadOnly) || ci.FirstKey != 1 || len(ci.KeySpecs) == 0 {
		t.Fatalf("CommandInfo(get) = %+v", ci)
	}
	if ci := m.CommandInfo("CLIENT", "KILL"); ci == nil || ci.Name != "client|kill" {
		t.Fatalf("CommandInfo(client kill) = %+v", ci)
	}
}

func TestMulti(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}})
	ctx := testCtx(t)
	db := m.Database(2)

	tx := db.Multi()
	tx.Command("SET", "Hello", "World!")
	hello := tx.Command("GET", "Hello")
	incr := tx.Command("INCR", "Hello") // fails inside the transaction
	if _, err := hello.Reply(ctx); !errors.Is(err, ErrTxNotExecuted) {
		t.Fatalf("future before Exec: %v", err)
	}
	if err := tx.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if s, err := String(hello.Reply(ctx)); err != nil || s != "World!" {
		t.Fatalf("GET in MULTI = %q, %v", s, err)
	}
	if _, err := incr.Reply(ctx); resp.ErrorPrefix(err) != "ERR" {
		t.Fatalf("INCR of a string in MULTI: %v", err)
	}
	if err := tx.Exec(ctx); !errors.Is(err, ErrTxNotExecuted) {
		t.Fatalf("second Exec: %v", err)
	}

	// A command refused when queued aborts the whole transaction.
	tx = db.Multi()
	set := tx.Command("SET", "a", "1")
	bad := tx.Command("NOSUCHCOMMAND")
	err := tx.Exec(ctx)
	if !errors.Is(err, ErrTxAborted) || resp.ErrorPrefix(err) != "EXECABORT" {
		t.Fatalf("aborted transaction: %v", err)
	}
	if _, err := set.Reply(ctx); !errors.Is(err, ErrTxAborted) {
		t.Fatalf("queued command of an aborted transaction: %v", err)
	}
	if _, err := bad.Reply(ctx); resp.ErrorPrefix(err) != "ERR" {
		t.Fatalf("the refused command: %v", err)
	}
	if v, _ := db.Do(ctx, "GET", "a"); !v.IsNull() {
		t.Fatal("an aborted transaction ran")
	}

	// Discard sends nothing.
	tx = db.Multi()
	f := tx.Command("SET", "discarded", "1")
	tx.Discard()
	if _, err := f.Reply(ctx); !errors.Is(err, ErrTxNotExecuted) {
		t.Fatalf("discarded future: %v", err)
	}
	if n, _ := Int64(db.Do(ctx, "EXISTS", "discarded")); n != 0 {
		t.Fatal("a discarded transaction ran")
	}

	// Transactions from many goroutines never interleave.
	const workers, rounds = 50, 20
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func() {
			for i := 0; i < rounds; i++ {
				key := fmt.Sprintf("tx:%d", w)
				tx := db.Multi()
				tx.Command("DEL", key)
				tx.Command("RPUSH", key, "a", "b", "c")
				lr := tx.Command("LRANGE", key, 0, -1)
				if err := tx.Exec(ctx); err != nil {
					errs <- err
					return
				}
				if got, err := Strings(lr.Reply(ctx)); err != nil || strings.Join(got, "") != "abc" {
					errs <- fmt.Errorf("LRANGE in MULTI = %q, %v", got, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// Every RESP3 type the server can produce reaches the caller intact, on
// both protocols (DEBUG PROTOCOL sends each type on demand).
func TestEveryReplyType(t *testing.T) {
	srv := startServer(t, redisserver.Options{Config: []string{"enable-debug-command yes"}})
	ctx := testCtx(t)
	for _, proto := range []int{2, 3} {
		m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, Protocol: proto})
		db := m.Database(0)
		tests := []struct {
			kind      string
			want3     resp.Value
			wantType2 resp.Type
		}{
			{"string", resp.Bulk("Hello World"), resp.TypeBulkString},
			{"integer", resp.Int(12345), resp.TypeInteger},
			{"double", resp.Double(3.141), resp.TypeBulkString},
			{"bignum", resp.BigNumber("1234567999999999999999999999999999999"), resp.TypeBulkString},
			{"null", resp.Null(), resp.TypeNull},
			{"array", resp.Array(resp.Int(0), resp.Int(1), resp.Int(2)), resp.TypeArray},
			{"set", resp.Set(resp.Int(0), resp.Int(1), resp.Int(2)), resp.TypeArray},
			{"map", resp.Map(resp.Int(0), resp.Bool(false), resp.Int(1), resp.Bool(true), resp.Int(2), resp.Bool(false)), resp.TypeArray},
			{"true", resp.Bool(true), resp.TypeInteger},
			{"false", resp.Bool(false), resp.TypeInteger},
			{"verbatim", resp.Verbatim("txt", "This is a verbatim\nstring"), resp.TypeBulkString},
			{"attrib", resp.Bulk("Some real reply following the attribute").WithAttrs(resp.Bulk("key-popularity"), resp.Array(resp.Bulk("key:123"), resp.Int(90))), resp.TypeBulkString},
		}
		for _, tt := range tests {
			v, err := db.Do(ctx, "DEBUG", "PROTOCOL", tt.kind)
			if err != nil {
				t.Fatalf("RESP%d %s: %v", proto, tt.kind, err)
			}
			if proto == 3 && !v.Equal(tt.want3) {
				t.Errorf("RESP3 %s = %v, want %v", tt.kind, v, tt.want3)
			}
			if proto == 2 && v.Type != tt.wantType2 {
				t.Errorf("RESP2 %s = %v, want a %v", tt.kind, v, tt.wantType2)
			}
		}
		if f, err := Float64(db.Do(ctx, "DEBUG", "PROTOCOL", "double")); err != nil || math.Abs(f-3.141) > 1e-9 {
			t.Errorf("RESP%d double as Float64 = %v, %v", proto, f, err)
		}
		// HGETALL is a map on RESP3 and a flat array on RESP2: StringMap reads both.
		if _, err := db.Do(ctx, "HSET", "h", "f1", "v1", "f2", "v2"); err != nil {
			t.Fatal(err)
		}
		if got, err := StringMap(db.Do(ctx, "HGETALL", "h")); err != nil || got["f1"] != "v1" || got["f2"] != "v2" {
			t.Errorf("RESP%d HGETALL = %v, %v", proto, got, err)
		}
		if proto == 3 {
			// A push frame, then the real reply: the push goes to nobody
			// (and is counted), the reply to its caller.
			before := m.Stats().StrayPushes
			v, err := db.Do(ctx, "DEBUG", "PROTOCOL", "push")
			if err != nil || v.Str != "Some real reply following the push reply" {
				t.Errorf("DEBUG PROTOCOL push = %v, %v", v, err)
			}
			if got := m.Stats().StrayPushes - before; got != 1 {
				t.Errorf("stray pushes: %d, want 1", got)
			}
		}
	}
}

// When the server refuses COMMAND (ACL), the client falls back to its small
// static table: read-only and blocking commands are still known.
func TestCommandRefusedFallsBackToStaticTable(t *testing.T) {
	srv := startServer(t, redisserver.Options{
		Users: []redisserver.User{{Name: "app", Password: "pw", Rules: []string{"~*", "&*", "+@all", "-command"}}},
	})
	ctx := testCtx(t)
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, Username: "app", Password: "pw"})
	db := m.Database(0)
	if _, err := db.Do(ctx, "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Do(ctx, "COMMAND", "COUNT"); resp.ErrorPrefix(err) != "NOPERM" {
		t.Fatalf("COMMAND COUNT as app: %v, want NOPERM", err)
	}
	ci := m.CommandInfo("GET", "")
	if !ci.Is(FlagReadOnly) || ci.FirstKey != 0 {
		t.Fatalf("CommandInfo(GET) = %+v, want the static entry", ci)
	}
	// BLPOP is known to block: it runs on a dedicated connection.
	if v, err := db.Do(ctx, "BLPOP", "q", 0.05); err != nil || !v.IsNull() {
		t.Fatalf("BLPOP with the static table: %v, %v", v, err)
	}
	if c := m.single.cc.Load(); c == nil || m.single.pool.idleCount() != 1 {
		t.Fatal("BLPOP did not run on a dedicated connection")
	}
}
