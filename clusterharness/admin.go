package clusterharness

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/justredis/justredis/resp"
)

// pipeline sends cmds to n on one new connection, in one write, after an
// AUTH when the nodes have a password (redisserver's Server.DoAll), and
// returns one reply per command. Error replies are returned as Values
// (v.IsError()), not as errors; the error is for what prevented the
// replies from being read. ctx bounds all of it, and so does callTimeout.
func (n *Node) pipeline(ctx context.Context, cmds ...[]any) ([]resp.Value, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	replies, err := n.srv.DoAll(ctx, cmds...)
	if err != nil {
		return nil, fmt.Errorf("clusterharness: %s: %w", cmdName(cmds[0]), err)
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
