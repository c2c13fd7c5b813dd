package clusterharness

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/justredis/justredis/resp"
)

// pipeline sends cmds to n on one new connection, in one write, after an
// AUTH when the nodes have a password, and returns one reply per command.
// Error replies are returned as Values (v.IsError()), not as errors; the
// error is for what prevented the replies from being read. ctx bounds all
// of it, and so does callTimeout.
func (n *Node) pipeline(ctx context.Context, cmds ...[]any) ([]resp.Value, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	replies, err := n.roundTrip(ctx, cmds)
	if err != nil {
		return nil, fmt.Errorf("clusterharness: %s: %s: %w", n.Addr(), cmdName(cmds[0]), ctxErr(ctx, err))
	}
	return replies, nil
}

// ctxErr makes err match the context's error when the context has ended.
// The dial and the connection use the context's deadline, which may fire a
// moment before the context says it is done: a timeout at or past the
// deadline counts as context.DeadlineExceeded (as redisserver does).
func ctxErr(ctx context.Context, err error) error {
	cerr := ctx.Err()
	var ne net.Error
	if d, ok := ctx.Deadline(); cerr == nil && ok && errors.As(err, &ne) && ne.Timeout() && !time.Now().Before(d) {
		cerr = context.DeadlineExceeded
	}
	if cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%w)", cerr, err)
	}
	return err
}

func (n *Node) roundTrip(ctx context.Context, cmds [][]any) ([]resp.Value, error) {
	var out []byte
	if n.auth != nil {
		out, _ = resp.AppendCommand(out, n.auth...)
	}
	for _, c := range cmds {
		var err error
		if out, err = resp.AppendCommand(out, c...); err != nil {
			return nil, fmt.Errorf("encode command: %w", err)
		}
	}
	var conn net.Conn
	var err error
	if cfg := n.srv.TLSConfig(); cfg != nil {
		d := tls.Dialer{Config: cfg}
		conn, err = d.DialContext(ctx, "tcp", n.Addr())
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", n.Addr())
	}
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// The context's end interrupts blocked reads and writes.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	if _, err := conn.Write(out); err != nil {
		return nil, err
	}
	r := resp.NewReader(conn, resp.Limits{})
	if n.auth != nil {
		v, err := r.ReadValue()
		if err != nil {
			return nil, err
		}
		if v.IsError() {
			return nil, fmt.Errorf("AUTH: %w", v.Err())
		}
	}
	replies := make([]resp.Value, len(cmds))
	for i := range replies {
		if replies[i], err = r.ReadValue(); err != nil {
			return nil, err
		}
	}
	return replies, nil
}

// do runs one command on n; an error reply is returned as an error that is
// a *resp.Error.
func (n *Node) do(ctx context.Context, args ...any) (resp.Value, error) {
	replies, err := n.pipeline(ctx, args)
	if err != nil {
		return resp.Value{}, err
	}
	v := replies[0]
	if v.IsError() {
		return v, fmt.Errorf("clusterharness: %s: %s: %w", n.Addr(), cmdName(args), v.Err())
	}
	return v, nil
}

// doAll runs cmds on n in one pipeline and fails on the first error reply.
func (n *Node) doAll(ctx context.Context, cmds ...[]any) ([]resp.Value, error) {
	if len(cmds) == 0 {
		return nil, nil
	}
	replies, err := n.pipeline(ctx, cmds...)
	if err != nil {
		return nil, err
	}
	for i, v := range replies {
		if v.IsError() {
			return replies, fmt.Errorf("clusterharness: %s: %s: %w", n.Addr(), cmdName(cmds[i]), v.Err())
		}
	}
	return replies, nil
}

// cmdName returns the command's name for error messages: "CLUSTER SETSLOT",
// "MIGRATE", ...
func cmdName(args []any) string {
	if len(args) == 0 {
		return "(empty command)"
	}
	name := strings.ToUpper(fmt.Sprint(args[0]))
	if len(args) > 1 && (name == "CLUSTER" || name == "INFO" || name == "CONFIG") {
		name += " " + strings.ToUpper(fmt.Sprint(args[1]))
	}
	return name
}

// isUnknownNode reports CLUSTER FORGET's answer for a node it does not know.
func isUnknownNode(err error) bool {
	var rerr *resp.Error
	return errors.As(err, &rerr) && strings.Contains(rerr.Msg, "Unknown node")
}
