package client

import (
	"strconv"
	"strings"
	"testing"

	"github.com/justredis/justredis/redisserver"
)

// CommandInfo.Keys finds the same keys the server does (COMMAND GETKEYS),
// for commands of every key-spec shape.
func TestKeysMatchTheServer(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}})
	ctx := testCtx(t)
	if err := m.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]any{
		{"GET", "k"},
		{"SET", "k", "v", "EX", 10},
		{"MSET", "a", 1, "b", 2, "c", 3},
		{"MGET", "a", "b", "c"},
		{"DEL", "a", "b"},
		{"RENAME", "a", "b"},
		{"LMOVE", "src", "dst", "LEFT", "RIGHT"},
		{"EVAL", "return 1", 2, "k1", "k2", "arg"},
		{"EVAL", "return 1", 0, "arg"},
		{"FCALL", "f", 1, "k1", "arg"},
		{"ZUNIONSTORE", "dst", 2, "a", "b", "WEIGHTS", 1, 2},
		{"SINTERCARD", 2, "a", "b", "LIMIT", 1},
		{"BLMPOP", 0, 2, "a", "b", "LEFT"},
		{"XREAD", "COUNT", 1, "STREAMS", "s1", "s2", "0", "0"},
		{"XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"},
		{"BITOP", "AND", "dst", "a", "b"},
		{"PFMERGE", "dst", "a", "b"},
		{"OBJECT", "ENCODING", "k"},
		{"XINFO", "STREAM", "s"},
		{"MEMORY", "USAGE", "k"},
		{"MIGRATE", "127.0.0.1", 1, "", 0, 5000, "KEYS", "a", "b"},
		{"GEOSEARCHSTORE", "dst", "src", "FROMMEMBER", "m", "BYRADIUS", 1, "km"},
		{"TOUCH", "a", []byte("b")},
		{"PING"},
	} {
		name, _ := argString(args[0])
		var sub string
		if len(args) > 1 {
			sub, _ = argString(args[1])
		}
		ci := m.CommandInfo(name, sub)
		got, complete := ci.Keys(args)
		want, err := Strings(m.Database(0).Do(ctx, append([]any{"COMMAND", "GETKEYS"}, args...)...))
		if err != nil && len(args) == 1 {
			want, err = nil, nil // a keyless command: GETKEYS refuses it
		}
		if err != nil && strings.Contains(err.Error(), "no key") {
			want, err = nil, nil
		}
		if err != nil {
			t.Fatalf("COMMAND GETKEYS %v: %v", args, err)
		}
		if !complete {
			t.Logf("%v: the client defers to COMMAND GETKEYS", args)
			continue
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("Keys(%v) = %q, the server says %q", args, got, want)
		}
	}
}

// oneKey, the shortcut for commands with exactly one key at a fixed place,
// agrees with findKeys on every command (and subcommand) the server lists,
// for argument lists of several lengths.
func TestOneKeyAgreesWithFindKeys(t *testing.T) {
	srv := startServer(t, redisserver.Options{})
	m := newMux(t, Config{Endpoints: []string{serverAddr(t, srv)}})
	if err := m.Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	var infos []*CommandInfo
	for name, ci := range m.commands() {
		if name != ci.Name {
			continue // the upper-case alias
		}
		infos = append(infos, ci)
		for _, sc := range ci.Subcommands {
			infos = append(infos, sc)
		}
	}
	shortcut := 0
	for _, ci := range infos {
		i := oneKey(ci)
		if i == 0 {
			continue
		}
		shortcut++
		for argc := i + 1; argc <= i+6; argc++ {
			args := make([]any, argc)
			for j := range args {
				args[j] = "a" + strconv.Itoa(j)
			}
			keys, complete := findKeys(ci, args, argText)
			if !complete || len(keys) != 1 || keys[0] != args[i] {
				t.Errorf("%s with %d arguments: oneKey says args[%d], findKeys says %q (complete %t)", ci.Name, argc, i, keys, complete)
			}
		}
	}
	if shortcut < 100 {
		t.Fatalf("oneKey applies to %d of %d commands: the shortcut has stopped recognizing the common shape", shortcut, len(infos))
	}
	t.Logf("oneKey applies to %d of %d commands and subcommands", shortcut, len(infos))
}
