package client

import (
	"errors"
	"testing"

	"github.com/justredis/justredis/resp"
)

// On a sharded client, a command whose keys only the server can find
// (XREAD here, from the static command table; SORT ... STORE and MIGRATE
// with a server's table) first asks COMMAND GETKEYS. When the connection
// fails after that question was written, the command itself was never
// sent: its error says NotSent, not MaybeSent (which is the question's).
func TestGetKeysFailureIsNotExecuted(t *testing.T) {
	fs, cfg := newFake(t)
	m, err := NewWithRouter(cfg, func(m *Mux) (Router, error) { return &oneNodeRouter{m: m, addr: "fake:6379"}, nil })
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := testCtx(t)

	ch := goDo(ctx, m.Database(0), "XREAD", "STREAMS", "s", "0")
	fc := fs.accept()
	fc.expect("COMMAND", "GETKEYS", "XREAD", "STREAMS", "s", "0")
	_ = fc.nc.Close() // written, then the connection fails: the question may have run

	res := wait(t, ch)
	var re *RequestError
	if !errors.As(res.err, &re) || re.Exec != NotSent {
		t.Fatalf("XREAD = %v, %v; want a *RequestError saying NotSent", res.v, res.err)
	}
	if MaybeExecuted(res.err) || !NotExecuted(res.err) {
		t.Errorf("MaybeExecuted %v, NotExecuted %v for %v; want false, true", MaybeExecuted(res.err), NotExecuted(res.err), res.err)
	}
	if resp.ErrorPrefix(res.err) != "" {
		t.Errorf("the error %v is taken for a server reply", res.err)
	}
}
