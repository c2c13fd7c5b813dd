package client

import (
	"strings"

	"github.com/justredis/justredis/resp"
)

// CommandFlags are the flags a server reports for a command (COMMAND).
type CommandFlags uint32

// The command flags the client uses. Others are ignored.
const (
	FlagReadOnly    CommandFlags = 1 << iota // readonly: never modifies data
	FlagWrite                                // write: may modify data
	FlagBlocking                             // blocking: may wait for data (BLPOP, XREAD BLOCK...)
	FlagMovableKeys                          // movablekeys: key positions depend on the arguments
	FlagPubSub                               // pubsub: a pub/sub command
	FlagNoScript                             // noscript: not allowed in scripts
	FlagAdmin                                // admin
	FlagLoading                              // loading: allowed while the server loads data
)

var flagNames = map[string]CommandFlags{
	"readonly":    FlagReadOnly,
	"write":       FlagWrite,
	"blocking":    FlagBlocking,
	"movablekeys": FlagMovableKeys,
	"pubsub":      FlagPubSub,
	"noscript":    FlagNoScript,
	"admin":       FlagAdmin,
	"loading":     FlagLoading,
}

// CommandInfo is what the client knows about a command, from the server's
// COMMAND reply (or a small built-in table when COMMAND is refused).
type CommandInfo struct {
	Name     string       // lower case; "client|kill" for a subcommand
	Arity    int          // as COMMAND reports it: negative means "at least -Arity"
	Flags    CommandFlags // see the Flag constants
	FirstKey int          // position of the first key, 0 if none (legacy key range)
	LastKey  int          // position of the last key; negative counts from the end
	Step     int          // distance between keys
	KeySpecs []KeySpec    // Redis 7 key specifications, when the server sent them
	// Subcommands of a container command (CLIENT, CONFIG, ...), by lower
	// case subcommand name ("kill").
	Subcommands map[string]*CommandInfo

	refuse    string // why the client refuses it; "" if it does not
	dedicated bool   // it blocks: it runs on a dedicated connection
	blockArg  bool   // it blocks (and runs on a dedicated connection) when given a BLOCK argument
}

// KeySpec is one Redis 7 key specification: where to start looking for keys
// (BeginSearch) and how to find them from there (FindKeys).
type KeySpec struct {
	// BeginSearch: "index" (Index is the position) or "keyword" (the first
	// argument equal to Keyword, searching from StartFrom; negative
	// searches backwards from the end) or "unknown".
	BeginSearch string
	Index       int
	Keyword     string
	StartFrom   int
	// FindKeys: "range" (LastKey relative to the start, negative from the
	// end; KeyStep; Limit) or "keynum" (the number of keys is at
	// KeyNumIdx, keys start at FirstKey, every KeyStep) or "unknown".
	FindKeys  string
	LastKey   int
	KeyStep   int
	Limit     int
	KeyNumIdx int
	FirstKey  int
	// Incomplete: the spec may miss keys (or find non-keys, as MIGRATE's
	// empty key); the server's own logic (COMMAND GETKEYS) is authoritative.
	Incomplete bool
}

// Is reports whether the command has all the given flags.
func (ci *CommandInfo) Is(f CommandFlags) bool { return ci != nil && ci.Flags&f == f }

// commandTable maps lower-case command names (and their upper-case forms,
// so that the common spellings need no case folding) to their info.
type commandTable map[string]*CommandInfo

// lookup finds the info for a command name as given by the caller, and for a
// container command, its subcommand's. It returns nil for an unknown command.
func (t commandTable) lookup(name, sub string) *CommandInfo {
	ci := t[name]
	if ci == nil {
		ci = t[strings.ToLower(name)]
		if ci == nil {
			return nil
		}
	}
	if ci.Subcommands != nil && sub != "" {
		if sc := ci.Subcommands[sub]; sc != nil {
			return sc
		}
		if sc := ci.Subcommands[strings.ToLower(sub)]; sc != nil {
			return sc
		}
	}
	return ci
}

func (t commandTable) add(ci *CommandInfo) {
	t[ci.Name] = ci
	t[strings.ToUpper(ci.Name)] = ci
}

// parseCommandTable parses the reply of COMMAND.
func parseCommandTable(v resp.Value) (commandTable, bool) {
	if v.Type != resp.TypeArray && v.Type != resp.TypeSet {
		return nil, false
	}
	t := make(commandTable, 2*len(v.Elems))
	for _, e := range v.Elems {
		if ci := parseCommandInfo(e); ci != nil {
			t.add(ci)
		}
	}
	if len(t) == 0 {
		return nil, false
	}
	return t.complete(), true
}

// parseCommandInfo parses one entry of COMMAND: [name, arity, flags,
// first, last, step, acl-categories, tips, key-specs, subcommands]; servers
// before 7 send only the first six or seven.
func parseCommandInfo(v resp.Value) *CommandInfo {
	if v.Type != resp.TypeArray || len(v.Elems) < 6 {
		return nil
	}
	e := v.Elems
	ci := &CommandInfo{
		Name:     strings.ToLower(e[0].Str),
		Arity:    int(e[1].Int),
		FirstKey: int(e[3].Int),
		LastKey:  int(e[4].Int),
		Step:     int(e[5].Int),
	}
	for _, f := range e[2].Elems {
		ci.Flags |= flagNames[strings.ToLower(f.Str)]
	}
	if len(e) > 8 {
		for _, ks := range e[8].Elems {
			ci.KeySpecs = append(ci.KeySpecs, parseKeySpec(ks))
		}
	}
	if len(e) > 9 && len(e[9].Elems) > 0 {
		ci.Subcommands = make(map[string]*CommandInfo, len(e[9].Elems))
		for _, sv := range e[9].Elems {
			sc := parseCommandInfo(sv)
			if sc == nil {
				continue
			}
			_, subName, _ := strings.Cut(sc.Name, "|")
			ci.Subcommands[subName] = sc
			ci.Subcommands[strings.ToUpper(subName)] = sc
		}
	}
	finish(ci)
	return ci
}

// parseKeySpec parses one key specification map (a RESP3 map, or a flat
// array of keys and values on RESP2).
func parseKeySpec(v resp.Value) KeySpec {
	var ks KeySpec
	field := func(m resp.Value, name string) resp.Value {
		for i := 0; i+1 < len(m.Elems); i += 2 {
			if m.Elems[i].Str == name {
				return m.Elems[i+1]
			}
		}
		return resp.Value{}
	}
	for _, f := range field(v, "flags").Elems {
		if strings.EqualFold(f.Str, "incomplete") {
			ks.Incomplete = true
		}
	}
	bs := field(v, "begin_search")
	ks.BeginSearch = field(bs, "type").Str
	spec := field(bs, "spec")
	ks.Index = int(field(spec, "index").Int)
	ks.Keyword = field(spec, "keyword").Str
	ks.StartFrom = int(field(spec, "startfrom").Int)
	fk := field(v, "find_keys")
	ks.FindKeys = field(fk, "type").Str
	spec = field(fk, "spec")
	ks.LastKey = int(field(spec, "lastkey").Int)
	ks.KeyStep = int(field(spec, "keystep").Int)
	ks.Limit = int(field(spec, "limit").Int)
	ks.KeyNumIdx = int(field(spec, "keynumidx").Int)
	ks.FirstKey = int(field(spec, "firstkey").Int)
	return ks
}

// applyFlagOverrides fixes what COMMAND does not say, or says only since
// Redis 7: which commands block.
func applyFlagOverrides(ci *CommandInfo) {
	switch ci.Name {
	case "blpop", "brpop", "brpoplpush", "blmove", "blmpop", "bzpopmin", "bzpopmax", "bzmpop",
		"xread", "xreadgroup": // Redis 6 has no blocking flag
		ci.Flags |= FlagBlocking
	}
}

// staticCommands is the fallback when the server refuses COMMAND (ACL,
// renamed command): enough to know which common commands are read-only and
// which block. Unknown commands are treated as writes that may not be retried.
var staticCommands = func() commandTable {
	t := commandTable{}
	readonly := "get mget strlen getrange substr exists type ttl pttl expiretime pexpiretime " +
		"hget hmget hgetall hkeys hvals hlen hexists hstrlen hrandfield hscan " +
		"lrange llen lindex lpos smembers sismember smismember scard srandmember sscan sinter sunion sdiff sintercard " +
		"zrange zrangebyscore zrevrange zrevrangebyscore zrangebylex zrevrangebylex zscore zmscore zcard zcount zlexcount " +
		"zrank zrevrank zscan zrandmember zinter zunion zdiff zintercard " +
		"xrange xrevrange xlen xinfo xpending getbit bitcount bitpos bitfield_ro pfcount geopos geodist geohash " +
		"georadius_ro georadiusbymember_ro geosearch scan keys randomkey dbsize ping echo time lcs dump object " +
		"memory sort_ro evalsha_ro eval_ro fcall_ro touch"
	for _, name := range strings.Fields(readonly) {
		t.add(&CommandInfo{Name: name, Flags: FlagReadOnly})
	}
	t.add(&CommandInfo{Name: "xread", Flags: FlagReadOnly | FlagBlocking | FlagMovableKeys})
	t.add(&CommandInfo{Name: "xreadgroup", Flags: FlagWrite | FlagBlocking | FlagMovableKeys})
	for _, name := range strings.Fields("blpop brpop brpoplpush blmove blmpop bzpopmin bzpopmax bzmpop") {
		t.add(&CommandInfo{Name: name, Flags: FlagWrite | FlagBlocking})
	}
	t.add(&CommandInfo{Name: "client", Subcommands: map[string]*CommandInfo{}})
	for _, ci := range t {
		finish(ci)
	}
	return t.complete()
}()

// refusedReasons: commands that cannot run on the shared connection, and
// what to use instead.
var refusedReasons = map[string]string{
	"subscribe":       "pub/sub needs its own connection: use Mux.PubSub",
	"psubscribe":      "pub/sub needs its own connection: use Mux.PubSub",
	"ssubscribe":      "pub/sub needs its own connection: use Mux.PubSub",
	"unsubscribe":     "pub/sub needs its own connection: use Mux.PubSub",
	"punsubscribe":    "pub/sub needs its own connection: use Mux.PubSub",
	"sunsubscribe":    "pub/sub needs its own connection: use Mux.PubSub",
	"monitor":         "it takes over the connection: use Mux.Dedicated",
	"sync":            "it takes over the connection",
	"psync":           "it takes over the connection",
	"replconf":        "it takes over the connection",
	"multi":           "use Database.Multi, which sends MULTI...EXEC as one unit",
	"exec":            "use Database.Multi, which sends MULTI...EXEC as one unit",
	"discard":         "use Database.Multi, which sends MULTI...EXEC as one unit",
	"watch":           "use Database.Watch, which runs WATCH...EXEC on a dedicated connection",
	"unwatch":         "use Database.Watch, which runs WATCH...EXEC on a dedicated connection",
	"select":          "use Mux.Database(n): the client selects databases itself",
	"auth":            "it changes the shared connection's session; set Config.Username and Password",
	"hello":           "it changes the shared connection's session; set Config.Protocol",
	"reset":           "it changes the shared connection's session",
	"quit":            "use Mux.Close",
	"readonly":        "cluster connection state is managed by the client",
	"readwrite":       "cluster connection state is managed by the client",
	"asking":          "cluster connection state is managed by the client",
	"client|reply":    "CLIENT REPLY changes what the shared connection receives",
	"client|tracking": "CLIENT TRACKING changes what the shared connection receives",
	"client|caching":  "CLIENT CACHING belongs with CLIENT TRACKING",
}

// finish sets what the client derives from a command's info: whether it
// refuses it, and whether it blocks (always, or with a BLOCK argument as
// XREAD and XREADGROUP do) and so runs on a dedicated connection.
func finish(ci *CommandInfo) {
	applyFlagOverrides(ci)
	ci.refuse = refusedReasons[ci.Name]
	if ci.refuse == "" && ci.Is(FlagBlocking) {
		switch ci.Name {
		case "xread", "xreadgroup":
			ci.blockArg = true
		case "wait", "waitaof":
			// They wait for the replication of the writes made on the
			// connection they run on: on a dedicated connection (no
			// writes) they would promise nothing. They run on the shared
			// one, and hold its pipeline up to their timeout: keep it short.
		default:
			ci.dedicated = true
		}
	}
	for _, sc := range ci.Subcommands {
		finish(sc)
	}
}

// complete adds an entry for every refused command the table lacks, so that
// a server that hides a command from COMMAND still cannot get it run on the
// shared connection.
func (t commandTable) complete() commandTable {
	for name := range refusedReasons {
		if strings.Contains(name, "|") {
			continue
		}
		if t[name] == nil {
			ci := &CommandInfo{Name: name}
			finish(ci)
			t.add(ci)
		}
	}
	if c := t["client"]; c != nil {
		for _, sub := range []string{"reply", "tracking", "caching"} {
			if c.Subcommands == nil {
				c.Subcommands = map[string]*CommandInfo{}
			}
			if c.Subcommands[sub] == nil {
				sc := &CommandInfo{Name: "client|" + sub}
				finish(sc)
				c.Subcommands[sub] = sc
				c.Subcommands[strings.ToUpper(sub)] = sc
			}
		}
	}
	return t
}
