package redisserver

// portOwnership is what the readiness probe knows of who listens on a
// binary-backend server's port: this run's process, another process, or
// nobody. Only "this run" proves that the server which answered a probe is
// this one, since a listening socket is exclusive; the other answers are
// all "not (yet) this one". It is found from the process's open sockets
// (Linux: /proc), which needs no answer from the server: it works for a
// server that refuses every command of ours (a password in
// Options.Config) and for one whose TLS handshake fails.
type portOwnership int

const (
	// portOwnerUnknown: it cannot be told here (no /proc).
	portOwnerUnknown portOwnership = iota
	// portOwnerThisRun: the run's process, or one of its process group (a
	// wrapper script's child), holds the listening socket.
	portOwnerThisRun
	// portOwnerOther: another process holds it.
	portOwnerOther
	// portOwnerNobody: nothing listens on the port (yet, or any more).
	portOwnerNobody
)

// lookupPortOwner is portOwner; tests replace it to play a system without
// /proc.
var lookupPortOwner = portOwner
