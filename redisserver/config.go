package redisserver

import (
	"strconv"
	"strings"
)

// placement is where and how a backend runs redis-server: what the generated
// redis.conf must say beyond the Options.
type placement struct {
	bind       string // address to bind: "127.0.0.1", or "0.0.0.0" in a container
	port       int    // port to listen on (plain or TLS), as seen by redis-server
	dir        string // working directory: nodes.conf and any dump go here
	unixSocket string // unix socket path as seen by redis-server, or ""
	// TLS files as seen by redis-server (host paths, or paths in the container).
	certFile, keyFile, caFile string
	// What to announce to replicas' masters and cluster peers, for
	// containers: the address the other nodes and the test process use.
	// Zero values announce nothing.
	announceIP      string
	announcePort    int
	announceBusPort int
}

// renderConfig returns the redis.conf for opts at p: our settings first,
// then the caller's Options.Config lines, which override them.
func renderConfig(opts *Options, p placement) []byte {
	var b strings.Builder
	line := func(words ...string) {
		for i, w := range words {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(w)
		}
		b.WriteByte('\n')
	}
	b.WriteString("# redis.conf written by github.com/justredis/justredis/redisserver\n")
	line("daemonize", "no")
	line("bind", quoteConfigArg(p.bind))
	line("protected-mode", "no")
	if opts.TLS != nil {
		line("port", "0")
		line("tls-port", strconv.Itoa(p.port))
	} else {
		line("port", strconv.Itoa(p.port))
	}
	line("dir", quoteConfigArg(p.dir))
	line("logfile", `""`)
	// No persistence: a restarted server starts empty.
	line("save", `""`)
	line("appendonly", "no")
	// A private test server: allow DEBUG (DEBUG SLEEP, DEBUG SEGFAULT, ...)
	// from any client, containers included.
	line("enable-debug-command", "yes")
	if p.unixSocket != "" {
		line("unixsocket", quoteConfigArg(p.unixSocket))
		line("unixsocketperm", "777")
	}
	// Replication starts at once, not after diskless sync's usual 5s wait.
	line("repl-diskless-sync-delay", "0")
	if opts.Password != "" {
		line("requirepass", quoteConfigArg(opts.Password))
		// Replicas of servers sharing the password authenticate to them.
		line("masterauth", quoteConfigArg(opts.Password))
	}
	for _, u := range opts.Users {
		words := []string{"user", quoteConfigArg(u.Name), "reset", "on"}
		if u.Password == "" {
			words = append(words, "nopass")
		} else {
			words = append(words, quoteConfigArg(">"+u.Password))
		}
		rules := u.Rules
		if rules == nil {
			rules = DefaultUserRules
		}
		for _, r := range rules {
			words = append(words, quoteConfigArg(r))
		}
		line(words...)
	}
	if p.announceIP != "" {
		line("replica-announce-ip", quoteConfigArg(p.announceIP))
	}
	if p.announcePort != 0 {
		line("replica-announce-port", strconv.Itoa(p.announcePort))
	}
	if opts.Cluster {
		line("cluster-enabled", "yes")
		line("cluster-config-file", "nodes.conf")
		if p.announceIP != "" {
			line("cluster-announce-ip", quoteConfigArg(p.announceIP))
		}
		if p.announcePort != 0 {
			if opts.TLS != nil {
				line("cluster-announce-tls-port", strconv.Itoa(p.announcePort))
			} else {
				line("cluster-announce-port", strconv.Itoa(p.announcePort))
			}
		}
		if p.announceBusPort != 0 {
			line("cluster-announce-bus-port", strconv.Itoa(p.announceBusPort))
		}
	}
	if t := opts.TLS; t != nil {
		line("tls-cert-file", quoteConfigArg(p.certFile))
		line("tls-key-file", quoteConfigArg(p.keyFile))
		line("tls-ca-cert-file", quoteConfigArg(p.caFile))
		if t.AuthClients {
			line("tls-auth-clients", "yes")
		} else {
			line("tls-auth-clients", "no")
		}
		line("tls-replication", "yes")
		if opts.Cluster {
			line("tls-cluster", "yes")
		}
	}
	if len(opts.Config) > 0 {
		b.WriteString("# Options.Config\n")
		for _, l := range opts.Config {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return []byte(b.String())
}

// quoteConfigArg writes s as one argument of a redis.conf line, the way
// Redis's own argument splitter (sdssplitargs) reads it back: bare when it
// is a plain word, otherwise double-quoted with \" \\ \n \r \t and \xHH
// escapes.
func quoteConfigArg(s string) string {
	plain := s != ""
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c > ' ' && c < 0x7f && c != '"' && c != '\'' && c != '\\'
	}
	if plain {
		return s
	}
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < ' ' || c >= 0x7f {
				b.WriteString(`\x`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
