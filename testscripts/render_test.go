package testscripts_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/justredis/justredis/client"
	"github.com/justredis/justredis/resp"
	"github.com/justredis/justredis/testscripts"
)

func TestRender(t *testing.T) {
	tests := []struct {
		name string
		v    resp.Value
		want string
	}{
		{"simple", resp.SimpleString("OK"), `OK`},
		{"bulk", resp.Bulk("hello"), `"hello"`},
		{"empty bulk", resp.Bulk(""), `""`},
		{"escapes", resp.Bulk("a\"b\\c\r\n\t\a\b\x00\xff~"), `"a\"b\\c\r\n\t\a\b\x00\xff~"`},
		{"verbatim", resp.Verbatim("txt", "some text"), `"some text"`},
		{"integer", resp.Int(-42), `(integer) -42`},
		{"double", resp.Double(3.5), `(double) 3.5`},
		{"inf", resp.Double(math.Inf(1)), `(double) inf`},
		{"-inf", resp.Double(math.Inf(-1)), `(double) -inf`},
		{"nan", resp.Double(math.NaN()), `(double) nan`},
		{"integral double", resp.Double(1e6), `(double) 1000000`}, // as Redis writes it, not 1e+06
		{"big number", resp.BigNumber("1234567890123456789012"), `(big number) 1234567890123456789012`},
		{"true", resp.Bool(true), `(true)`},
		{"false", resp.Bool(false), `(false)`},
		{"null", resp.Null(), `(nil)`},
		{"error", resp.ErrorValue("ERR wrong"), `(error) ERR wrong`},
		{"empty array", resp.Array(), `(empty array)`},
		{"array", resp.Array(resp.Bulk("a"), resp.Int(1), resp.Null()), "1) \"a\"\n2) (integer) 1\n3) (nil)"},
		{"nested", resp.Array(resp.Bulk("a"), resp.Array(resp.Int(1), resp.Array(resp.Bulk("x"), resp.Bulk("y"))), resp.Array()),
			"1) \"a\"\n2) 1) (integer) 1\n   2) 1) \"x\"\n      2) \"y\"\n3) (empty array)"},
		{"wide", resp.Array(resp.Int(1), resp.Int(2), resp.Int(3), resp.Int(4), resp.Int(5), resp.Int(6), resp.Int(7), resp.Int(8), resp.Int(9), resp.Array(resp.Int(10), resp.Int(11))),
			" 1) (integer) 1\n 2) (integer) 2\n 3) (integer) 3\n 4) (integer) 4\n 5) (integer) 5\n 6) (integer) 6\n 7) (integer) 7\n 8) (integer) 8\n 9) (integer) 9\n10) 1) (integer) 10\n    2) (integer) 11"},
		{"push", resp.Push(resp.Bulk("message"), resp.Bulk("ch")), "1) \"message\"\n2) \"ch\""},
		{"set", resp.Set(resp.Bulk("a"), resp.Bulk("b")), "1~ \"a\"\n2~ \"b\""},
		{"empty set", resp.Set(), `(empty set)`},
		{"map", resp.Map(resp.Bulk("k"), resp.Bulk("v"), resp.Bulk("n"), resp.Array(resp.Int(1), resp.Int(2))),
			"1# \"k\" => \"v\"\n2# \"n\" => 1) (integer) 1\n          2) (integer) 2"},
		{"empty map", resp.Map(), `(empty hash)`},
		{"attributes hidden", resp.Int(7).WithAttrs(resp.Bulk("ttl"), resp.Int(3)), `(integer) 7`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testscripts.Render(tt.v); got != tt.want {
				t.Errorf("Render(%v):\n%s\nwant:\n%s", tt.v, got, tt.want)
			}
		})
	}
}

func TestRenderError(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		class string
		want  string
	}{
		{"server error", resp.NewError("WRONGTYPE Operation against a key holding the wrong kind of value"), testscripts.ClassError,
			"(error) WRONGTYPE Operation against a key holding the wrong kind of value"},
		{"wrapped server error", fmt.Errorf("%w: %w", client.ErrTxAborted, resp.NewError("EXECABORT Transaction discarded")), testscripts.ClassNotExecuted,
			"(not-executed) client: transaction aborted: EXECABORT Transaction discarded"},
		{"redirect", resp.NewError("MOVED 3999 127.0.0.1:7001"), testscripts.ClassNotExecuted,
			"(not-executed) MOVED 3999 127.0.0.1:7001"},
		{"not sent", &client.RequestError{Addr: "127.0.0.1:1", Exec: client.NotSent, Attempts: 1, Err: client.ErrConnection}, testscripts.ClassNotExecuted,
			"(not-executed) client: 127.0.0.1:1: connection failed (not sent)"},
		{"refused command", &client.CommandError{Command: "MULTI", Err: client.ErrNotAllowed}, testscripts.ClassNotExecuted,
			"(not-executed) client: MULTI: command not allowed on the shared connection"},
		{"auth wraps the server's reply", &client.RequestError{Exec: client.NotSent, Err: fmt.Errorf("%w: %w", client.ErrAuth, resp.NewError("WRONGPASS no"))}, testscripts.ClassNotExecuted,
			"(not-executed) client: authentication failed: WRONGPASS no (not sent)"},
		{"maybe", &client.RequestError{Exec: client.MaybeSent, Err: context.DeadlineExceeded}, testscripts.ClassMaybeExecuted,
			"(maybe-executed) client: context deadline exceeded (maybe executed)"},
		{"watched key changed", client.ErrTxFailed, testscripts.ClassNotExecuted,
			"(not-executed) client: transaction failed: a watched key changed"},
		{"other", errors.New("client: something else"), testscripts.ClassFailed,
			"(failed) client: something else"},
		{"multi-line", errors.New("one\ntwo"), testscripts.ClassFailed, "(failed) one two"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testscripts.ErrorClass(tt.err); got != tt.class {
				t.Errorf("ErrorClass = %q, want %q", got, tt.class)
			}
			if got := testscripts.RenderError(tt.err); got != tt.want {
				t.Errorf("RenderError:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}
