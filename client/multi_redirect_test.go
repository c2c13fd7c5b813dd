package client

import (
	"context"
	"testing"
	"time"

	"github.com/justredis/justredis/resp"
)

// oneNodeRouter is a sharded router that sends every slot to one address
// (for fake servers that redirect).
type oneNodeRouter struct {
	m    *Mux
	addr string
}

func (r *oneNodeRouter) Sharded() bool      { return true }
func (r *oneNodeRouter) KeySlot(string) int { return 7 }
func (r *oneNodeRouter) Node(context.Context, int, bool) (*Node, error) {
	return r.m.Node(r.addr), nil
}
func (r *oneNodeRouter) Moved(int, string)    {}
func (r *oneNodeRouter) Trouble(*Node, error) {}
func (r *oneNodeRouter) Close()               {}

// TestExecAnsweredASK: when EXEC itself is answered ASK (the keys left
// between the queueing of the commands and EXEC; the server discards the
// transaction), the whole block goes to the target with ASKING in front of
// MULTI, and its replies are the transaction's. The generic redirection of
// a call used to re-send it with ASKING in front and hand the transaction
// one reply too many, so Exec failed with an unexpected reply although the
// transaction had run. A fake server: a real one cannot be made to move the
// keys between the commands of one write.
func TestExecAnsweredASK(t *testing.T) {
	servers, cfg := newFakes(t, "a:6379", "b:6379")
	servers["a:6379"].commands = false // the Mux asks COMMAND once, of the first
	m, err := NewWithRouter(cfg, func(m *Mux) (Router, error) { return &oneNodeRouter{m: m, addr: "a:6379"}, nil })
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := testCtx(t)

	tx := m.Database(0).Multi()
	f := tx.Command("SET", "k", "v")
	done := make(chan error, 1)
	go func() { done <- tx.Exec(ctx) }()

	a := servers["a:6379"].accept()
	for _, cmd := range [][]string{{"MULTI"}, {"SET", "k", "v"}, {"EXEC"}} {
		a.expect(cmd...)
	}
	a.reply(resp.SimpleString("OK"), resp.SimpleString("QUEUED"), resp.ErrorValue("ASK 7 b:6379"))
	b := servers["b:6379"].accept()
	for _, cmd := range [][]string{{"ASKING"}, {"MULTI"}, {"SET", "k", "v"}, {"EXEC"}} {
		b.expect(cmd...)
	}
	b.reply(resp.SimpleString("OK"), resp.SimpleString("OK"), resp.SimpleString("QUEUED"), resp.Array(resp.SimpleString("OK")))

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Exec: %v; want the transaction's success on the ASK target", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Exec did not return")
	}
	if v, err := f.Reply(ctx); err != nil || v.Str != "OK" {
		t.Fatalf("SET in the transaction: %v, %v; want OK", v, err)
	}
}
