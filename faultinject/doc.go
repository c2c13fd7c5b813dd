// Package faultinject is an in-process, fault-injecting TCP proxy for tests,
// in the spirit of Shopify's toxiproxy: put a Proxy between a client and a
// server and make the connection slow, choppy, lossy or broken, per
// direction, while traffic flows.
//
// The package imports the standard library only.
//
// # Use
//
//	p, err := faultinject.New("127.0.0.1:0", serverAddr)
//	...
//	defer p.Close()
//	client := dial(p.Addr())
//	p.AddToxic("slow replies", faultinject.Downstream, faultinject.Latency{Delay: 100 * time.Millisecond}, 1)
//	p.AddToxic("cut", faultinject.Upstream, faultinject.LimitData{Bytes: 1024}, 1)
//	p.RemoveToxic("slow replies")
//	p.RefuseNew(true) // the server is "down": new dials get ECONNREFUSED
//	p.CutAll()        // ... and the open connections break
//
// # Toxics
//
// A toxic applies to one Direction: Upstream (client → server) or Downstream
// (server → client). The kinds are Latency, Bandwidth, Slicer, LimitData,
// Blackhole, ResetPeer and SlowClose; their doc comments give the exact
// behaviour. Toxics are named, and are added (AddToxic), changed
// (UpdateToxic) and removed (RemoveToxic) at any time, also while data
// flows; a change applies at once to open connections too. Toxics of one
// direction apply in the order they were added.
//
// Proxy-level controls complete them: RefuseNew closes and reopens the
// listening socket, CutAll and ResetAll break every open connection, Pause
// and Resume hold all traffic without closing anything, SetUpstream moves
// new connections to another server, and Stats and Conns report what
// happened (also handy to wait on in a test instead of sleeping).
//
// # Toxicity and randomness
//
// Each toxic has a toxicity, the probability that it applies to a given
// connection. The decision is per connection and toxic name, not per chunk:
// every connection has, for every toxic name, a fixed random number u in
// [0, 1) and the toxic applies to it while u < toxicity. Latency jitter and
// Slicer piece sizes draw from a random stream per connection and direction.
//
// All of it derives from one seed (WithSeed; DefaultSeed otherwise) and the
// connection's index, its position in the order the proxy accepted
// connections. Nothing depends on the clock or on goroutine scheduling, so a
// test that opens its connections in the same order sees the same decisions
// and the same sequence of draws on every run. Two things the seed cannot pin
// down: how TCP groups the sender's bytes into the proxy's reads is up to the
// kernel, and Slicer pieces never span two reads; and when the toxics change
// while a chunk is held, the rest of the chunk is passed through the new
// toxics and draws again, so how many draws happen then depends on timing.
//
// # The connection pipeline
//
// Each accepted connection (a link) has one goroutine that dials the
// upstream and then four more, two per direction:
//
//	source socket ──► reader ──chunks──► forwarder ──► destination socket
//	                  (Read, stamp       (current toxics,
//	                   the time)          one chunk at a time)
//
// The reader reads up to 32 KiB at a time, copies what it read into a chunk
// stamped with the time of the read and queues it. The queue is bounded by
// bytes, 8 MiB per direction: the reader keeps reading while the forwarder
// holds chunks (in a Latency, say), so every chunk is stamped when it arrives,
// and a stalled direction still exerts TCP back-pressure on the sender once
// the queue is full. Memory is taken only for data held. The forwarder takes
// chunks in order and, for each, loads the direction's current toxic set: an
// immutable snapshot published atomically by every AddToxic, UpdateToxic,
// RemoveToxic, Pause and Resume, each of which also closes the previous
// snapshot's "changed" channel. The chunk then runs through the chain of
// toxics that apply to the connection, as nested calls: a stage waits
// (Latency, Bandwidth, Slicer), splits the chunk into pieces (Bandwidth,
// Slicer), drops it (Blackhole) or ends the connection (LimitData), and
// hands what passes to the next stage; the last stage writes to the
// destination socket.
//
// Every wait in a stage also listens on the snapshot's changed channel, and
// just before a write the forwarder checks it again. When the toxics change,
// the chunk's pass stops, and the forwarder knows exactly how many of its
// bytes were already written or swallowed (in order, since stages emit
// pieces in order), so it passes only the rest through the new snapshot.
// Therefore a change never loses, duplicates or reorders bytes, and it
// takes effect for every byte not yet written, including data held in a
// long Latency: that chunk is re-evaluated against the new delay, counted
// from its original arrival. Per-toxic state that must outlive a chunk (the
// LimitData count, the Bandwidth pacing clock, the Slicer's last write) is
// kept by the forwarder per toxic, and survives UpdateToxic.
//
// Two toxics are not per chunk. ResetPeer timers live on the link and are
// brought up to date by the proxy whenever the toxic set changes. SlowClose
// is applied when the reader reports end of file: after the data before it,
// the forwarder waits out the delay and half-closes the destination
// (CloseWrite). The link is torn down when both directions have forwarded
// their close, on any error (a reset from one side is passed on as a reset
// to the other), by CutAll, ResetAll, ResetPeer or Close. At a LimitData
// limit the sender's socket is closed and the receiver's half-closed, and
// the other direction drops what the receiver still sends until it closes
// (link.endAtLimit). Close and CutAll wait until the link's goroutines
// have returned.
//
// The control sub-package serves the same operations as an HTTP/JSON API,
// and cmd/faultproxy runs it as a standalone program for tests that are not
// written in Go.
package faultinject
