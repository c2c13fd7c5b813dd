package client

import (
	"strconv"
	"strings"

	"github.com/justredis/justredis/resp"
)

// Keys returns the key arguments of a command (args[0] is the command name;
// a container command's subcommand info must be used for its subcommands),
// found the way the server finds them: from the Redis 7 key specifications,
// or from the legacy first/last/step positions when there are none.
// complete is false when the server's own logic is needed (a key spec of
// unknown kind, as some movable-keys commands have): ask COMMAND GETKEYS.
func (ci *CommandInfo) Keys(args []any) (keys []string, complete bool) {
	return findKeys(ci, args, argText)
}

// findKeys is Keys for arguments of any type A, text giving an argument's
// bytes (for []any, argText; for []string, the string itself).
func findKeys[A any](ci *CommandInfo, args []A, text func(A) (string, bool)) (keys []string, complete bool) {
	if ci == nil {
		return nil, false
	}
	argc := len(args)
	if len(ci.KeySpecs) == 0 {
		if ci.FirstKey <= 0 {
			return nil, !ci.Is(FlagMovableKeys)
		}
		last := ci.LastKey
		if last < 0 {
			last = argc + last
		}
		step := max(ci.Step, 1)
		for i := ci.FirstKey; i <= last && i < argc; i += step {
			k, ok := text(args[i])
			if !ok {
				return nil, false
			}
			keys = append(keys, k)
		}
		return keys, !ci.Is(FlagMovableKeys)
	}
	complete = true
	for _, ks := range ci.KeySpecs {
		if ks.Incomplete {
			complete = false
		}
		first := 0
		switch ks.BeginSearch {
		case "index":
			first = ks.Index
		case "keyword":
			first = keywordPosition(args, text, ks.Keyword, ks.StartFrom)
			if first == 0 {
				continue // the keyword is absent: no keys from this spec
			}
		default:
			complete = false
			continue
		}
		var last, step int
		switch ks.FindKeys {
		case "range":
			step = max(ks.KeyStep, 1)
			switch {
			case ks.LastKey >= 0:
				last = first + ks.LastKey
			case ks.Limit <= 1:
				last = argc + ks.LastKey
			default:
				last = first + (argc-first)/ks.Limit + ks.LastKey
			}
		case "keynum":
			step = max(ks.KeyStep, 1)
			if first+ks.KeyNumIdx >= argc {
				continue // malformed: the server will say so
			}
			s, _ := text(args[first+ks.KeyNumIdx])
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				continue
			}
			first += ks.FirstKey
			last = first + (n-1)*step
		default:
			complete = false
			continue
		}
		if first >= argc || last < first {
			continue
		}
		for i := first; i <= last && i < argc; i += step {
			k, ok := text(args[i])
			if !ok {
				return nil, false
			}
			keys = append(keys, k)
		}
	}
	return keys, complete
}

// oneKey returns the position of a command's only key when it has exactly
// one, at a fixed position (GET, SET, INCR, HSET, ...), and 0 otherwise:
// then findKeys must look.
func oneKey(ci *CommandInfo) int {
	if ci == nil || ci.Flags&FlagMovableKeys != 0 {
		return 0
	}
	switch len(ci.KeySpecs) {
	case 0:
		if ci.FirstKey > 0 && ci.LastKey == ci.FirstKey {
			return ci.FirstKey
		}
	case 1:
		ks := &ci.KeySpecs[0]
		if ks.BeginSearch == "index" && ks.FindKeys == "range" && ks.LastKey == 0 && !ks.Incomplete {
			return ks.Index
		}
	}
	return 0
}

// keywordPosition finds the argument after keyword, searching forward from
// startFrom (or backward from the end when it is negative); 0 if absent.
func keywordPosition[A any](args []A, text func(A) (string, bool), keyword string, startFrom int) int {
	argc := len(args)
	if startFrom > 0 {
		for i := startFrom; i < argc; i++ {
			if s, ok := text(args[i]); ok && strings.EqualFold(s, keyword) {
				return i + 1
			}
		}
		return 0
	}
	for i := argc + startFrom; i >= 1; i-- {
		if i >= argc {
			continue
		}
		if s, ok := text(args[i]); ok && strings.EqualFold(s, keyword) {
			return i + 1
		}
	}
	return 0
}

// stringText is the text of a string argument: itself.
func stringText(s string) (string, bool) { return s, true }

// argText is an argument's bytes as a string, as DefaultEncode would send
// them, for arguments that are keys.
func argText(a any) (string, bool) {
	if s, ok := argString(a); ok {
		return s, true
	}
	return encodedText(a)
}

// encodedText is argText for arguments that are not strings or bytes (its
// buffer kept off the frame of the common case).
//
//go:noinline
func encodedText(a any) (string, bool) {
	var tmp [64]byte
	b, err := DefaultEncode(tmp[:0], a)
	if err != nil {
		return "", false
	}
	v, _, err := resp.Decode(b)
	if err != nil {
		return "", false
	}
	return v.Str, true
}
