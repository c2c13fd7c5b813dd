package client

import (
	"context"
	"errors"
	"math"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/justredis/justredis/redisserver"
	"github.com/justredis/justredis/resp"
)

// New refuses what every connection would fail on, or what is surely a
// slip, instead of failing each command later.
func TestConfigRefusals(t *testing.T) {
	bad := map[string]Config{
		"negative ConnectTimeout": {ConnectTimeout: -1},
		"RecvBufferSize 1 GiB":    {RecvBufferSize: 1 << 30},
		"ClientName with a space": {ClientName: "my app"},
		"ClientName not ASCII":    {ClientName: "café"},
		"ClientName with CRLF":    {ClientName: "a\r\nb"},
		"UNIX in capitals":        {Endpoints: []string{"UNIX:/tmp/redis.sock"}},
		"no port":                 {Endpoints: []string{"localhost:"}},
		"port 0":                  {Endpoints: []string{"localhost:0"}},
		"port too big":            {Endpoints: []string{"localhost:65536"}},
		"port by name":            {Endpoints: []string{"localhost:redis"}},
	}
	for name, cfg := range bad {
		if m, err := New(cfg); err == nil {
			_ = m.Close()
			t.Errorf("%s: New accepted it", name)
		}
	}
	good := []Config{
		{Endpoints: []string{"[::1]:6379", "unix:/tmp/redis.sock", "localhost:6379"}},
		{ClientName: "my-app_1.0"},
		{RecvBufferSize: 1 << 20, ConnectTimeout: time.Second},
	}
	for _, cfg := range good {
		m, err := New(cfg)
		if err != nil {
			t.Errorf("New(%+v): %v", cfg, err)
			continue
		}
		_ = m.Close()
	}
}

// A huge ConnectRetry or ConnectTimeout ("retry for ever") overflowed the
// bound of a whole connection attempt to a negative duration: the
// connections that check a database number and the pub/sub connection
// failed at once, while Database(0) worked.
func TestHugeConnectRetryOrTimeout(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	ctx := testCtx(t)
	for name, cfg := range map[string]Config{
		"ConnectRetry":   {ConnectRetry: math.MaxInt},
		"ConnectTimeout": {ConnectTimeout: math.MaxInt64},
		"both":           {ConnectRetry: math.MaxInt, ConnectTimeout: math.MaxInt64},
	} {
		cfg.Endpoints = []string{serverAddr(t, srv)}
		m := newMux(t, cfg)
		if _, err := m.Database(1).Do(ctx, "SET", "k", "v"); err != nil {
			t.Fatalf("%s: SET in database 1: %v", name, err)
		}
		ps := m.PubSub(PubSubOptions{})
		if err := ps.Subscribe(ctx, "ch"); err != nil {
			t.Fatalf("%s: Subscribe: %v", name, err)
		}
		_ = ps.Close()
	}
}

// A custom Dialer that returns neither a connection nor an error is a
// failed dial, not a nil dereference that kills the program.
func TestDialerReturningNothing(t *testing.T) {
	m := newMux(t, Config{ConnectRetry: 1, Dialer: func(context.Context, string, string) (net.Conn, error) {
		return nil, nil
	}})
	if err := m.Ping(testCtx(t)); !errors.Is(err, ErrConnection) || !NotExecuted(err) {
		t.Fatalf("Ping: %v, want ErrConnection, not sent", err)
	}
}

// On RESP2 an ACL user denied CLIENT SETNAME failed every connection with
// ErrAuth, while on RESP3 (HELLO's SETNAME is not checked) it connected:
// now it connects on both, unnamed on RESP2.
func TestClientNameDeniedByACL(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	ctx := testCtx(t)
	admin := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}}).Database(0)
	mustDo(t, admin, "ACL", "SETUSER", "app", "on", "nopass", "~*", "+@all", "-client|setname")
	for _, proto := range []int{2, 3} {
		m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}, Username: "app", ClientName: "named", Protocol: proto})
		if _, err := m.Database(0).Do(ctx, "SET", "k", "v"); err != nil {
			t.Fatalf("RESP%d: %v", proto, err)
		}
	}
}

// DefaultEncode refuses a nil pointer (a value-receiver marshaler
// panicked on the caller's goroutine; *big.Int sent "<nil>"), and sends a
// time.Time as RFC 3339 text, not its 15 bytes of Go binary form.
func TestEncodeNilPointerAndTime(t *testing.T) {
	for _, arg := range []any{(*time.Time)(nil), (*big.Int)(nil), (*net.IP)(nil)} {
		out, err := DefaultEncode(nil, arg)
		if !errors.Is(err, resp.ErrUnsupportedArg) || len(out) != 0 {
			t.Errorf("DefaultEncode(%T nil) = %q, %v; want ErrUnsupportedArg", arg, out, err)
		}
	}
	when := time.Date(2026, 12, 6, 21, 30, 0, 123456789, time.FixedZone("X", 3600))
	want := "2026-12-06T21:30:00.123456789+01:00"
	for _, arg := range []any{when, &when} {
		out, err := DefaultEncode(nil, arg)
		if err != nil || string(out) != "$35\r\n"+want+"\r\n" {
			t.Errorf("DefaultEncode(%T) = %q, %v; want %q as a bulk string", arg, out, err, want)
		}
	}

	srv := startServer(t, redisserver.Options{})
	db := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}}).Database(0)
	mustDo(t, db, "SET", "t", when)
	if got, err := String(db.Do(testCtx(t), "GET", "t")); err != nil || got != want {
		t.Fatalf("GET = %q, %v; want %q", got, err, want)
	}
	if got, err := time.Parse(time.RFC3339Nano, want); err != nil || !got.Equal(when) {
		t.Fatalf("the text does not parse back: %v, %v", got, err)
	}
	if _, err := db.Do(testCtx(t), "SET", "t", (*big.Int)(nil)); !errors.Is(err, resp.ErrUnsupportedArg) || !NotExecuted(err) ||
		!strings.Contains(err.Error(), "nil *big.Int") {
		t.Fatalf("SET of a nil *big.Int: %v, want ErrUnsupportedArg naming it", err)
	}
}
